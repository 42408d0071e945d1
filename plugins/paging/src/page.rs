//! Alerts and pages, and the rules of a page's life: opened by a firing alert, acknowledged by a
//! responder, resolved by Alertmanager or closed as a false alarm. Pure: no I/O.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use firebell_core::ids::Person;
use firebell_core::store::Record;
use serde::{Deserialize, Serialize};

/// The record kind pages are stored under.
pub const KIND: &str = "page";

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
    /// The store's version of the record (not serialized).
    #[serde(skip)]
    pub version: u64,
}

impl Page {
    /// A new page for a firing alert.
    pub fn open(number: u64, alert: Alert, oncall: Option<Person>, at: DateTime<Utc>) -> Self {
        Self { number, alert, opened_at: at, oncall, state: PageState::Firing, silence: None, version: 0 }
    }

    /// `P12`.
    pub fn key(&self) -> String {
        format!("P{}", self.number)
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

    /// Reads a page from its record.
    pub fn from_record(record: &Record) -> Option<Page> {
        let mut page: Page = serde_json::from_str(&record.data).ok()?;
        page.version = record.version;
        Some(page)
    }

    /// The record to store this page as.
    pub fn to_record(&self) -> Record {
        Record {
            id: self.number.to_string(),
            version: self.version,
            open: self.is_open(),
            data: serde_json::to_string(self).expect("pages serialize"),
        }
    }
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
    fn pages_survive_their_record() {
        let mut page = Page::open(3, alert(), None, DateTime::<Utc>::UNIX_EPOCH);
        page.version = 4;
        let record = page.to_record();
        assert_eq!((record.id.as_str(), record.open), ("3", true));
        assert_eq!(Page::from_record(&record), Some(page));
    }

    #[test]
    fn page_references_read_with_or_without_the_p() {
        assert_eq!(page_number("P12"), Some(12));
        assert_eq!(page_number("p7"), Some(7));
        assert_eq!(page_number("7"), Some(7));
        assert_eq!(page_number("x7"), None);
    }
}
