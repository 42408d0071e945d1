//! Property tests of the command grammar: whatever a person types, the tokenizer and the parser
//! answer without panicking, in one line, and echo at most a short piece of the input.
//!
//! `FIREBELL_FUZZ_CASES` sets the number of cases (a few thousand by default; `scripts/fuzz`
//! runs millions).

use proptest::prelude::*;

use super::spec::{Args, CommandSpec, Param, Permission, Resolve};
use super::{CommandLine, MAX_COMMAND_CHARS, tokenize};
use crate::ids::Person;

fn cases() -> u32 {
    std::env::var("FIREBELL_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(3000)
}

static SPECS: &[CommandSpec] = &[
    CommandSpec {
        word: "incident",
        sub: Some("declare"),
        params: &[Param::text("title").required(), Param::flag("user-facing"), Param::option("sev", "N")],
        summary: "x",
        permission: Permission::TeamRooms,
    },
    CommandSpec {
        word: "incident",
        sub: Some("task"),
        params: &[Param::incident(), Param::text("text").required(), Param::user("user")],
        summary: "x",
        permission: Permission::TeamRooms,
    },
    CommandSpec {
        word: "incident",
        sub: Some("followup"),
        params: &[Param::incident(), Param::text("text").required(), Param::ticket("ticket")],
        summary: "x",
        permission: Permission::TeamRooms,
    },
    CommandSpec {
        word: "incident",
        sub: Some("done"),
        params: &[Param::incident(), Param::number("task").required()],
        summary: "x",
        permission: Permission::TeamRooms,
    },
    CommandSpec {
        word: "incident",
        sub: Some("snooze"),
        params: &[Param::incident(), Param::duration("for").required()],
        summary: "x",
        permission: Permission::TeamRooms,
    },
    CommandSpec {
        word: "ic",
        sub: Some("handoff"),
        params: &[Param::incident(), Param::user("user").required()],
        summary: "x",
        permission: Permission::TeamRooms,
    },
    CommandSpec {
        word: "incident",
        sub: Some("show"),
        params: &[Param::incident()],
        summary: "x",
        permission: Permission::TeamRooms,
    },
    CommandSpec {
        word: "ack",
        sub: None,
        params: &[Param::word("page")],
        summary: "x",
        permission: Permission::TeamRooms,
    },
];

struct Anywhere;

impl Resolve for Anywhere {
    fn person(&self, mention: &str) -> Option<Person> {
        mention.strip_prefix('@').filter(|name| !name.is_empty()).map(Person::console)
    }

    fn incident_prefix(&self) -> Option<String> {
        Some("WMCS".into())
    }
}

/// Words people type, and words that look like the grammar's own, mixed with anything.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("WMCS-3".to_owned()),
        Just("wmcs-1O".to_owned()),
        Just("WMCS-99999999999999999999".to_owned()),
        Just("--sev".to_owned()),
        Just("—user-facing".to_owned()),
        Just("–sev".to_owned()),
        Just("--".to_owned()),
        Just("@bob".to_owned()),
        Just("@".to_owned()),
        Just("<@U012|bob>".to_owned()),
        Just("T123".to_owned()),
        Just("\"".to_owned()),
        Just("“quoted”".to_owned()),
        Just("\"two\nlines\"".to_owned()),
        Just("4294967296".to_owned()),
        Just("300000y".to_owned()),
        "[a-z0-9]{1,8}",
        "\\PC{0,12}",
        any::<String>(),
    ]
}

fn line() -> impl Strategy<Value = String> {
    proptest::collection::vec(word(), 0..12).prop_map(|words| words.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_tokenizer_takes_anything(input in any::<String>()) {
        for token in tokenize(&input) {
            prop_assert!(token.quoted || !token.text.is_empty());
            prop_assert!(token.quoted || !token.text.contains(char::is_whitespace));
        }
    }

    #[test]
    fn every_line_parses_or_says_why_in_one_short_line(line in line(), spec in 0..SPECS.len()) {
        let spec = &SPECS[spec];
        let outcome: Result<Args, _> = spec.parse(&tokenize(&line), &Anywhere);
        if let Err(error) = outcome {
            let said = error.to_string();
            prop_assert!(!said.contains('\n'), "{said}");
            prop_assert!(said.chars().count() < 400, "the echo is cut: {} characters", said.chars().count());
        }
    }

    #[test]
    fn command_lines_are_read_or_refused_for_their_length(body in any::<String>(), prefix in "[!/.]{1,2}") {
        let text = format!("{prefix}{body}");
        match CommandLine::read(&text, &prefix) {
            Some(Err(length)) => prop_assert!(length > MAX_COMMAND_CHARS),
            Some(Ok(line)) => prop_assert!(!line.word.is_empty()),
            None => {}
        }
    }
}
