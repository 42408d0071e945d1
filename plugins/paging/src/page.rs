//! Alerts and pages, and the rules of a page's life: opened by a firing alert, acknowledged by a
//! responder, resolved by Alertmanager or closed as a false alarm. Pure: no I/O.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use firebell_core::ids::Person;
use firebell_core::state::Change;
use firebell_core::state::{Index, Reads, Record, State};
use firebell_core::store::StoreError;
use serde::{Deserialize, Serialize};

/// The index open pages are listed under.
const OPEN: Index<Page, str> = Index::new("open");
/// The index open pages are listed under by their alert's fingerprint.
const ALERT: Index<Page, str> = Index::new("alert");

/// Whether an alert is firing or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// The condition holds.
    Firing,
    /// The condition no longer holds.
    Resolved,
}

/// One alert, as the Alertmanager receiver hands it to the plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Firing or resolved.
    pub status: AlertStatus,
    /// Alertmanager's stable id of the alert (its label set).
    pub fingerprint: String,
    /// The `alertname` label.
    pub alertname: String,
    /// The `summary` annotation, else the `description`, else the alert name.
    pub summary: String,
    /// Every label.
    pub labels: BTreeMap<String, String>,
    /// When it started firing.
    pub starts_at: DateTime<Utc>,
    /// The link to the source of the alert, if any.
    pub generator_url: String,
}

impl Alert {
    /// The alert's severity label, if any.
    pub fn severity(&self) -> Option<&str> {
        self.labels.get("severity").map(String::as_str)
    }
}

/// Where a page is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PageState {
    /// Waiting for someone to acknowledge it; escalates on its own.
    Firing,
    /// Someone is on it.
    Acked {
        /// Who acknowledged it.
        by: Person,
        /// When.
        at: DateTime<Utc>,
    },
    /// Alertmanager says the alert resolved.
    Resolved {
        /// When we heard.
        at: DateTime<Utc>,
    },
    /// A responder closed it as a false alarm.
    FalseAlarm {
        /// Who.
        by: Person,
        /// When.
        at: DateTime<Utc>,
    },
}

/// Why a page change was refused; the page is unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageRefusal {
    /// It was acknowledged before.
    AlreadyAcked(Person, DateTime<Utc>),
    /// It is resolved or closed.
    Closed,
}

/// A page: one firing alert that needs a human.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// Its number within the team: P12.
    pub number: u64,
    /// The alert that opened it.
    pub alert: Alert,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// Who was on call when it opened.
    pub oncall: Option<Person>,
    /// Where it is in its life.
    pub state: PageState,
    /// The Alertmanager silence its acknowledgement made, once it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silence: Option<String>,
    /// Whether a silence was asked for and Alertmanager has not answered yet: another one is
    /// not asked for meanwhile.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub silencing: bool,
}

impl Page {
    /// A new page for a firing alert.
    pub fn open(number: u64, alert: Alert, oncall: Option<Person>, at: DateTime<Utc>) -> Self {
        Self { number, alert, opened_at: at, oncall, state: PageState::Firing, silence: None, silencing: false }
    }

    /// `P12`.
    pub fn key(&self) -> String {
        format!("P{}", self.number)
    }

    /// Whether its alert should be silenced now: it is acknowledged, has no silence, and none
    /// is being made.
    pub fn wants_silence(&self) -> bool {
        matches!(self.state, PageState::Acked { .. }) && self.silence.is_none() && !self.silencing
    }

    /// Whether it is open (firing or acknowledged): a page per alert while open.
    pub fn is_open(&self) -> bool {
        matches!(self.state, PageState::Firing | PageState::Acked { .. })
    }

    /// Whether it still waits for someone.
    pub fn is_firing(&self) -> bool {
        self.state == PageState::Firing
    }

    /// `by` acknowledges it.
    pub fn ack(&mut self, by: &Person, at: DateTime<Utc>) -> Result<(), PageRefusal> {
        match &self.state {
            PageState::Firing => {
                self.state = PageState::Acked { by: by.clone(), at };
                Ok(())
            }
            PageState::Acked { by, at } => Err(PageRefusal::AlreadyAcked(by.clone(), *at)),
            _ => Err(PageRefusal::Closed),
        }
    }

    /// `by` closes it as a false alarm.
    pub fn false_alarm(&mut self, by: &Person, at: DateTime<Utc>) -> Result<(), PageRefusal> {
        if !self.is_open() {
            return Err(PageRefusal::Closed);
        }
        self.state = PageState::FalseAlarm { by: by.clone(), at };
        Ok(())
    }

    /// Alertmanager says the alert resolved. Returns whether the page changed.
    pub fn resolve(&mut self, at: DateTime<Utc>) -> bool {
        if !self.is_open() {
            return false;
        }
        self.state = PageState::Resolved { at };
        true
    }
}

impl Record for Page {
    const KIND: &'static str = "page";

    fn id(&self) -> String {
        self.number.to_string()
    }

    fn indexes(&self) -> Vec<(&'static str, String)> {
        match self.is_open() {
            true => vec![OPEN.entry(""), ALERT.entry(&self.alert.fingerprint)],
            false => Vec::new(),
        }
    }
}

/// The team's open pages, by number.
pub(crate) async fn open_pages(state: &State<'_>) -> Result<Vec<Page>, StoreError> {
    let mut pages: Vec<Page> = state.find_by(&OPEN, "").await?;
    pages.sort_by_key(|page| page.number);
    Ok(pages)
}

/// How many of the team's pages nobody acknowledged yet, read by someone outside the plugin
/// (the metrics).
pub async fn unacknowledged_pages(reads: &Reads<'_>) -> Result<usize, StoreError> {
    let pages = open_pages(&State::new(reads, crate::PLUGIN)).await?;
    Ok(pages.iter().filter(|page| page.is_firing()).count())
}

/// The open page numbered `number`, if there is one.
pub(crate) async fn open_page(state: &State<'_>, number: u64) -> Result<Option<Page>, StoreError> {
    Ok(state.get::<Page>(&number.to_string()).await?.filter(Page::is_open))
}

/// The open page of the alert with this fingerprint, if there is one.
pub(crate) async fn page_of_alert(state: &State<'_>, fingerprint: &str) -> Result<Option<Page>, StoreError> {
    Ok(state.find_by(&ALERT, fingerprint).await?.into_iter().next())
}

/// The write that keeps `page`.
pub(crate) fn store(state: &State<'_>, page: &Page) -> Change {
    state.put(page)
}

/// Reads `P12`, `p12` or `12`.
pub fn page_number(text: &str) -> Option<u64> {
    let digits = text.strip_prefix(['P', 'p']).unwrap_or(text);
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> Alert {
        Alert {
            status: AlertStatus::Firing,
            fingerprint: "f1".into(),
            alertname: "ToolsDBDown".into(),
            summary: "ToolsDB is down".into(),
            labels: BTreeMap::from([("severity".into(), "page".into())]),
            starts_at: DateTime::<Utc>::UNIX_EPOCH,
            generator_url: String::new(),
        }
    }

    #[test]
    fn a_page_is_acknowledged_once_and_then_closed() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let (alice, bob) = (Person::console("alice"), Person::console("bob"));
        let mut page = Page::open(12, alert(), Some(alice.clone()), now);
        assert_eq!(page.key(), "P12");
        assert!(page.is_firing());
        page.ack(&bob, now).unwrap();
        assert_eq!(page.ack(&alice, now), Err(PageRefusal::AlreadyAcked(bob.clone(), now)));
        assert!(page.is_open() && !page.is_firing());
        assert!(page.resolve(now));
        assert!(!page.resolve(now), "resolving twice changes nothing");
        assert_eq!(page.false_alarm(&bob, now), Err(PageRefusal::Closed));
    }

    #[test]
    fn open_pages_are_listed_by_their_alert() {
        let mut page = Page::open(3, alert(), None, DateTime::<Utc>::UNIX_EPOCH);
        let stored = firebell_core::state::encode(&page);
        assert_eq!((stored.kind.as_str(), stored.id.as_str(), stored.indexes.len()), ("page", "3", 2));
        assert_eq!(firebell_core::state::decode::<Page>(&stored).unwrap(), page);
        page.resolve(DateTime::<Utc>::UNIX_EPOCH);
        assert!(firebell_core::state::encode(&page).indexes.is_empty(), "closed pages are listed nowhere");
    }

    #[test]
    fn page_references_read_with_or_without_the_p() {
        assert_eq!(page_number("P12"), Some(12));
        assert_eq!(page_number("p7"), Some(7));
        assert_eq!(page_number("7"), Some(7));
        assert_eq!(page_number("x7"), None);
    }
}
