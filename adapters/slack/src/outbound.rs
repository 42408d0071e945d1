//! Writing a Firebell message for Slack: mrkdwn text with `<@U…>` mentions, Block Kit sections
//! (at most 3000 characters each), buttons that run a command, and channel names within Slack's
//! rules.

use firebell_core::ids::Transport;
use firebell_core::message::{Message, Span};
use serde_json::{Value, json};

/// The longest text one section block takes.
const SECTION_CHARS: usize = 3000;
/// The longest channel name Slack accepts.
const CHANNEL_NAME_CHARS: usize = 80;

/// The `action_id` prefix of Firebell's buttons; their value is the command they run.
pub(crate) const BUTTON_ACTION: &str = "firebell_command";

/// A message ready for `chat.postMessage`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rendered {
    /// The fallback text (notifications, screen readers).
    pub(crate) text: String,
    /// The Block Kit blocks, as Slack's JSON.
    pub(crate) blocks: Value,
}

/// One line of markdown as Slack mrkdwn: headings and `**bold**` become `*bold*`, list dashes
/// become bullets.
fn line_to_mrkdwn(line: &str) -> String {
    let trimmed = line.trim_start_matches('#');
    let line = if trimmed.len() < line.len() && trimmed.starts_with(' ') {
        format!("*{}*", trimmed.trim())
    } else {
        line.to_owned()
    };
    let line = line.replace("**", "*");
    match line.strip_prefix("- ") {
        Some(rest) => format!("• {rest}"),
        None => line,
    }
}

/// Slack mrkdwn escapes: `&`, `<` and `>` are control characters there.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The message as mrkdwn, with real mentions for Slack users.
pub(crate) fn mrkdwn(message: &Message) -> String {
    let mut text = String::new();
    for span in &message.spans {
        match span {
            Span::Text(markdown) => {
                let lines: Vec<String> = escape(markdown).split('\n').map(line_to_mrkdwn).collect();
                text.push_str(&lines.join("\n"));
            }
            Span::Mention(person) if person.user.transport == Transport::Slack => {
                text.push_str(&format!("<@{}>", person.user.id));
            }
            Span::Mention(person) => text.push_str(&escape(&person.name)),
            Span::Room(room) if room.transport == Transport::Slack => text.push_str(&format!("<#{}>", room.id)),
            Span::Room(room) => text.push_str(&escape(&room.id)),
        }
    }
    text
}

/// Splits text into pieces of at most `limit` characters, at line breaks where possible.
fn pieces(text: &str, limit: usize) -> Vec<String> {
    let mut pieces: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in text.split('\n') {
        if !current.is_empty() && current.chars().count() + line.chars().count() + 1 > limit {
            pieces.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(line);
        while current.chars().count() > limit {
            pieces.push(current.chars().take(limit).collect());
            current = current.chars().skip(limit).collect();
        }
    }
    pieces.push(current);
    pieces
}

/// Renders `message` for `chat.postMessage`.
pub(crate) fn render(message: &Message) -> Rendered {
    let text = mrkdwn(message);
    let mut blocks: Vec<Value> = pieces(&text, SECTION_CHARS)
        .into_iter()
        .filter(|piece| !piece.is_empty())
        .map(|piece| json!({ "type": "section", "text": { "type": "mrkdwn", "text": piece } }))
        .collect();
    if !message.buttons.is_empty() {
        let elements: Vec<Value> = message
            .buttons
            .iter()
            .enumerate()
            .map(|(index, button)| {
                json!({
                    "type": "button",
                    "action_id": format!("{BUTTON_ACTION}_{index}"),
                    "text": { "type": "plain_text", "text": button.label },
                    "value": button.command,
                })
            })
            .collect();
        blocks.push(json!({ "type": "actions", "elements": elements }));
    }
    Rendered { text, blocks: Value::Array(blocks) }
}

/// A channel name from a room key and name, within Slack's rules: lowercase letters, digits,
/// `-` and `_`, at most 80 characters.
pub(crate) fn channel_name(key: &str, name: &str) -> String {
    let wanted = format!("{key}-{name}").to_lowercase();
    let mut slug = String::new();
    for c in wanted.chars() {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' { c } else { '-' };
        if !(c == '-' && (slug.is_empty() || slug.ends_with('-'))) {
            slug.push(c);
        }
    }
    let slug: String = slug.chars().take(CHANNEL_NAME_CHARS).collect();
    slug.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use firebell_core::ids::{Person, UserRef};

    #[test]
    fn mentions_markdown_and_control_characters_become_mrkdwn() {
        let bob = Person::new(UserRef::new(Transport::Slack, "U0BOB"), "bob");
        let message = Message::text("# Report\n**done** <b> & more\n- one\n").mention(&bob).and(": take it");
        assert_eq!(mrkdwn(&message), "*Report*\n*done* &lt;b&gt; &amp; more\n• one\n<@U0BOB>: take it");
        let console = Person::console("carol");
        assert_eq!(mrkdwn(&Message::default().mention(&console)), "carol", "no Slack id, just the name");
    }

    #[test]
    fn buttons_run_their_command() {
        let rendered = render(&Message::text("PAGE P1").button("Ack", "!ack P1"));
        assert_eq!(rendered.text, "PAGE P1");
        assert_eq!(rendered.blocks[0], json!({ "type": "section", "text": { "type": "mrkdwn", "text": "PAGE P1" } }));
        let button = &rendered.blocks[1]["elements"][0];
        assert_eq!(button["value"], "!ack P1");
        assert_eq!(button["action_id"], "firebell_command_0");
        assert!(serde_json::from_value::<Vec<slack_morphism::prelude::SlackBlock>>(rendered.blocks).is_ok());
    }

    #[test]
    fn long_messages_are_split_into_sections() {
        let long: String = (0..400).map(|n| format!("line {n:04} of the report\n")).collect();
        let rendered = render(&Message::text(long));
        let sections = rendered.blocks.as_array().unwrap();
        assert!(sections.len() > 1);
        assert!(sections.iter().all(|s| s["text"]["text"].as_str().unwrap().chars().count() <= SECTION_CHARS));
    }

    #[test]
    fn channel_names_follow_slacks_rules() {
        assert_eq!(
            channel_name("wmcs-3", "2026-11-21 [WMCS] Ceph cluster down!"),
            "wmcs-3-2026-11-21-wmcs-ceph-cluster-down"
        );
        assert_eq!(channel_name("wmcs-3", &"x".repeat(200)).len(), CHANNEL_NAME_CHARS);
    }
}
