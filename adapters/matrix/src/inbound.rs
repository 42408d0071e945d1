//! Reading Matrix timeline events into chat messages: which events are commands for us, and
//! their text with reply fallbacks removed and mention pills turned into user ids.

use firebell_core::message::Attachment;
use serde::Deserialize;
use serde_json::Value;

/// The parts of a timeline event Firebell looks at.
#[derive(Debug, Deserialize)]
pub(crate) struct RawEvent {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) event_id: Option<String>,
    pub(crate) sender: String,
    pub(crate) origin_server_ts: u64,
    #[serde(default)]
    pub(crate) content: Value,
}

/// A text message from someone else, ready to become an `Inbound`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TextMessage {
    pub(crate) event_id: String,
    pub(crate) sender: String,
    pub(crate) text: String,
    pub(crate) sent_ms: u64,
    /// The thread root, when the message was sent in a thread.
    pub(crate) thread: Option<String>,
    /// The file a captioned `m.file` carries.
    pub(crate) attachments: Vec<Attachment>,
}

/// What an event means to the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seen {
    /// A text message from a person (`m.text`).
    Text(TextMessage),
    /// An encrypted event: the bot cannot read it.
    Encrypted,
    /// Anything else: the bot's own messages, notices from other bots, state, reactions.
    Ignored,
}

/// Classifies one raw timeline event.
pub(crate) fn read_event(json: &str, me: &str) -> Seen {
    let Ok(event) = serde_json::from_str::<RawEvent>(json) else { return Seen::Ignored };
    if event.sender == me {
        return Seen::Ignored;
    }
    match event.kind.as_str() {
        "m.room.encrypted" => Seen::Encrypted,
        "m.room.message" => read_message(event).map_or(Seen::Ignored, Seen::Text),
        _ => Seen::Ignored,
    }
}

/// The file of a captioned `m.file` (MSC2530: `filename` is the file's name, `body` its
/// caption), fetched later by its `mxc://` URL; encrypted files are left to the E2EE work.
fn captioned_file(content: &Value) -> Option<Attachment> {
    let name = content.get("filename")?.as_str()?;
    let body = content.get("body")?.as_str()?;
    let source = content.get("url")?.as_str()?;
    if name == body || !source.starts_with("mxc://") {
        return None;
    }
    let size = content.get("info").and_then(|info| info.get("size")).and_then(Value::as_u64);
    Some(Attachment { name: name.to_owned(), size, source: source.to_owned() })
}

fn read_message(event: RawEvent) -> Option<TextMessage> {
    let content = &event.content;
    let attachments: Vec<Attachment> = match content.get("msgtype")?.as_str()? {
        "m.text" => Vec::new(),
        "m.file" => vec![captioned_file(content)?],
        _ => return None,
    };
    if content.get("m.new_content").is_some() {
        return None;
    }
    let body = content.get("body")?.as_str()?;
    let html = content
        .get("formatted_body")
        .and_then(Value::as_str)
        .filter(|_| content.get("format").and_then(Value::as_str) == Some("org.matrix.custom.html"))
        .filter(|html| html.contains("matrix.to/#/@"));
    let text = match html {
        Some(html) => html_to_text(html),
        None => strip_reply_fallback(body),
    };
    let relation = content.get("m.relates_to");
    let thread = relation
        .filter(|r| r.get("rel_type").and_then(Value::as_str) == Some("m.thread"))
        .and_then(|r| r.get("event_id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Some(TextMessage {
        event_id: event.event_id?,
        sender: event.sender,
        text: text.trim().to_owned(),
        sent_ms: event.origin_server_ts,
        thread,
        attachments,
    })
}

/// Drops the quoted lines a reply starts with (`> <@alice:hs> …` then an empty line).
pub(crate) fn strip_reply_fallback(body: &str) -> String {
    if !body.starts_with("> ") {
        return body.to_owned();
    }
    let mut lines = body.lines().skip_while(|line| line.starts_with('>'));
    let _blank = lines.next();
    lines.collect::<Vec<_>>().join("\n")
}

/// Turns a message's HTML into text: pills become the user ids they point to, the reply
/// fallback (`<mx-reply>`) goes, line breaks stay, other tags go and entities are decoded.
pub(crate) fn html_to_text(html: &str) -> String {
    let html = match (html.find("<mx-reply>"), html.find("</mx-reply>")) {
        (Some(start), Some(end)) if start < end => format!("{}{}", &html[..start], &html[end + "</mx-reply>".len()..]),
        _ => html.to_owned(),
    };
    let mut text = String::new();
    let mut rest = html.as_str();
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('>') else {
            text.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let tag = &rest[open + 1..open + close];
        rest = &rest[open + close + 1..];
        if let Some(user) = pill_target(tag) {
            text.push_str(&user);
            rest = rest.find("</a>").map_or(rest, |end| &rest[end + 4..]);
        } else if tag.starts_with("br") || tag == "/p" || tag == "/li" {
            text.push('\n');
        }
    }
    text.push_str(rest);
    decode_entities(&text)
}

/// The user id a link tag points to, if it is a user pill.
fn pill_target(tag: &str) -> Option<String> {
    let href = tag.strip_prefix("a ")?.split("href=\"").nth(1)?.split('"').next()?;
    let user = href.split("matrix.to/#/").nth(1)?;
    let user = decode_percent(user.split('?').next()?);
    user.starts_with('@').then_some(user)
}

fn decode_percent(text: &str) -> String {
    text.replace("%40", "@").replace("%3A", ":").replace("%3a", ":")
}

fn decode_entities(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(content: &str) -> String {
        format!(
            r#"{{"type":"m.room.message","event_id":"$e1","sender":"@alice:hs","origin_server_ts":1000,"content":{content}}}"#
        )
    }

    #[test]
    fn text_messages_from_others_are_read() {
        let seen = read_event(&message(r#"{"msgtype":"m.text","body":"!ic"}"#), "@firebell:hs");
        assert_eq!(
            seen,
            Seen::Text(TextMessage {
                event_id: "$e1".into(),
                sender: "@alice:hs".into(),
                text: "!ic".into(),
                sent_ms: 1000,
                thread: None,
                attachments: Vec::new(),
            })
        );
    }

    #[test]
    fn a_file_captioned_with_a_command_carries_its_file() {
        let content = r#"{"msgtype":"m.file","body":"!oncall import","filename":"rota.ics","url":"mxc://hs/abc","info":{"size":120}}"#;
        let Seen::Text(seen) = read_event(&message(content), "@fb:hs") else { panic!("read") };
        assert_eq!(seen.text, "!oncall import");
        assert_eq!(
            seen.attachments,
            [Attachment { name: "rota.ics".into(), size: Some(120), source: "mxc://hs/abc".into() }]
        );
        let uncaptioned = r#"{"msgtype":"m.file","body":"rota.ics","filename":"rota.ics","url":"mxc://hs/abc"}"#;
        assert_eq!(read_event(&message(uncaptioned), "@fb:hs"), Seen::Ignored, "a file without a caption");
        let encrypted =
            r#"{"msgtype":"m.file","body":"!oncall import","filename":"rota.ics","file":{"url":"mxc://hs/x"}}"#;
        assert_eq!(read_event(&message(encrypted), "@fb:hs"), Seen::Ignored);
    }

    #[test]
    fn own_messages_notices_and_edits_are_ignored() {
        let text = message(r#"{"msgtype":"m.text","body":"!ic"}"#);
        assert_eq!(read_event(&text, "@alice:hs"), Seen::Ignored);
        assert_eq!(read_event(&message(r#"{"msgtype":"m.notice","body":"!ic"}"#), "@fb:hs"), Seen::Ignored);
        let edit = message(r#"{"msgtype":"m.text","body":"* !ic","m.new_content":{"msgtype":"m.text","body":"!ic"}}"#);
        assert_eq!(read_event(&edit, "@fb:hs"), Seen::Ignored);
        let encrypted =
            r#"{"type":"m.room.encrypted","event_id":"$e","sender":"@a:hs","origin_server_ts":1,"content":{}}"#;
        assert_eq!(read_event(encrypted, "@fb:hs"), Seen::Encrypted);
    }

    #[test]
    fn pills_become_user_ids_and_threads_are_kept() {
        let content = r#"{"msgtype":"m.text","body":"!ic handoff Bob","format":"org.matrix.custom.html",
            "formatted_body":"!ic handoff <a href=\"https://matrix.to/#/@bob:hs\">Bob</a>",
            "m.relates_to":{"rel_type":"m.thread","event_id":"$root"}}"#;
        let Seen::Text(message) = read_event(&message(content), "@fb:hs") else { panic!("a text") };
        assert_eq!(message.text, "!ic handoff @bob:hs");
        assert_eq!(message.thread.as_deref(), Some("$root"));
    }

    #[test]
    fn reply_fallbacks_are_dropped() {
        assert_eq!(strip_reply_fallback("> <@alice:hs> earlier\n> more\n\n!incident show"), "!incident show");
        assert_eq!(strip_reply_fallback("!ic"), "!ic");
        let html = "<mx-reply><blockquote>earlier</blockquote></mx-reply>ping <a href=\"https://matrix.to/#/%40bob%3Ahs\">Bob</a> &amp; co";
        assert_eq!(html_to_text(html), "ping @bob:hs & co");
    }
}
