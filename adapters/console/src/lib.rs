//! The console adapter: chat with Firebell through stdin and stdout, with no chat account.
//!
//! Input, one line at a time:
//!
//! - a plain line is a message from the current user in the current room;
//! - `alice: text` is one message from `alice` in the current room;
//! - `/user NAME` and `/room #NAME` switch the current user and room;
//! - `/sleep 2s` pauses reading while timed work (reminders, pages) goes on; with a manual clock
//!   it moves the clock forward instead, running what falls due on the way.
//!
//! Output: every line starts with its target, `[#room] firebell: text` for a message,
//! `[#room] topic: text` for a topic change, `[@user] firebell: text` for a direct message.
//! Console users and rooms are `console:alice` and `console:#room` in the config.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use firebell_core::adapter::{AdapterError, Capabilities, ChatAdapter};
use firebell_core::async_trait;
use firebell_core::chrono::Utc;
use firebell_core::clock::{Clock, ManualClock, checked_after};
use firebell_core::command::shown;
use firebell_core::ids::{RoomRef, Transport, UserRef};
use firebell_core::message::{Inbound, Mention, Message, RoomSpec};
use firebell_runtime::bot::Bot;
use firebell_runtime::scheduler::Scheduler;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Checks a console room as written in the config (`#wikimedia-cloud-admin`).
pub fn check_room(id: &str) -> Result<(), String> {
    let fits = id.len() > 1 && id.starts_with('#') && !id.contains(char::is_whitespace);
    if fits { Ok(()) } else { Err(format!("expected a console room like \"#ops\", got {:?}", shown(id))) }
}

/// Checks a console user as written in the config (`alice`).
pub fn check_user(id: &str) -> Result<(), String> {
    let fits = !id.is_empty() && !id.starts_with(['@', '#']) && !id.contains(char::is_whitespace);
    if fits { Ok(()) } else { Err(format!("expected a console user like \"alice\", got {:?}", shown(id))) }
}

/// Writes what the bot does as console lines.
pub struct ConsoleAdapter {
    out: Mutex<Box<dyn Write + Send>>,
    bot_name: String,
}

impl ConsoleAdapter {
    /// An adapter writing to `out`, signing messages as `bot_name`.
    pub fn new(out: Box<dyn Write + Send>, bot_name: impl Into<String>) -> Self {
        Self { out: Mutex::new(out), bot_name: bot_name.into() }
    }

    /// An adapter writing to standard output.
    pub fn stdout(bot_name: impl Into<String>) -> Self {
        Self::new(Box::new(std::io::stdout()), bot_name)
    }

    /// Writes `text` with every line prefixed by `[target] label: `.
    fn print(&self, target: &str, label: &str, text: &str) -> Result<(), AdapterError> {
        let mut out = self.out.lock().unwrap_or_else(|poison| poison.into_inner());
        let mut write = || -> std::io::Result<()> {
            for line in text.lines().chain(text.is_empty().then_some("")) {
                match line {
                    "" => writeln!(out, "[{target}] {label}:")?,
                    line => writeln!(out, "[{target}] {label}: {line}")?,
                }
            }
            out.flush()
        };
        write().map_err(|err| AdapterError::Platform(format!("console output failed: {err}")))
    }

    fn say(&self, target: &str, message: &Message) -> Result<(), AdapterError> {
        self.print(target, &self.bot_name, &render(message))
    }
}

/// `message` as the console writes it: console users as `@name`, rooms by name.
pub fn render(message: &Message) -> String {
    message.render(
        |person| match person.user.transport {
            Transport::Console => format!("@{}", person.user.id),
            _ => format!("@{}", person.name),
        },
        |room| room.id.clone(),
    )
}

/// The mentions in a console line: each word `@name` names the console user `name`.
pub fn mentions(text: &str) -> Vec<Mention> {
    text.split_whitespace()
        .filter_map(|token| {
            let name = token.strip_prefix('@').filter(|name| !name.is_empty())?;
            Some(Mention { token: token.to_owned(), user: UserRef::console(name), name: None })
        })
        .collect()
}

#[async_trait]
impl ChatAdapter for ConsoleAdapter {
    fn transport(&self) -> Transport {
        Transport::Console
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            threads: false,
            topics: true,
            create_rooms: true,
            direct_messages: true,
            buttons: false,
            max_topic_chars: 500,
            max_message_bytes: usize::MAX,
            // A console line is read once.
            redelivery_window: Duration::from_secs(3600),
        }
    }

    async fn send_message(
        &self,
        _: &str,
        room: &RoomRef,
        message: &Message,
        _: Option<&str>,
    ) -> Result<(), AdapterError> {
        self.say(&room.id, message)
    }

    async fn set_topic(&self, _: &str, room: &RoomRef, topic: &str) -> Result<(), AdapterError> {
        self.print(&room.id, "topic", topic)
    }

    async fn create_room(&self, _: &str, spec: &RoomSpec) -> Result<RoomRef, AdapterError> {
        let room = RoomRef::console(format!("#{}", spec.key));
        let invited: Vec<String> = spec.invite.iter().map(|u| format!("@{}", u.id)).collect();
        self.print(&room.id, "created", &format!("{} (invited: {})", spec.name, invited.join(", ")))?;
        Ok(room)
    }

    async fn invite(&self, _: &str, room: &RoomRef, user: &UserRef) -> Result<(), AdapterError> {
        self.print(&room.id, "invite", &format!("@{}", user.id))
    }

    async fn direct_message(&self, _: &str, user: &UserRef, message: &Message) -> Result<(), AdapterError> {
        self.say(&format!("@{}", user.id), message)
    }
}

/// Where console input starts, and how `/sleep` treats time.
#[derive(Clone)]
pub struct ConsoleOptions {
    /// Who plain lines come from at first.
    pub user: String,
    /// Which room plain lines go to at first.
    pub room: String,
    /// With a manual clock, `/sleep` moves it forward instead of waiting, running the jobs that
    /// fall due on the way through the scheduler.
    pub manual_clock: Option<(ManualClock, Arc<Scheduler>)>,
}

/// Why the console stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// Reading standard input failed.
    #[error("reading console input failed: {0}")]
    Input(#[from] std::io::Error),
}

/// One parsed console input line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    Message { from: Option<String>, text: String },
    User(String),
    Room(String),
    Sleep(Duration),
    Invalid(String),
    Blank,
}

/// The longest `/sleep`.
const LONGEST_SLEEP: Duration = Duration::from_secs(30 * 86_400);

const DIRECTIVES: &str = "expected /user NAME, /room #NAME or /sleep DURATION (like 2s)";

fn parse_line(line: &str) -> Line {
    let line = line.trim();
    if line.is_empty() {
        return Line::Blank;
    }
    if let Some(directive) = line.strip_prefix('/') {
        let (word, arg) = directive.split_once(char::is_whitespace).unwrap_or((directive, ""));
        let arg = arg.trim();
        return match (word, arg) {
            ("user", name) if !name.is_empty() && !name.contains(char::is_whitespace) => {
                Line::User(name.trim_start_matches('@').to_owned())
            }
            ("room", room) if room.starts_with('#') && room.len() > 1 && !room.contains(char::is_whitespace) => {
                Line::Room(room.to_owned())
            }
            ("sleep", span) => match humantime::parse_duration(span) {
                Ok(duration) if duration <= LONGEST_SLEEP => Line::Sleep(duration),
                _ => Line::Invalid(format!(
                    "/sleep expects a duration like 2s or 30m, up to 30 days, got {:?}",
                    shown(span)
                )),
            },
            _ => Line::Invalid(format!("unknown or malformed directive /{}; {DIRECTIVES}", shown(directive))),
        };
    }
    if let Some((name, text)) = line.split_once(": ")
        && !name.is_empty()
        && !name.contains(char::is_whitespace)
        && !name.starts_with(['!', '/', '@'])
    {
        return Line::Message { from: Some(name.to_owned()), text: text.trim().to_owned() };
    }
    Line::Message { from: None, text: line.to_owned() }
}

/// Writes `[console] error: …`.
fn report(console: &ConsoleAdapter, error: &str) {
    if let Err(err) = console.print("console", "error", error) {
        tracing::warn!(error = %err, "cannot write to the console");
    }
}

/// A unique prefix for this process's event ids, so that two consoles on one Redis never collide.
fn session_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("{}-{nanos:x}", std::process::id())
}

/// Reads chat lines from `input` and hands each message to `bot`, one at a time, until the
/// input ends. Every answer is written before the next line is read. Malformed directives are
/// reported through `console` as `[console] error: …` and change nothing.
pub async fn run(
    bot: &Bot,
    console: &ConsoleAdapter,
    input: impl AsyncBufRead + Unpin,
    options: ConsoleOptions,
) -> Result<(), ConsoleError> {
    let session = session_id();
    let mut user = options.user;
    let mut room = options.room;
    let mut input = input;
    let mut bytes = Vec::new();
    let mut number = 0u64;
    loop {
        bytes.clear();
        if input.read_until(b'\n', &mut bytes).await? == 0 {
            break;
        }
        number += 1;
        let Ok(line) = std::str::from_utf8(&bytes) else {
            report(console, &format!("line {number} is not valid UTF-8; it was skipped"));
            continue;
        };
        match parse_line(line) {
            Line::Blank => {}
            Line::User(name) => user = name,
            Line::Room(name) => room = name,
            Line::Sleep(duration) => match &options.manual_clock {
                Some((clock, scheduler)) => match checked_after(clock.now(), duration) {
                    Some(until) => {
                        if let Err(err) = scheduler.run_until(clock, until).await {
                            report(console, &format!("timed work failed: {err}"));
                        }
                    }
                    None => report(console, "/sleep would move the clock past the last date it can show"),
                },
                None => tokio::time::sleep(duration).await,
            },
            Line::Invalid(error) => report(console, &error),
            Line::Message { from, text } => {
                let sender = from.unwrap_or_else(|| user.clone());
                bot.handle(Inbound {
                    event_id: format!("{session}-{number}"),
                    room: RoomRef::console(room.clone()),
                    sender: UserRef::console(sender),
                    sender_name: None,
                    sender_is_platform_admin: false,
                    mentions: mentions(&text),
                    text,
                    ts: Utc::now(),
                    thread: None,
                    attachments: Vec::new(),
                })
                .await;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_messages_or_directives() {
        assert_eq!(parse_line("!ic"), Line::Message { from: None, text: "!ic".into() });
        assert_eq!(
            parse_line("bob: !ic accept"),
            Line::Message { from: Some("bob".into()), text: "!ic accept".into() }
        );
        assert_eq!(
            parse_line("!incident update status: degraded"),
            Line::Message { from: None, text: "!incident update status: degraded".into() }
        );
        assert_eq!(parse_line("/user carol"), Line::User("carol".into()));
        assert_eq!(parse_line("/room #wikimedia-cloud"), Line::Room("#wikimedia-cloud".into()));
        assert_eq!(parse_line("/sleep 2s"), Line::Sleep(Duration::from_secs(2)));
        assert_eq!(parse_line("   "), Line::Blank);
    }

    #[test]
    fn malformed_directives_say_what_was_expected() {
        assert!(matches!(parse_line("/room wikimedia-cloud"), Line::Invalid(e) if e.contains("/room #NAME")));
        assert!(matches!(parse_line("/sleep soon"), Line::Invalid(e) if e.contains("like 2s")));
        assert!(matches!(parse_line("/frobnicate"), Line::Invalid(_)));
        assert!(matches!(parse_line("/user"), Line::Invalid(_)));
    }
}
