//! Writing a Firebell message as a Matrix notice: a plain body, an HTML body rendered from the
//! markdown (raw HTML in the text is shown, never interpreted), and real mention pills.

use std::collections::HashMap;

use firebell_core::ids::Transport;
use firebell_core::message::{Message, Span};
use pulldown_cmark::{Event, Options, Parser, html};

/// A message ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rendered {
    /// The plain-text body (mentions written as user ids).
    pub(crate) body: String,
    /// The HTML body.
    pub(crate) html: String,
    /// The Matrix users mentioned, for `m.mentions`.
    pub(crate) mentions: Vec<String>,
}

/// A marker for mention `index` that markdown leaves alone.
fn marker(index: usize) -> String {
    format!("\u{E000}{index}\u{E001}")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Renders `message` for Matrix; `names` gives the rooms' names (by the id or alias the message
/// holds), which the message shows instead of their ids.
pub(crate) fn render(message: &Message, names: &HashMap<String, String>) -> Rendered {
    let mut markdown = String::new();
    let mut body = String::new();
    let mut pills = Vec::new();
    let mut mentions = Vec::new();
    for span in &message.spans {
        body.push_str(&match span {
            Span::Room(room) => names.get(&room.id).cloned().unwrap_or_else(|| room.id.clone()),
            Span::Mention(person) if person.user.transport == Transport::Matrix => person.user.id.clone(),
            Span::Mention(person) => format!("@{}", person.name),
            Span::Text(text) => text.clone(),
        });
        match span {
            Span::Text(text) => markdown.push_str(text),
            Span::Mention(person) if person.user.transport == Transport::Matrix => {
                markdown.push_str(&marker(pills.len()));
                pills.push(format!(
                    "<a href=\"https://matrix.to/#/{}\">{}</a>",
                    escape(&person.user.id),
                    escape(&person.name)
                ));
                mentions.push(person.user.id.clone());
            }
            Span::Mention(person) => markdown.push_str(&person.name),
            Span::Room(room) if room.transport == Transport::Matrix => {
                markdown.push_str(&marker(pills.len()));
                let name = names.get(&room.id).unwrap_or(&room.id);
                pills.push(format!("<a href=\"https://matrix.to/#/{}\">{}</a>", escape(&room.id), escape(name)));
            }
            Span::Room(room) => markdown.push_str(&room.id),
        }
    }
    let mut html = markdown_to_html(&markdown);
    for (index, pill) in pills.iter().enumerate() {
        html = html.replace(&marker(index), pill);
    }
    Rendered { body, html, mentions }
}

/// Whether a markdown line is a list item (`- x`, `* x`, `+ x`, `1. x`).
fn is_list_item(line: &str) -> bool {
    let line = line.trim_start();
    let numbered = line
        .split_once(". ")
        .is_some_and(|(number, _)| !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()));
    line.starts_with("- ") || line.starts_with("* ") || line.starts_with("+ ") || numbered
}

/// Ends every list before a line that is not one of its items: markdown would otherwise carry
/// the line into the last item ("lazy continuation"), and the HTML would not show what the
/// plain text shows.
fn end_lists(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    let mut after_item = false;
    for (index, line) in markdown.split('\n').enumerate() {
        if index > 0 {
            out.push('\n');
        }
        let item = is_list_item(line);
        if after_item && !item && !line.trim().is_empty() {
            out.push('\n');
        }
        out.push_str(line);
        after_item = item;
    }
    out
}

/// Markdown to HTML, with every line break kept and raw HTML shown as text.
fn markdown_to_html(markdown: &str) -> String {
    let markdown = end_lists(markdown);
    let events = Parser::new_ext(&markdown, Options::ENABLE_STRIKETHROUGH).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::SoftBreak => Event::HardBreak,
        other => other,
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    let out = out.trim_end();
    match out.strip_prefix("<p>").and_then(|inner| inner.strip_suffix("</p>")) {
        Some(inner) if !inner.contains("<p>") => inner.to_owned(),
        _ => out.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use firebell_core::ids::{Person, UserRef};

    fn render_plain(message: &Message) -> Rendered {
        render(message, &HashMap::new())
    }

    #[test]
    fn mentions_become_pills_and_m_mentions() {
        let bob = Person::new(UserRef::new(Transport::Matrix, "@bob:hs"), "bob");
        let rendered = render_plain(&Message::text("hey ").mention(&bob).and(": take *this*"));
        assert_eq!(rendered.body, "hey @bob:hs: take *this*");
        assert_eq!(rendered.html, "hey <a href=\"https://matrix.to/#/@bob:hs\">bob</a>: take <em>this</em>");
        assert_eq!(rendered.mentions, ["@bob:hs"]);
    }

    #[test]
    fn raw_html_is_shown_not_interpreted_and_lines_are_kept() {
        let rendered = render_plain(&Message::text("update with !incident update <text>\nsecond <b>line</b>"));
        assert_eq!(rendered.html, "update with !incident update &lt;text&gt;<br />\nsecond &lt;b&gt;line&lt;/b&gt;");
    }

    #[test]
    fn reports_render_as_documents() {
        let rendered = render_plain(&Message::text("# Report\n\n## Summary\n\n- one\n- two"));
        assert!(rendered.html.starts_with("<h1>Report</h1>"), "{}", rendered.html);
        assert!(rendered.html.contains("<li>one</li>"), "{}", rendered.html);
    }

    /// The HTML with its tags removed, one line per block or break.
    fn shown_text(html: &str) -> Vec<String> {
        let mut text = String::new();
        let mut rest = html;
        while let Some(open) = rest.find('<') {
            text.push_str(&rest[..open]);
            let close = rest[open..].find('>').map_or(rest.len(), |c| open + c + 1);
            let tag = &rest[open..close];
            if tag.starts_with("<br") || tag.starts_with("</li") || tag.starts_with("</p") || tag.starts_with("</h") {
                text.push('\n');
            }
            rest = &rest[close..];
        }
        text.push_str(rest);
        text.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
            .replace("&quot;", "\"")
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn a_line_after_a_list_stays_its_own_line() {
        let doc = "Doing:\n- carol: checking haproxy\nTasks:\n- [ ] 1. check the ingress\nTimeline (UTC):\n- 03:00 declared\nSee !help <command> for more.";
        let rendered = render_plain(&Message::text(doc));
        let shown = shown_text(&rendered.html);
        let plain: Vec<String> = doc.lines().map(|line| line.trim_start_matches("- ").to_owned()).collect();
        assert_eq!(shown, plain, "{}", rendered.html);
        assert!(!rendered.html.contains("<li>carol: checking haproxy<br />"), "{}", rendered.html);
    }
}
