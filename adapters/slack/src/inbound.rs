//! Reading Slack's slash commands, message events and button clicks into chat messages. Each
//! keeps Slack's stable id for it (`trigger_id` for commands and clicks, `event_id` for events),
//! so that Slack's retries and other replicas are handled once.

use firebell_core::chrono::{DateTime, Utc};
use firebell_core::ids::{Transport, UserRef};
use firebell_core::message::{Attachment, Mention};
use slack_morphism::prelude::{
    SlackCommandEvent, SlackEventCallbackBody, SlackFile, SlackInteractionActionContainer, SlackInteractionEvent,
    SlackMessageEventType, SlackPushEventCallback,
};

use crate::outbound::BUTTON_ACTION;

/// A message from Slack, before the sender is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Incoming {
    /// Slack's stable id for it.
    pub(crate) event_id: String,
    /// The channel.
    pub(crate) channel: String,
    /// The user.
    pub(crate) user: String,
    /// The command text, with the command prefix.
    pub(crate) text: String,
    /// The thread it belongs to.
    pub(crate) thread: Option<String>,
    /// When it was sent.
    pub(crate) ts: DateTime<Utc>,
    /// Whether it is a slash command, whose acknowledgement carries what its sender sees.
    pub(crate) slash_command: bool,
    /// The files uploaded with it (a `file_share` message).
    pub(crate) attachments: Vec<Attachment>,
}

/// Slack's message text as typed: links and channel references back to plain text, `&amp;`,
/// `&lt;` and `&gt;` decoded. User mentions (`<@U0123>`) stay, for the command grammar.
/// The mentions in a Slack message's text: `<@U0123>` and `<@U0123|name>`.
pub(crate) fn mentions(text: &str) -> Vec<Mention> {
    text.split_whitespace()
        .filter_map(|token| {
            let inner = token.strip_prefix("<@")?.strip_suffix('>')?;
            let (id, name) = inner.split_once('|').map_or((inner, None), |(id, name)| (id, Some(name)));
            let name = name.filter(|name| !name.is_empty()).map(str::to_owned);
            (!id.is_empty()).then(|| Mention {
                token: token.to_owned(),
                user: UserRef::new(Transport::Slack, id),
                name,
            })
        })
        .collect()
}

pub(crate) fn clean_text(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('>') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let inner = &rest[open + 1..open + close];
        match inner.chars().next() {
            Some('@') => out.push_str(&format!("<{inner}>")),
            Some('#') => out.push_str(&format!("#{}", inner.split('|').nth(1).unwrap_or(&inner[1..]))),
            _ => out.push_str(inner.split('|').next().unwrap_or(inner)),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// `1700000000.000100` as a time.
fn slack_time(ts: &str) -> DateTime<Utc> {
    let seconds: f64 = ts.parse().unwrap_or_default();
    DateTime::from_timestamp_millis((seconds * 1000.0) as i64).unwrap_or_else(Utc::now)
}

/// `/incident declare Ceph down` becomes `!incident declare Ceph down`.
pub(crate) fn from_command(command: &SlackCommandEvent, prefix: &str) -> Incoming {
    let word = crate::manifest::command_word(&command.command.0);
    let args = clean_text(command.text.as_deref().unwrap_or_default());
    let args = args.trim();
    let text = if args.is_empty() { format!("{prefix}{word}") } else { format!("{prefix}{word} {args}") };
    Incoming {
        event_id: command.trigger_id.0.clone(),
        channel: command.channel_id.0.clone(),
        user: command.user_id.0.clone(),
        text,
        thread: None,
        ts: Utc::now(),
        slash_command: true,
        attachments: Vec::new(),
    }
}

/// A command message from a person (never a bot's, never an edit), in a channel; a thread reply
/// also sent to the channel counts too. It is answered in its thread, which a top-level message
/// starts.
pub(crate) fn from_event(event: &SlackPushEventCallback, me: &str, prefix: &str) -> Option<Incoming> {
    let SlackEventCallbackBody::Message(message) = &event.event else { return None };
    let plain = match &message.subtype {
        None => true,
        Some(subtype) => matches!(subtype, SlackMessageEventType::ThreadBroadcast | SlackMessageEventType::FileShare),
    };
    if !plain || message.sender.bot_id.is_some() {
        return None;
    }
    let user = message.sender.user.as_ref()?.0.clone();
    if user == me {
        return None;
    }
    let text = clean_text(message.content.as_ref()?.text.as_deref()?);
    if !text.trim_start().starts_with(prefix) {
        return None;
    }
    Some(Incoming {
        event_id: event.event_id.0.clone(),
        channel: message.origin.channel.as_ref()?.0.clone(),
        user,
        text,
        thread: Some(message.origin.thread_ts.as_ref().unwrap_or(&message.origin.ts).0.clone()),
        ts: slack_time(&message.origin.ts.0),
        slash_command: false,
        attachments: message
            .content
            .as_ref()
            .and_then(|content| content.files.as_ref())
            .map_or_else(Vec::new, |files| files.iter().filter_map(attachment).collect()),
    })
}

/// A file shared with a message, as Firebell fetches it: by its `url_private_download`.
fn attachment(file: &SlackFile) -> Option<Attachment> {
    let source = file.url_private_download.as_ref().or(file.url_private.as_ref())?.to_string();
    let name = file.name.clone().or_else(|| file.title.clone()).unwrap_or_else(|| file.id.0.clone());
    Some(Attachment { name, size: None, source })
}

/// A click on one of Firebell's buttons runs the button's command as the person who clicked.
pub(crate) fn from_interaction(event: &SlackInteractionEvent) -> Option<Incoming> {
    let SlackInteractionEvent::BlockActions(click) = event else { return None };
    let action = click.actions.as_ref()?.iter().find(|a| a.action_id.0.starts_with(BUTTON_ACTION))?;
    let container_channel = match &click.container {
        SlackInteractionActionContainer::Message(container) => container.channel_id.as_ref().map(|c| c.0.clone()),
        _ => None,
    };
    let channel = click.channel.as_ref().map(|c| c.id.0.clone()).or(container_channel)?;
    let thread = click.message.as_ref().and_then(|m| m.origin.thread_ts.as_ref()).map(|ts| ts.0.clone());
    Some(Incoming {
        event_id: click.trigger_id.0.clone(),
        channel,
        user: click.user.as_ref()?.id.0.clone(),
        text: action.value.clone()?,
        thread,
        ts: Utc::now(),
        slash_command: false,
        attachments: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use slack_morphism::prelude::SlackPushEvent;

    #[test]
    fn slash_commands_become_commands() {
        let form = "token=x&team_id=T1&team_domain=wmf&channel_id=C1&channel_name=ops&user_id=U1&user_name=alice\
                    &command=%2Fincident&text=declare+Ceph+down&api_app_id=A1&is_enterprise_install=false\
                    &response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1&trigger_id=13345224609.738474920.8088930838d88f008e0";
        let command: SlackCommandEvent = serde_urlencoded::from_str(form).unwrap();
        let incoming = from_command(&command, "!");
        assert_eq!(incoming.text, "!incident declare Ceph down");
        assert_eq!(incoming.event_id, "13345224609.738474920.8088930838d88f008e0");
        assert_eq!((incoming.channel.as_str(), incoming.user.as_str()), ("C1", "U1"));
    }

    fn event(message: &str) -> SlackPushEventCallback {
        let body = format!(
            r#"{{"token":"x","team_id":"T1","api_app_id":"A1","type":"event_callback","event_id":"Ev01","event_time":1700000000,
            "event":{message}}}"#
        );
        match serde_json::from_str::<SlackPushEvent>(&body).unwrap() {
            SlackPushEvent::EventCallback(callback) => callback,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn messages_from_people_are_read_with_their_thread() {
        let callback = event(
            r#"{"type":"message","channel":"C1","user":"U1","text":"!ic","ts":"1700000001.000200","thread_ts":"1700000000.000100","channel_type":"channel"}"#,
        );
        let incoming = from_event(&callback, "UBOT", "!").unwrap();
        assert_eq!(incoming.event_id, "Ev01");
        assert_eq!(incoming.thread.as_deref(), Some("1700000000.000100"));
        assert_eq!(incoming.ts.timestamp(), 1_700_000_001);
    }

    #[test]
    fn bots_edits_and_our_own_messages_are_ignored() {
        let own = event(r#"{"type":"message","channel":"C1","user":"UBOT","text":"!ic","ts":"1.0"}"#);
        assert!(from_event(&own, "UBOT", "!").is_none());
        let bot = event(r#"{"type":"message","channel":"C1","bot_id":"B1","text":"!ic","ts":"1.0"}"#);
        assert!(from_event(&bot, "UBOT", "!").is_none());
        let edit = event(
            r#"{"type":"message","subtype":"message_changed","channel":"C1","ts":"1.0","message":{"type":"message","user":"U1","text":"!ic","ts":"1.0"}}"#,
        );
        assert!(from_event(&edit, "UBOT", "!").is_none());
        let chatter = event(r#"{"type":"message","channel":"C1","user":"U1","text":"hello","ts":"1.0"}"#);
        assert!(from_event(&chatter, "UBOT", "!").is_none(), "only commands are handed over");
    }

    #[test]
    fn top_level_commands_start_a_thread_and_broadcast_replies_count() {
        let top = event(r#"{"type":"message","channel":"C1","user":"U1","text":"!ic","ts":"1700000001.000200"}"#);
        assert_eq!(from_event(&top, "UBOT", "!").unwrap().thread.as_deref(), Some("1700000001.000200"));
        let broadcast = event(
            r#"{"type":"message","subtype":"thread_broadcast","channel":"C1","user":"U1","text":"!ic","ts":"2.0","thread_ts":"1.0"}"#,
        );
        assert_eq!(from_event(&broadcast, "UBOT", "!").unwrap().thread.as_deref(), Some("1.0"));
    }

    #[test]
    fn slack_markup_is_read_back_as_typed() {
        assert_eq!(
            clean_text("!ic handoff <@U0BOB|bob> see <https://grafana/d/x|the board> in <#C01|ops> &amp; 5xx &gt; 10%"),
            "!ic handoff <@U0BOB|bob> see https://grafana/d/x in #ops & 5xx > 10%"
        );
    }

    mod properties {
        //! Whatever Slack (or someone pretending to be Slack) sends, the decoders read it or
        //! drop it, never panic. `FIREBELL_FUZZ_CASES` sets the number of cases.

        use proptest::prelude::*;
        use serde_json::{Value, json};
        use slack_morphism::prelude::SlackSigningSecret;
        use slack_morphism::prelude::{SlackCommandEvent, SlackInteractionEvent, SlackPushEvent};
        use slack_morphism::signature_verifier::SlackEventSignatureVerifier;

        use super::super::{clean_text, from_command, from_event, from_interaction};

        fn cases() -> u32 {
            std::env::var("FIREBELL_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(3000)
        }

        fn text() -> impl Strategy<Value = String> {
            prop_oneof![
                "\\PC{0,40}",
                Just("<@U012|bob> <#C1|ops> <https://x|y> &amp;&lt;&gt; <".to_owned()),
                Just("<<<>>>".to_owned()),
                Just("!incident declare <@".to_owned()),
                any::<String>(),
            ]
        }

        fn value() -> impl Strategy<Value = Value> {
            prop_oneof![Just(Value::Null), text().prop_map(Value::String), any::<i64>().prop_map(|n| json!(n))]
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn message_text_is_always_readable(input in text()) {
                let _ = clean_text(&input);
            }

            #[test]
            fn slash_command_forms_are_read_or_refused(
                fields in proptest::collection::vec((prop_oneof![
                    Just("command".to_owned()), Just("text".to_owned()), Just("channel_id".to_owned()),
                    Just("user_id".to_owned()), Just("trigger_id".to_owned()), Just("team_id".to_owned()),
                    "[a-z_]{1,10}"], text()), 0..10),
            ) {
                let form = serde_urlencoded::to_string(&fields).unwrap_or_default();
                if let Ok(command) = serde_urlencoded::from_str::<SlackCommandEvent>(&form) {
                    let incoming = from_command(&command, "!");
                    prop_assert!(incoming.text.starts_with('!'));
                }
            }

            #[test]
            fn message_events_are_read_or_dropped(
                kind in prop_oneof![Just("message".to_owned()), Just("app_mention".to_owned()), "[a-z_]{1,12}"],
                subtype in proptest::option::of(prop_oneof![
                    Just("thread_broadcast".to_owned()), Just("message_changed".to_owned()), "[a-z_]{1,12}"]),
                fields in proptest::collection::vec((prop_oneof![
                    Just("text"), Just("user"), Just("channel"), Just("ts"), Just("thread_ts"), Just("bot_id")], value()), 0..8),
            ) {
                let mut event = json!({ "type": kind, "channel": "C1", "user": "U1", "ts": "1.0" });
                if let Some(subtype) = subtype {
                    event["subtype"] = json!(subtype);
                }
                for (field, value) in fields {
                    event[field] = value;
                }
                let body = json!({ "token": "x", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
                    "event_id": "Ev1", "event_time": 1, "event": event });
                if let Ok(SlackPushEvent::EventCallback(callback)) = serde_json::from_value::<SlackPushEvent>(body) {
                    let _ = from_event(&callback, "UBOT", "!");
                }
            }

            #[test]
            fn button_clicks_are_read_or_dropped(value in value(), action in value(), channel in value()) {
                let click = json!({ "type": "block_actions", "user": { "id": "U1" }, "api_app_id": "A1", "token": "x",
                    "trigger_id": "t", "team": { "id": "T1" }, "channel": { "id": channel },
                    "container": { "type": "message", "message_ts": "1.0", "channel_id": "C1", "is_ephemeral": false },
                    "actions": [{ "action_id": action, "block_id": "b", "value": value, "type": "button", "action_ts": "1.0" }] });
                if let Ok(event) = serde_json::from_value::<SlackInteractionEvent>(click) {
                    let _ = from_interaction(&event);
                }
            }

            #[test]
            fn signatures_of_any_shape_are_checked_without_panic(signature in text(), timestamp in text(), body in text()) {
                let verifier = SlackEventSignatureVerifier::new(&SlackSigningSecret::new("secret".into()));
                let _ = verifier.verify(&signature, &body, &timestamp);
            }
        }
    }
}
