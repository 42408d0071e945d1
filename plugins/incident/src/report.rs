//! The two documents of an incident: the living status doc and the report draft, in markdown.

use std::fmt::Write as _;

use crate::model::{EntryKind, Incident, TimelineEntry};
use chrono::{DateTime, Utc};

use crate::format::{date_time, duration, time};

/// How many of the latest timeline entries the status doc shows.
pub(crate) const STATUS_DOC_TIMELINE: usize = 15;

fn traits(incident: &Incident) -> String {
    let mut traits = vec![if incident.is_open() { "open".to_owned() } else { "resolved".to_owned() }];
    if let Some(level) = incident.severity {
        traits.push(format!("sev {level}"));
    }
    if incident.user_facing {
        traits.push("user-facing".to_owned());
    }
    if incident.security {
        traits.push("security".to_owned());
    }
    traits.join(" · ")
}

fn timeline_line(entry: &TimelineEntry, stamp: fn(DateTime<Utc>) -> String) -> String {
    match &entry.by {
        Some(by) => format!("- {} {by}: {}", stamp(entry.at), entry.text),
        None => format!("- {} {}", stamp(entry.at), entry.text),
    }
}

/// The status doc: IC, status, who is doing what, tasks, follow-ups and the latest timeline.
/// `timeline` holds the latest entries, oldest first: one more than the doc shows says that
/// there are earlier ones (the report has them).
pub fn render_status_doc(incident: &Incident, timeline: &[TimelineEntry], now: DateTime<Utc>) -> String {
    let mut doc = format!("{} · {}\n", incident.key(), incident.doc_title);
    let _ = writeln!(
        doc,
        "State: {} · declared {} UTC by {}",
        traits(incident),
        date_time(incident.declared_at),
        incident.declared_by
    );
    let ic = match (incident.ic(), incident.ic_terms.last()) {
        (Some(ic), Some(term)) => format!("{ic} (since {} UTC)", time(term.since)),
        _ if incident.is_open() => "none yet".to_owned(),
        _ => "none (resolved)".to_owned(),
    };
    let _ = write!(doc, "IC: {ic}");
    if let Some(offer) = &incident.offer {
        let _ = write!(doc, " · handoff to {} pending until {} UTC", offer.to, time(offer.expires_at));
    }
    doc.push('\n');
    match &incident.status {
        Some(status) => {
            let _ = writeln!(doc, "Status ({} UTC, {}): {}", time(status.at), status.by, status.text);
        }
        None => doc.push_str("Status: no update yet\n"),
    }
    if let Some(resolution) = &incident.resolution {
        let _ = writeln!(
            doc,
            "Resolved {} UTC by {} after {}{}",
            date_time(resolution.at),
            resolution.by,
            duration(incident.declared_at, resolution.at),
            resolution.summary.as_ref().map(|s| format!(": {s}")).unwrap_or_default()
        );
    } else {
        let _ = writeln!(doc, "Open for {}", duration(incident.declared_at, now));
    }
    if !incident.doing.is_empty() {
        doc.push_str("Doing:\n");
        for doing in &incident.doing {
            let _ = writeln!(doc, "- {}: {} (since {} UTC)", doing.person, doing.text, time(doing.since));
        }
    }
    if !incident.tasks.is_empty() {
        doc.push_str("Tasks:\n");
        for task in &incident.tasks {
            let mark = if task.done_at.is_some() { "x" } else { " " };
            let who = task.assignee.as_ref().map(|p| format!(" ({p})")).unwrap_or_default();
            let _ = writeln!(doc, "- [{mark}] {}. {}{who}", task.number, task.text);
        }
    }
    render_followups(&mut doc, incident, "Follow-ups:");
    let skipped = timeline.len().saturating_sub(STATUS_DOC_TIMELINE);
    doc.push_str("Timeline (UTC):");
    if skipped > 0 {
        doc.push_str(" (earlier entries in the report)");
    }
    for entry in &timeline[skipped..] {
        doc.push('\n');
        doc.push_str(&timeline_line(entry, time));
    }
    doc
}

fn render_followups(doc: &mut String, incident: &Incident, heading: &str) {
    if incident.followups.is_empty() {
        return;
    }
    doc.push_str(heading);
    doc.push('\n');
    for followup in &incident.followups {
        let tracking = match &followup.ticket {
            Some(ticket) => format!(" ({ticket})"),
            None => " (not tracked yet: needs a ticket)".to_owned(),
        };
        let _ = writeln!(doc, "- [ ] {}{tracking}", followup.text);
    }
}

/// The incident report draft in markdown: summary, IC history, timeline with UTC dates and times,
/// the admin log entries made during the incident, and the follow-ups.
pub fn render_report(incident: &Incident, timeline: &[TimelineEntry]) -> String {
    let mut draft = ReportDraft::new(incident);
    draft.add_timeline(timeline);
    draft.finish()
}

/// A report draft written as its timeline is read, page by page: only the text and the admin
/// log entries are kept, never the whole timeline.
pub struct ReportDraft<'a> {
    incident: &'a Incident,
    doc: String,
    admin_log: Vec<String>,
}

impl<'a> ReportDraft<'a> {
    /// Starts the draft of `incident`: summary and IC history, up to the timeline.
    pub fn new(incident: &'a Incident) -> Self {
        let mut doc = format!("# Incident report (draft): {}\n\n## Summary\n\n", incident.doc_title);
        let summary = incident.resolution.as_ref().and_then(|r| r.summary.as_deref());
        let _ = writeln!(doc, "{}\n", summary.unwrap_or("(to be written)"));
        let _ = writeln!(doc, "- Incident: {} · {}", incident.key(), traits(incident));
        let _ = writeln!(doc, "- Declared: {} UTC by {}", date_time(incident.declared_at), incident.declared_by);
        match &incident.resolution {
            Some(r) => {
                let took = duration(incident.declared_at, r.at);
                let _ = writeln!(doc, "- Resolved: {} UTC by {} (duration {took})", date_time(r.at), r.by);
            }
            None => doc.push_str("- Resolved: not yet\n"),
        }

        doc.push_str("\n## Incident coordinators\n\n");
        if incident.ic_terms.is_empty() {
            doc.push_str("- nobody took the IC role\n");
        }
        for term in &incident.ic_terms {
            let until = term.until.map_or("now".to_owned(), |until| format!("{} UTC", date_time(until)));
            let _ = writeln!(doc, "- {}: {} UTC – {until}", term.person, date_time(term.since));
        }
        doc.push_str("\n## Timeline (UTC)\n\n");
        Self { incident, doc, admin_log: Vec::new() }
    }

    /// Adds the next entries of the timeline, oldest first.
    pub fn add_timeline(&mut self, entries: &[TimelineEntry]) {
        for entry in entries {
            let line = timeline_line(entry, date_time);
            let _ = writeln!(self.doc, "{line}");
            if entry.kind == EntryKind::AdminLog {
                self.admin_log.push(line);
            }
        }
    }

    /// Ends the draft with the admin log and the follow-ups.
    pub fn finish(mut self) -> String {
        let doc = &mut self.doc;
        doc.push_str("\n## Admin log\n\n");
        if self.admin_log.is_empty() {
            doc.push_str("- no admin log entries during the incident\n");
        }
        for line in &self.admin_log {
            let _ = writeln!(doc, "{line}");
        }
        doc.push('\n');
        if self.incident.followups.is_empty() {
            doc.push_str("## Follow-ups\n\n- none recorded\n");
        } else {
            render_followups(doc, self.incident, "## Follow-ups\n");
        }
        self.doc.trim_end().to_owned()
    }
}
