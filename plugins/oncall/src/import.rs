//! `!oncall import <url>`: another tool's calendar export (PagerDuty's or Grafana OnCall's iCal
//! feed) becomes overrides, so a team moves without typing its rota again. The plugin asks the
//! [`CalendarFetcher`] service for the file (an `Action::Call`, kept and performed once), and
//! reads it when the answer comes back.

use std::time::Duration;

use chrono::{DateTime, Utc};
use firebell_core::adapter::{AdapterError, Fetched, MOST_FETCHED_BYTES, Service, files_service};
use firebell_core::async_trait;
use firebell_core::ids::RoomRef;
use firebell_core::message::{Action, CallResult, Message, Notify};
use firebell_core::plugin::{Context, Event, Outcome, PluginError, TeamContext};
use firebell_core::state::Change;
use firebell_core::team::Team;
use serde::{Deserialize, Serialize};

use crate::ical::{ImportedShift, parse};
use crate::notices::Notify as NotifyJob;
use crate::rota::{OverrideRecord, TEAM, overrides};
use crate::{PLUGIN, feed};

/// The name of the calendar fetching service.
pub const CALENDAR_SERVICE: &str = "calendar";

/// The counter of calendar fetches, by outcome (`fetched`, `failed`).
pub const FETCHES: &str = "firebell_calendar_fetches_total";

/// How long a fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);

/// What the plugin asks the service: fetch `url`; the rest comes back with the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fetch {
    /// The export's URL.
    pub url: String,
    /// Export names mapped to roster names.
    #[serde(default)]
    pub names: Vec<(String, String)>,
    /// Who asked.
    pub by: String,
    /// Where to answer.
    pub room: RoomRef,
    /// The thread, if any.
    #[serde(default)]
    pub thread: Option<String>,
}

/// Reads `"Alice Smith=alice; Bob=bob"` against the roster.
fn names(text: Option<&str>, team: &Team) -> Result<Vec<(String, String)>, PluginError> {
    let Some(text) = text else { return Ok(Vec::new()) };
    text.split(';')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (theirs, ours) = pair.split_once('=').ok_or_else(|| {
                PluginError::Usage(format!("expected --names \"Their Name=rostername; …\", got {pair:?}"))
            })?;
            let member = team
                .member_named(ours.trim().trim_start_matches('@'))
                .ok_or_else(|| PluginError::Usage(format!("{:?} is not on the roster", ours.trim())))?;
            Ok((theirs.trim().to_lowercase(), member.name.clone()))
        })
        .collect()
}

/// `!oncall import [url] [--names …]`: asks for the file, from its URL or, without one, from
/// the file uploaded with the command (through its platform's files service).
pub(crate) fn start(ctx: &Context<'_>, url: Option<&str>, mapping: Option<&str>) -> Result<Outcome, PluginError> {
    let team = ctx.require_team()?;
    let names = names(mapping, team)?;
    let (service, url, what) = match (url, ctx.attachments.first()) {
        (Some(url), _) => (CALENDAR_SERVICE.to_owned(), export_url(url)?, "the calendar".to_owned()),
        (None, Some(file)) => (files_service(ctx.room.transport), file.source.clone(), file.name.clone()),
        (None, None) => {
            return Err(PluginError::Usage(
                "expected the export's https:// (or webcal://) URL, or its .ics file uploaded with this command as the caption"
                    .to_owned(),
            ));
        }
    };
    let fetch = Fetch {
        url,
        names,
        by: ctx.sender.name.clone(),
        room: ctx.room.clone(),
        thread: ctx.thread.map(str::to_owned),
    };
    let call = Action::Call {
        service,
        request: serde_json::to_string(&fetch).expect("fetches serialize"),
        notify: Some(Notify::new(&team.id, PLUGIN)),
    };
    Ok(Outcome::act(ctx.reply(Message::text(format!("Reading {what}; I will say what it holds.")))).and(call))
}

/// The URL of an export as typed: Slack's `<…>` and `<…|label>` unwrapped, and `webcal://`
/// (calendar apps' subscription links, which PagerDuty and Grafana offer) read as `https://`.
fn export_url(typed: &str) -> Result<String, PluginError> {
    let url = typed.trim_start_matches('<').trim_end_matches('>');
    let url = url.split_once('|').map_or(url, |(url, _)| url);
    let url = match url.strip_prefix("webcal://") {
        Some(rest) => format!("https://{rest}"),
        None => url.to_owned(),
    };
    if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2000 {
        return Err(PluginError::Usage(format!("expected the export's https:// (or webcal://) URL, got {url:?}")));
    }
    Ok(url)
}

/// The roster name an imported shift is for: a mapping given, the roster name itself, the
/// first word of a full name, or the part of an email address before a dot.
fn person_of(shift: &ImportedShift, mapping: &[(String, String)], team: &Team) -> Option<String> {
    shift.names.iter().find_map(|name| {
        let lower = name.trim().to_lowercase();
        if let Some((_, ours)) = mapping.iter().find(|(theirs, _)| *theirs == lower) {
            return Some(ours.clone());
        }
        let first_word = lower.split_whitespace().next().unwrap_or_default();
        let before_dot = lower.split(['.', '_', '@']).next().unwrap_or_default();
        [lower.as_str(), first_word, before_dot]
            .into_iter()
            .find_map(|candidate| team.member_named(candidate))
            .map(|member| member.name.clone())
    })
}

/// The service's answer: the export becomes overrides, replacing an earlier import's to come, or
/// nothing changes and the admin is told why.
pub(crate) async fn finish(ctx: &TeamContext<'_>, event: &Event) -> Result<Outcome, PluginError> {
    let unreadable = |err: serde_json::Error| PluginError::Refused(format!("unreadable calendar answer: {err}"));
    let result: CallResult = serde_json::from_str(&event.data).map_err(unreadable)?;
    let fetch: Fetch = serde_json::from_str(&result.request).map_err(unreadable)?;
    let answer: Fetched = serde_json::from_str(&result.response).map_err(unreadable)?;
    let tell = |text: String| Action::Send {
        room: fetch.room.clone(),
        message: Message::text(text),
        thread: fetch.thread.clone(),
    };
    let text = match answer {
        Fetched::Failed { reason } => {
            return Ok(Outcome::act(tell(format!("Nothing imported: the calendar could not be fetched: {reason}."))));
        }
        Fetched::Body { text } => text,
    };
    let shifts = match parse(&text, ctx.now, ctx.now + feed::AHEAD) {
        Ok(shifts) => shifts,
        Err(err) => return Ok(Outcome::act(tell(format!("Nothing imported: {err}.")))),
    };
    let mut unknown: Vec<String> = Vec::new();
    let mut found = Vec::new();
    for shift in &shifts {
        match person_of(shift, &fetch.names, ctx.team) {
            Some(person) => found.push((person, shift.start, shift.end)),
            None => unknown.push(shift.names.first().cloned().unwrap_or_default()),
        }
    }
    if !unknown.is_empty() {
        unknown.sort();
        unknown.dedup();
        let text = format!(
            "Nothing imported: {} of {} shifts name people not on the roster: {}. Map them: {}oncall import {} --names \"{}=rostername\"",
            shifts.len() - found.len(),
            shifts.len(),
            unknown.join(", "),
            ctx.prefix,
            fetch.url,
            unknown[0]
        );
        return Ok(Outcome::act(tell(text)));
    }
    let existing = overrides(&ctx.state).await?;
    let mut writes: Vec<Change> = existing
        .iter()
        .filter(|o| o.by.starts_with("import") && o.end > ctx.now)
        .map(|o| ctx.state.remove::<OverrideRecord>(&o.key))
        .collect();
    for (person, start, end) in &found {
        let mut record = OverrideRecord::new(0, person, (*start, *end), format!("import by {}", fetch.by));
        record.key = imported_key(person, *start);
        writes.push(ctx.state.put(&record));
    }
    writes.push(ctx.schedule(TEAM, ctx.now, &NotifyJob));
    let mut people: Vec<&str> = found.iter().map(|(person, ..)| person.as_str()).collect();
    people.sort_unstable();
    people.dedup();
    let text = format!(
        "Imported {} shifts of the next {} days as overrides ({}); chat overrides still win over them. {}oncall schedule shows the result.",
        found.len(),
        feed::AHEAD.num_days(),
        if people.is_empty() { "nobody".to_owned() } else { people.join(", ") },
        ctx.prefix
    );
    Ok(Outcome::act(tell(text)).writes(writes))
}

/// An imported override's id: the same shift imported again replaces it.
fn imported_key(person: &str, start: DateTime<Utc>) -> String {
    format!("I{}-{}", start.format("%Y%m%dT%H%M"), person.to_lowercase())
}

/// The service that fetches calendar exports (`calendar`): one GET, at most 4 MiB, 20 s.
pub struct CalendarFetcher {
    /// Made at the first fetch: an HTTP client loads its TLS roots, which an idle bot need not hold.
    client: std::sync::OnceLock<reqwest::Client>,
}

impl Default for CalendarFetcher {
    fn default() -> Self {
        let client = std::sync::OnceLock::new();
        metrics::describe_counter!(FETCHES, "Calendar exports fetched for !oncall import, by outcome.");
        for outcome in ["fetched", "failed"] {
            metrics::counter!(FETCHES, "outcome" => outcome).increment(0);
        }
        Self { client }
    }
}

impl CalendarFetcher {
    async fn fetch(&self, url: &str) -> Fetched {
        let failed = |reason: String| Fetched::Failed { reason };
        let client =
            self.client.get_or_init(|| reqwest::Client::builder().timeout(FETCH_TIMEOUT).build().unwrap_or_default());
        let response = match client.get(url).send().await {
            Ok(response) => response,
            Err(err) if err.is_timeout() => return failed("it took longer than 20 s".into()),
            Err(_) => return failed("the server could not be reached".into()),
        };
        let status = response.status();
        if !status.is_success() {
            return failed(format!("the server answered {status}"));
        }
        if response.content_length().is_some_and(|length| length > MOST_FETCHED_BYTES as u64) {
            return failed("the file is larger than 4 MiB".into());
        }
        match response.bytes().await {
            Ok(bytes) if bytes.len() > MOST_FETCHED_BYTES => failed("the file is larger than 4 MiB".into()),
            Ok(bytes) => Fetched::Body { text: String::from_utf8_lossy(&bytes).into_owned() },
            Err(_) => failed("the download broke off".into()),
        }
    }
}

#[async_trait]
impl Service for CalendarFetcher {
    fn name(&self) -> &str {
        CALENDAR_SERVICE
    }

    async fn call(&self, _action_id: &str, request: &str) -> Result<String, AdapterError> {
        let fetch: Fetch = serde_json::from_str(request)
            .map_err(|err| AdapterError::Refused(format!("not a calendar fetch: {err}")))?;
        let fetched = self.fetch(&fetch.url).await;
        let outcome = if matches!(fetched, Fetched::Body { .. }) { "fetched" } else { "failed" };
        metrics::counter!(FETCHES, "outcome" => outcome).increment(1);
        Ok(serde_json::to_string(&fetched).expect("fetch answers serialize"))
    }
}
