//! Command declarations: one declaration gives parsing, usage, help and platform metadata.

use std::fmt::Write as _;
use std::time::Duration;

use crate::ids::Person;

use super::tokens::Token;

/// Who may run a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Permission {
    /// Anyone, in any room (used by `!help`).
    Anyone,
    /// Anyone in one of the team's rooms.
    TeamRooms,
    /// People on the team roster.
    TeamMembers,
    /// The incident coordinator of the incident the command is about.
    IncidentCoordinator,
    /// The team's admins.
    TeamAdmins,
}

impl Permission {
    /// Who may run it, as a sentence fragment ("team members").
    pub fn describe(self) -> &'static str {
        match self {
            Permission::Anyone => "anyone",
            Permission::TeamRooms => "anyone in the team's rooms",
            Permission::TeamMembers => "team members",
            Permission::IncidentCoordinator => "the incident coordinator",
            Permission::TeamAdmins => "team admins",
        }
    }
}

/// What kind of value a parameter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// One word.
    Word,
    /// The rest of the line as free text.
    Text,
    /// A person, written as a mention: `@alice`.
    User,
    /// An incident id such as `WMCS-3`. As the only parameter it may also be a bare number.
    Incident,
    /// A ticket id such as `T12345`, at the end of the line.
    Ticket,
    /// A whole number.
    Number,
    /// A duration such as `90m`, `1h` or `1h 30m` (several words, added up).
    Duration,
    /// One word of a fixed list (an enum's variants): `investigating`, `identified`.
    Choice {
        /// The words it may be, lowercase.
        choices: &'static [&'static str],
    },
    /// A switch: `--name`.
    Flag,
    /// An option with a value: `--name VALUE`.
    Option {
        /// The value's placeholder in the usage line.
        value: &'static str,
    },
}

/// One parameter of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    /// The parameter's name, used in usage lines and to read its value.
    pub name: &'static str,
    /// What it takes.
    pub kind: ParamKind,
    /// Whether it must be given.
    pub required: bool,
    /// What it is for, from the field's doc comment: shown by `!help <command>`.
    pub doc: &'static str,
}

impl Param {
    const fn new(name: &'static str, kind: ParamKind) -> Self {
        Self { name, kind, required: false, doc: "" }
    }

    /// One word of `choices`.
    pub const fn choice(name: &'static str, choices: &'static [&'static str]) -> Self {
        Self::new(name, ParamKind::Choice { choices })
    }

    /// Says what it is for.
    pub const fn doc(mut self, doc: &'static str) -> Self {
        self.doc = doc;
        self
    }

    /// One word.
    pub const fn word(name: &'static str) -> Self {
        Self::new(name, ParamKind::Word)
    }

    /// The rest of the line.
    pub const fn text(name: &'static str) -> Self {
        Self::new(name, ParamKind::Text)
    }

    /// A mention.
    pub const fn user(name: &'static str) -> Self {
        Self::new(name, ParamKind::User)
    }

    /// An incident id.
    pub const fn incident() -> Self {
        Self::new("id", ParamKind::Incident)
    }

    /// A trailing ticket id.
    pub const fn ticket(name: &'static str) -> Self {
        Self::new(name, ParamKind::Ticket)
    }

    /// A whole number.
    pub const fn number(name: &'static str) -> Self {
        Self::new(name, ParamKind::Number)
    }

    /// A duration.
    pub const fn duration(name: &'static str) -> Self {
        Self::new(name, ParamKind::Duration)
    }

    /// A switch `--name`.
    pub const fn flag(name: &'static str) -> Self {
        Self::new(name, ParamKind::Flag)
    }

    /// An option `--name VALUE`.
    pub const fn option(name: &'static str, value: &'static str) -> Self {
        Self::new(name, ParamKind::Option { value })
    }

    /// Marks the parameter as required.
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    fn is_named(&self) -> bool {
        matches!(self.kind, ParamKind::Flag | ParamKind::Option { .. })
    }

    /// How this parameter appears in a usage line.
    pub fn usage(&self) -> String {
        let shape = match self.kind {
            ParamKind::User => format!("@{}", self.name),
            ParamKind::Flag => format!("--{}", self.name),
            ParamKind::Option { value } => format!("--{} {value}", self.name),
            ParamKind::Ticket => "T123".to_owned(),
            ParamKind::Choice { choices } => choices.join("|"),
            ParamKind::Incident => "ID".to_owned(),
            _ => self.name.to_owned(),
        };
        match (self.required, self.kind) {
            (true, ParamKind::User) => shape,
            (true, _) => format!("<{shape}>"),
            (false, _) => format!("[{shape}]"),
        }
    }
}

/// The declaration of one command: its words, parameters, help text and permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    /// The command word: `incident` in `!incident declare`.
    pub word: &'static str,
    /// The subcommand, if any: `declare` in `!incident declare`.
    pub sub: Option<&'static str>,
    /// The parameters, in order; flags and options may be given anywhere.
    pub params: &'static [Param],
    /// One sentence saying what it does.
    pub summary: &'static str,
    /// Who may run it.
    pub permission: Permission,
}

impl CommandSpec {
    /// The command's name without prefix: `incident declare`.
    pub fn name(&self) -> String {
        match self.sub {
            Some(sub) => format!("{} {sub}", self.word),
            None => self.word.to_owned(),
        }
    }

    /// The usage line, e.g. `!incident declare <title> [--user-facing] [--sev N]`.
    pub fn usage(&self, prefix: &str) -> String {
        let mut line = format!("{prefix}{}", self.name());
        for param in self.params {
            let _ = write!(line, " {}", param.usage());
        }
        line
    }

    /// Reads `tokens` (the words after the command name) into arguments.
    pub fn parse(&'static self, tokens: &[Token], resolve: &dyn Resolve) -> Result<Args, ParseError> {
        let mut args = Args::default();
        let positional = self.take_named(tokens, &mut args)?;
        let params: Vec<&Param> = self.params.iter().filter(|p| !p.is_named()).collect();
        let text_at = params.iter().position(|p| p.kind == ParamKind::Text);
        let (before, after) = match text_at {
            Some(at) => (&params[..at], &params[at + 1..]),
            None => (&params[..], &[][..]),
        };
        let mut words: &[Token] = &positional;
        let lone_param = params.len() == 1;
        for param in before {
            words = read_front(param, words, lone_param, resolve, &mut args)?;
        }
        for param in after.iter().rev() {
            words = read_back(param, words, resolve, &mut args)?;
        }
        match text_at.map(|at| params[at]) {
            Some(param) => read_text(param, words, &mut args)?,
            None if !words.is_empty() => return Err(ParseError::Unexpected(shown(&words[0].text))),
            None => {}
        }
        Ok(args)
    }

    /// Pulls the flags and options out of `tokens`, returning the remaining words.
    fn take_named(&self, tokens: &[Token], args: &mut Args) -> Result<Vec<Token>, ParseError> {
        let named: Vec<&Param> = self.params.iter().filter(|p| p.is_named()).collect();
        if named.is_empty() {
            return Ok(tokens.to_vec());
        }
        let mut rest = Vec::new();
        let mut iter = tokens.iter();
        while let Some(token) = iter.next() {
            let dashed = dashed_option(token).filter(|name| named.iter().any(|p| p.name == *name));
            let Some(name) = dashed.or_else(|| token.is_option().then(|| &token.text[2..])) else {
                rest.push(token.clone());
                continue;
            };
            let param = named.iter().find(|p| p.name == name).ok_or_else(|| ParseError::UnknownOption {
                given: shown(&token.text),
                expected: named.iter().map(|p| p.usage().trim_matches(['[', ']']).to_owned()).collect(),
            })?;
            let value = match param.kind {
                ParamKind::Option { value } => {
                    let given = iter.next().filter(|t| !t.is_option() && dashed_option(t).is_none());
                    let given = given.ok_or(ParseError::MissingValue { option: param.name, value })?;
                    Value::Word(given.text.clone())
                }
                _ => Value::Flag,
            };
            args.values.push((param.name, value));
        }
        Ok(rest)
    }
}

/// The option a word names with a long or en dash (`—user-facing`, `–sev`): phones and macOS
/// turn a typed `--` into one. Only options the command has are read this way.
fn dashed_option(token: &Token) -> Option<&str> {
    let name = token.text.strip_prefix(['—', '–']).filter(|_| !token.quoted)?;
    let name = name.strip_prefix(['-', '—', '–']).unwrap_or(name);
    (!name.is_empty()).then_some(name)
}

/// The most characters of a user's input an error message repeats.
const ECHO_CHARS: usize = 200;

/// `text` as an error message repeats it: on one line, at most [`ECHO_CHARS`] characters,
/// marked when cut.
pub fn shown(text: &str) -> String {
    let one_line = |text: &str| text.replace(|c: char| c.is_control(), " ");
    match text.char_indices().nth(ECHO_CHARS) {
        Some((cut, _)) => format!("{}…", one_line(&text[..cut])),
        None => one_line(text),
    }
}

fn is_mention(token: &Token) -> bool {
    !token.quoted && (token.text.starts_with('@') || token.text.starts_with("<@"))
}

/// What parsing needs to know about the place a command was given in.
pub trait Resolve {
    /// The person a mention token (`@alice`, `<@U012>`) names, if any.
    fn person(&self, mention: &str) -> Option<Person>;
    /// The incident id prefix of the room's team (`WMCS`), if the room has a team.
    fn incident_prefix(&self) -> Option<String>;
}

/// Splits `WMCS-3` (with the team's prefix, any case) or, when allowed, `3` into its number.
pub fn incident_number(text: &str, prefix: Option<&str>, bare_numbers: bool) -> Option<u64> {
    let number = match text.rsplit_once('-') {
        Some((given, number)) if prefix.is_some_and(|p| p.eq_ignore_ascii_case(given)) => number,
        Some(_) => return None,
        None if bare_numbers => text,
        None => return None,
    };
    number.bytes().all(|b| b.is_ascii_digit()).then(|| number.parse().ok()).flatten()
}

/// Whether `text` looks like an incident id of the team (`WMCS-` and a digit), whether or not it
/// is a valid one: `WMCS-1O` and `WMCS-99999999999999999999` are typos, never free text.
pub fn looks_like_incident(text: &str, prefix: Option<&str>) -> bool {
    let Some(prefix) = prefix else { return false };
    let Some((given, rest)) = text.split_once('-') else { return false };
    given.eq_ignore_ascii_case(prefix) && rest.starts_with(|c: char| c.is_ascii_digit())
}

fn is_ticket(text: &str) -> bool {
    text.strip_prefix('T').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn bad_value(param: &Param, token: &Token) -> ParseError {
    ParseError::BadValue { param: param.usage(), got: shown(&token.text) }
}

fn user_value(param: &Param, token: &Token, resolve: &dyn Resolve) -> Result<Value, ParseError> {
    resolve.person(&token.text).map(Value::User).ok_or_else(|| bad_value(param, token))
}

/// Reads one parameter from the front of `words`.
fn read_front<'t>(
    param: &Param,
    words: &'t [Token],
    lone_param: bool,
    resolve: &dyn Resolve,
    args: &mut Args,
) -> Result<&'t [Token], ParseError> {
    let Some((first, rest)) = words.split_first() else {
        return if param.required { Err(ParseError::Missing(param.usage())) } else { Ok(words) };
    };
    let prefix = resolve.incident_prefix();
    let value = match param.kind {
        ParamKind::Incident => match incident_number(&first.text, prefix.as_deref(), lone_param) {
            Some(number) => Value::Number(number),
            None if param.required || lone_param || looks_like_incident(&first.text, prefix.as_deref()) => {
                return Err(ParseError::BadValue { param: incident_shape(prefix.as_deref()), got: shown(&first.text) });
            }
            None => return Ok(words),
        },
        ParamKind::User if is_mention(first) => user_value(param, first, resolve)?,
        ParamKind::User if !param.required => return Ok(words),
        ParamKind::Word => Value::Word(first.text.clone()),
        ParamKind::Number => Value::Number(first.text.parse().map_err(|_| bad_value(param, first))?),
        ParamKind::Duration => {
            let (duration, rest) = read_duration(param, first, rest)?;
            args.values.push((param.name, Value::Duration(duration)));
            return Ok(rest);
        }
        ParamKind::Choice { choices } => {
            let word = first.text.to_lowercase();
            if !choices.contains(&word.as_str()) {
                let expected = format!("one of {}", choices.join(", "));
                return Err(ParseError::BadValue { param: expected, got: shown(&first.text) });
            }
            Value::Word(word)
        }
        _ => return Err(bad_value(param, first)),
    };
    args.values.push((param.name, value));
    Ok(rest)
}

/// A duration that starts with `first` and goes on over the next words while they are
/// durations too (`1h 30m`, `2days 4h`), added up.
fn read_duration<'t>(param: &Param, first: &Token, rest: &'t [Token]) -> Result<(Duration, &'t [Token]), ParseError> {
    let mut total = humantime::parse_duration(&first.text).map_err(|_| bad_value(param, first))?;
    let mut rest = rest;
    while let Some((next, after)) = rest.split_first().filter(|(next, _)| !next.quoted) {
        let Ok(more) = humantime::parse_duration(&next.text) else { break };
        total = total.checked_add(more).ok_or_else(|| bad_value(param, next))?;
        rest = after;
    }
    Ok((total, rest))
}

/// Reads one optional parameter from the back of `words` (those after a text parameter).
fn read_back<'t>(
    param: &Param,
    words: &'t [Token],
    resolve: &dyn Resolve,
    args: &mut Args,
) -> Result<&'t [Token], ParseError> {
    let Some((last, rest)) = words.split_last() else { return Ok(words) };
    let value = match param.kind {
        ParamKind::User if is_mention(last) => user_value(param, last, resolve)?,
        ParamKind::Ticket if !last.quoted && is_ticket(&last.text) => Value::Word(last.text.clone()),
        _ if param.required => return Err(ParseError::Missing(param.usage())),
        _ => return Ok(words),
    };
    args.values.push((param.name, value));
    Ok(rest)
}

fn incident_shape(prefix: Option<&str>) -> String {
    match prefix {
        Some(prefix) => format!("an incident id like {prefix}-3"),
        None => "an incident number".to_owned(),
    }
}

fn read_text(param: &Param, words: &[Token], args: &mut Args) -> Result<(), ParseError> {
    if words.is_empty() {
        return if param.required { Err(ParseError::Missing(param.usage())) } else { Ok(()) };
    }
    let text = words.iter().map(|t| t.text.as_str()).collect::<Vec<_>>().join(" ");
    args.values.push((param.name, Value::Text(text)));
    Ok(())
}

/// Why a command line does not fit its declaration. Each says what was expected, in one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A required parameter is missing.
    #[error("missing {0}")]
    Missing(String),
    /// A word is left over that no parameter takes.
    #[error("unexpected {0:?}")]
    Unexpected(String),
    /// An `--option` the command does not have.
    #[error("unknown option {given} (expected {})", expected.join(", "))]
    UnknownOption {
        /// What was typed.
        given: String,
        /// The options the command has.
        expected: Vec<String>,
    },
    /// An option given without its value.
    #[error("--{option} needs a value: --{option} {value}")]
    MissingValue {
        /// The option's name.
        option: &'static str,
        /// The value's placeholder.
        value: &'static str,
    },
    /// A value of the wrong shape.
    #[error("expected {param}, got {got:?}")]
    BadValue {
        /// The parameter as shown in usage.
        param: String,
        /// What was typed.
        got: String,
    },
}

/// A parsed argument value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A word, option value, incident id or ticket id, as typed.
    Word(String),
    /// Free text.
    Text(String),
    /// A mentioned person.
    User(Person),
    /// A number.
    Number(u64),
    /// A duration.
    Duration(Duration),
    /// A switch that was given.
    Flag,
}

/// The arguments of one command invocation, read by parameter name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    values: Vec<(&'static str, Value)>,
}

impl Args {
    fn get(&self, name: &str) -> Option<&Value> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// A word, text, incident id, ticket or option value, as text.
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            Value::Word(text) | Value::Text(text) => Some(text),
            _ => None,
        }
    }

    /// A mentioned person.
    pub fn user(&self, name: &str) -> Option<&Person> {
        match self.get(name)? {
            Value::User(person) => Some(person),
            _ => None,
        }
    }

    /// A number parameter.
    pub fn number(&self, name: &str) -> Option<u64> {
        match self.get(name)? {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// A duration parameter.
    pub fn duration(&self, name: &str) -> Option<Duration> {
        match self.get(name)? {
            Value::Duration(d) => Some(*d),
            _ => None,
        }
    }

    /// Whether a switch was given.
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some(Value::Flag))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tokens::tokenize;
    use super::*;
    use crate::ids::UserRef;

    static DECLARE: CommandSpec = CommandSpec {
        word: "incident",
        sub: Some("declare"),
        params: &[
            Param::text("title").required(),
            Param::flag("user-facing"),
            Param::flag("security"),
            Param::option("sev", "N"),
        ],
        summary: "Declares an incident.",
        permission: Permission::TeamRooms,
    };
    static TASK: CommandSpec = CommandSpec {
        word: "incident",
        sub: Some("task"),
        params: &[Param::incident(), Param::text("text").required(), Param::user("user")],
        summary: "Adds a task.",
        permission: Permission::TeamRooms,
    };
    static FOLLOWUP: CommandSpec = CommandSpec {
        word: "incident",
        sub: Some("followup"),
        params: &[Param::text("text").required(), Param::ticket("ticket")],
        summary: "Adds a follow-up.",
        permission: Permission::TeamRooms,
    };
    static HANDOFF: CommandSpec = CommandSpec {
        word: "ic",
        sub: Some("handoff"),
        params: &[Param::user("user").required()],
        summary: "Offers the IC role.",
        permission: Permission::IncidentCoordinator,
    };
    static SHOW: CommandSpec = CommandSpec {
        word: "incident",
        sub: Some("show"),
        params: &[Param::incident()],
        summary: "Shows the status doc.",
        permission: Permission::TeamRooms,
    };

    struct Console;

    impl Resolve for Console {
        fn person(&self, mention: &str) -> Option<Person> {
            mention.strip_prefix('@').map(Person::console)
        }
        fn incident_prefix(&self) -> Option<String> {
            Some("WMCS".into())
        }
    }

    fn parse(spec: &'static CommandSpec, line: &str) -> Result<Args, ParseError> {
        spec.parse(&tokenize(line), &Console)
    }

    #[test]
    fn usage_comes_from_the_declaration() {
        assert_eq!(DECLARE.usage("!"), "!incident declare <title> [--user-facing] [--security] [--sev N]");
        assert_eq!(TASK.usage("!"), "!incident task [ID] <text> [@user]");
        assert_eq!(HANDOFF.usage("/"), "/ic handoff @user");
        assert_eq!(FOLLOWUP.usage("!"), "!incident followup <text> [T123]");
    }

    #[test]
    fn flags_and_options_may_come_anywhere() {
        let args = parse(&DECLARE, "--sev 2 Ceph cluster down --user-facing").unwrap();
        assert_eq!(args.text("title"), Some("Ceph cluster down"));
        assert_eq!(args.text("sev"), Some("2"));
        assert!(args.flag("user-facing"));
        assert!(!args.flag("security"));
    }

    #[test]
    fn wrong_input_says_what_was_expected() {
        assert_eq!(parse(&DECLARE, "--user-facing"), Err(ParseError::Missing("<title>".into())));
        assert_eq!(
            parse(&DECLARE, "Down --sec").unwrap_err().to_string(),
            "unknown option --sec (expected --user-facing, --security, --sev N)"
        );
        assert_eq!(parse(&DECLARE, "Down --sev").unwrap_err().to_string(), "--sev needs a value: --sev N");
        assert_eq!(parse(&HANDOFF, "bob").unwrap_err().to_string(), "expected @user, got \"bob\"");
        assert_eq!(parse(&HANDOFF, "").unwrap_err().to_string(), "missing @user");
        assert_eq!(parse(&HANDOFF, "@bob @carol").unwrap_err().to_string(), "unexpected \"@carol\"");
    }

    #[test]
    fn text_keeps_unknown_dashes_when_the_command_has_no_options() {
        let args = parse(&FOLLOWUP, "rerun with --force T123").unwrap();
        assert_eq!(args.text("text"), Some("rerun with --force"));
        assert_eq!(args.text("ticket"), Some("T123"));
    }

    #[test]
    fn trailing_mentions_and_leading_ids_are_optional() {
        let args = parse(&TASK, "wmcs-3 check the switch @bob").unwrap();
        assert_eq!(args.number("id"), Some(3));
        assert_eq!(args.text("text"), Some("check the switch"));
        assert_eq!(args.user("user").unwrap().user, UserRef::console("bob"));
        let args = parse(&TASK, "3 hosts are down").unwrap();
        assert_eq!(args.number("id"), None, "a bare number before text is text");
        assert_eq!(args.text("text"), Some("3 hosts are down"));
        let args = parse(&TASK, "cloudvirt-1001 is down").unwrap();
        assert_eq!(args.number("id"), None, "only the team's prefix makes an id");
        assert_eq!(args.text("text"), Some("cloudvirt-1001 is down"));
        assert_eq!(parse(&SHOW, "3").unwrap().number("id"), Some(3));
        assert_eq!(parse(&SHOW, "WMCS-12").unwrap().number("id"), Some(12));
        assert_eq!(parse(&SHOW, "").unwrap().number("id"), None);
        assert_eq!(
            parse(&SHOW, "later").unwrap_err().to_string(),
            "expected an incident id like WMCS-3, got \"later\""
        );
    }

    #[test]
    fn quoted_words_are_text() {
        let args = parse(&TASK, "\"ping @bob\"").unwrap();
        assert_eq!(args.text("text"), Some("ping @bob"));
        assert!(args.user("user").is_none());
    }
}
