//! Splitting a command line into words.
//!
//! Words are separated by whitespace. A word that starts with a quote (`"`, `'`, `“` or `‘`)
//! runs to the matching closing quote that ends a word, so `"Ceph is down"` is one word. A quote
//! that is never closed, or one inside a word (`it's`), is kept as a plain character: people type
//! apostrophes at 3 a.m. and the bot must not refuse them.

/// One word of a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The word, without its quotes.
    pub text: String,
    /// Whether it was quoted (a quoted word is never read as an `--option` or a mention).
    pub quoted: bool,
}

impl Token {
    /// An unquoted word.
    pub fn plain(text: &str) -> Self {
        Self { text: text.to_owned(), quoted: false }
    }

    /// Whether this is an unquoted `--option`.
    pub fn is_option(&self) -> bool {
        !self.quoted && self.text.len() > 2 && self.text.starts_with("--")
    }
}

fn closing_quote(open: char) -> Option<char> {
    match open {
        '"' => Some('"'),
        '\'' => Some('\''),
        '“' => Some('”'),
        '‘' => Some('’'),
        _ => None,
    }
}

/// Splits `input` into words, honouring quotes, in time linear in its length (up to a log
/// factor): where each kind of quote may close a word is found once, not searched again for every
/// word that opens with it.
pub fn tokenize(input: &str) -> Vec<Token> {
    let chars: Vec<char> = input.chars().collect();
    let closings = Closings::of(&chars);
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        if chars[at].is_whitespace() {
            at += 1;
            continue;
        }
        if let Some(end) = closing_quote(chars[at]).and_then(|close| closings.after(close, at)) {
            tokens.push(Token { text: chars[at + 1..end].iter().collect(), quoted: true });
            at = end + 1;
            continue;
        }
        let end = (at..chars.len()).find(|&i| chars[i].is_whitespace()).unwrap_or(chars.len());
        tokens.push(Token { text: chars[at..end].iter().collect(), quoted: false });
        at = end;
    }
    tokens
}

/// Where each closing quote ends a word (is followed by whitespace or the end), in order.
struct Closings {
    by_quote: Vec<(char, Vec<usize>)>,
}

impl Closings {
    fn of(chars: &[char]) -> Self {
        let mut by_quote: Vec<(char, Vec<usize>)> = ['"', '\'', '”', '’'].map(|q| (q, Vec::new())).into();
        for (index, c) in chars.iter().enumerate() {
            let ends_word = chars.get(index + 1).is_none_or(|next| next.is_whitespace());
            if let Some((_, positions)) = by_quote.iter_mut().find(|(q, _)| q == c).filter(|_| ends_word) {
                positions.push(index);
            }
        }
        Self { by_quote }
    }

    /// The first place after `start` where `close` ends a word.
    fn after(&self, close: char, start: usize) -> Option<usize> {
        let (_, positions) = self.by_quote.iter().find(|(q, _)| *q == close)?;
        let next = positions.partition_point(|&p| p <= start);
        positions.get(next).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(input: &str) -> Vec<String> {
        tokenize(input).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn splits_on_whitespace() {
        assert_eq!(words("  declare  Ceph   down "), ["declare", "Ceph", "down"]);
        assert!(tokenize("   ").is_empty());
    }

    #[test]
    fn quotes_group_words() {
        let tokens = tokenize(r#"declare "Ceph is down" --sev 2"#);
        assert_eq!(tokens[1], Token { text: "Ceph is down".into(), quoted: true });
        assert_eq!(words("note 'single quotes' and “curly ones”"), ["note", "single quotes", "and", "curly ones"]);
    }

    #[test]
    fn apostrophes_and_unclosed_quotes_are_plain_text() {
        assert_eq!(words("it's Bob's fault"), ["it's", "Bob's", "fault"]);
        assert_eq!(words("say \"unclosed words"), ["say", "\"unclosed", "words"]);
        assert_eq!(words(r#""a"b c""#), ["a\"b c"]);
    }

    #[test]
    fn many_unclosed_quotes_are_read_in_one_pass() {
        let input = "\"a ".repeat(20_000);
        let tokens = tokenize(&input);
        assert_eq!(tokens.len(), 20_000);
        assert!(tokens.iter().all(|t| t.text == "\"a" && !t.quoted));
        assert_eq!(words("\"a \"b\" c"), ["a \"b", "c"], "the first quote closes where a word ends");
    }

    #[test]
    fn quoted_options_are_not_options() {
        let tokens = tokenize(r#"--sev "--sev""#);
        assert!(tokens[0].is_option());
        assert!(!tokens[1].is_option());
    }
}
