//! The command grammar: `!word [sub] args`, with quoted words, `@mentions` and `--flags`.

#[cfg(test)]
mod properties;
mod spec;
mod tokens;

pub use spec::{
    Args, CommandSpec, Param, ParamKind, ParseError, Permission, Resolve, Value, incident_number, looks_like_incident,
    shown,
};
pub use tokens::{Token, tokenize};

/// The longest command the bot reads, in characters; longer ones are refused with a clear error.
pub const MAX_COMMAND_CHARS: usize = 4000;

/// A message that starts with the command prefix, split into its command word and the words after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// The command word, in lowercase: `incident`.
    pub word: String,
    /// The words after it.
    pub tokens: Vec<Token>,
}

impl CommandLine {
    /// Reads `text` as a command when it starts with `prefix` directly followed by a word.
    /// A command longer than [`MAX_COMMAND_CHARS`] is `Some(Err(length))`, not read.
    pub fn read(text: &str, prefix: &str) -> Option<Result<CommandLine, usize>> {
        let rest = text.trim_start().strip_prefix(prefix)?;
        if rest.starts_with(char::is_whitespace) || rest.is_empty() {
            return None;
        }
        if rest.len() > MAX_COMMAND_CHARS {
            let length = text.chars().count();
            if length > MAX_COMMAND_CHARS {
                return Some(Err(length));
            }
        }
        Self::parse(text, prefix).map(Ok)
    }

    /// Reads `text` as a command when it starts with `prefix` directly followed by a word.
    pub fn parse(text: &str, prefix: &str) -> Option<CommandLine> {
        let rest = text.trim_start().strip_prefix(prefix)?;
        if rest.starts_with(char::is_whitespace) {
            return None;
        }
        let mut tokens = tokenize(rest);
        if tokens.is_empty() || tokens[0].quoted {
            return None;
        }
        let word = tokens.remove(0).text.to_lowercase();
        Some(CommandLine { word, tokens })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_prefixed_words_are_commands() {
        let line = CommandLine::parse("  !Incident declare Ceph down", "!").unwrap();
        assert_eq!(line.word, "incident");
        assert_eq!(line.tokens.len(), 3);
        assert!(CommandLine::parse("hello !ic", "!").is_none());
        assert!(CommandLine::parse("! ic", "!").is_none());
        assert!(CommandLine::parse("!", "!").is_none());
        assert_eq!(CommandLine::parse("/ic", "/").unwrap().word, "ic");
    }
}
