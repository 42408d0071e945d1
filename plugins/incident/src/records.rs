//! Where the incident plugin keeps its state: incidents as records (open ones listed under
//! [`OPEN`]), each incident's timeline as a stream, numbers from the `incident` sequence. Other
//! plugins read open incidents and add to their timelines through the functions here.

use firebell_core::state::Change;
use firebell_core::state::{Reads, State};
use firebell_core::store::{StoreError, StreamRange};

use crate::model::{Incident, OPEN, TimelineEntry};
use crate::report::ReportDraft;

/// The incident plugin's namespace.
pub const NAMESPACE: &str = "incident";

/// The sequence incident numbers come from.
pub(crate) const SEQUENCE: &str = "incident";

fn timeline_stream(number: u64) -> String {
    format!("timeline:{number}")
}

/// The team's open incidents, by number.
pub async fn open_incidents(state: &State<'_>) -> Result<Vec<Incident>, StoreError> {
    let mut open: Vec<Incident> = state.find_by(&OPEN, "").await?;
    open.sort_by_key(|incident| incident.number);
    Ok(open)
}

/// The team's open incidents, read by another plugin (part of its guard like its own reads).
pub async fn open_incidents_of(reads: &Reads<'_>) -> Result<Vec<Incident>, StoreError> {
    open_incidents(&State::new(reads, NAMESPACE)).await
}

/// The write that adds `entry` to incident `number`'s timeline, for another plugin (the server
/// admin log notes its entries on the open incidents).
pub fn add_to_timeline(reads: &Reads<'_>, number: u64, entry: &TimelineEntry) -> Change {
    State::new(reads, NAMESPACE).append(&timeline_stream(number), entry)
}

/// Incident `number`'s whole timeline, oldest first, read by another plugin or a tool.
pub async fn timeline_of(reads: &Reads<'_>, number: u64) -> Result<Vec<TimelineEntry>, StoreError> {
    State::new(reads, NAMESPACE).stream(&timeline_stream(number), StreamRange::All).await
}

/// One incident, open or resolved.
pub(crate) async fn incident(state: &State<'_>, number: u64) -> Result<Option<Incident>, StoreError> {
    state.get(&number.to_string()).await
}

/// The latest `count` entries of an incident's timeline, oldest first.
pub(crate) async fn latest_timeline(
    state: &State<'_>,
    number: u64,
    count: usize,
) -> Result<Vec<TimelineEntry>, StoreError> {
    state.stream(&timeline_stream(number), StreamRange::Latest(count)).await
}

/// How many timeline entries a report reads at a time.
const REPORT_PAGE: usize = 500;

/// The report draft of `incident`, its timeline read page by page, with `more` entries not
/// stored yet (the one a command is adding) at its end.
pub(crate) async fn report(
    state: &State<'_>,
    incident: &Incident,
    more: &[TimelineEntry],
) -> Result<String, StoreError> {
    let mut draft = ReportDraft::new(incident);
    let mut pages = state.pages::<TimelineEntry>(&timeline_stream(incident.number), REPORT_PAGE);
    while let Some(page) = pages.next().await? {
        draft.add_timeline(&page);
    }
    draft.add_timeline(more);
    Ok(draft.finish())
}

/// The writes of one change: the incident as it is now, and its new timeline entries.
pub(crate) fn change(state: &State<'_>, incident: &Incident, entries: &[TimelineEntry]) -> Vec<Change> {
    let stream = timeline_stream(incident.number);
    std::iter::once(state.put(incident)).chain(entries.iter().map(|entry| state.append(&stream, entry))).collect()
}
