//! Writing a Firebell message as a Matrix notice: a plain body, an HTML body rendered from the
//! markdown (raw HTML in the text is shown, never interpreted), and real mention pills.

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

/// Renders `message` for Matrix.
pub(crate) fn render(message: &Message) -> Rendered {
    let mut markdown = String::new();
    let mut pills = Vec::new();
    let mut mentions = Vec::new();
    for span in &message.spans {
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
                pills.push(format!("<a href=\"https://matrix.to/#/{id}\">{id}</a>", id = escape(&room.id)));
            }
            Span::Room(room) => markdown.push_str(&room.id),
        }
    }
    let mut html = markdown_to_html(&markdown);
    for (index, pill) in pills.iter().enumerate() {
        html = html.replace(&marker(index), pill);
    }
    Rendered { body: message.to_plain(), html, mentions }
}

/// Markdown to HTML, with every line break kept and raw HTML shown as text.
fn markdown_to_html(markdown: &str) -> String {
    let events = Parser::new_ext(markdown, Options::ENABLE_STRIKETHROUGH).map(|event| match event {
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

    #[test]
    fn mentions_become_pills_and_m_mentions() {
        let bob = Person::new(UserRef::new(Transport::Matrix, "@bob:hs"), "bob");
        let rendered = render(&Message::text("hey ").mention(&bob).and(": take *this*"));
        assert_eq!(rendered.body, "hey @bob:hs: take *this*");
        assert_eq!(rendered.html, "hey <a href=\"https://matrix.to/#/@bob:hs\">bob</a>: take <em>this</em>");
        assert_eq!(rendered.mentions, ["@bob:hs"]);
    }

    #[test]
    fn raw_html_is_shown_not_interpreted_and_lines_are_kept() {
        let rendered = render(&Message::text("update with !incident update <text>\nsecond <b>line</b>"));
        assert_eq!(rendered.html, "update with !incident update &lt;text&gt;<br />\nsecond &lt;b&gt;line&lt;/b&gt;");
    }

    #[test]
    fn reports_render_as_documents() {
        let rendered = render(&Message::text("# Report\n\n## Summary\n\n- one\n- two"));
        assert!(rendered.html.starts_with("<h1>Report</h1>"), "{}", rendered.html);
        assert!(rendered.html.contains("<li>one</li>"), "{}", rendered.html);
    }
}
