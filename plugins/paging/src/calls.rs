//! What the paging plugin asks Alertmanager, and what Alertmanager answers: the requests of the
//! plugin's [`Action::Call`]s to the [`SILENCE_SERVICE`] and the answers that come back to the
//! plugin as `call-result` events. The plugin decides; the service (in [`crate::alertmanager`])
//! does the I/O.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use firebell_core::ids::{RoomRef, TeamId};
use firebell_core::message::{Action, Notify};
use serde::{Deserialize, Serialize};

use crate::page::Alert;
use crate::{PLUGIN, SILENCE_SERVICE};

/// A request to Alertmanager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Silences the alert with this fingerprint on all the labels Alertmanager knows it by, if
    /// Alertmanager reports it as firing; a forged or resolved alert is not silenced.
    Silence {
        /// The page acknowledged.
        page: u64,
        /// The alert's fingerprint.
        fingerprint: String,
        /// Its `alertname`, to ask Alertmanager about alerts of that name only.
        alertname: String,
        /// When the silence starts.
        starts_at: DateTime<Utc>,
        /// When it ends.
        ends_at: DateTime<Utc>,
        /// The silence's comment (`ACK! alice`).
        comment: String,
        /// Where to say how it went: the acknowledgement's room…
        room: RoomRef,
        /// …and thread.
        thread: Option<String>,
    },
    /// Whether the alert with this fingerprint fires: an acknowledged page's alert, followed
    /// until it resolves, or a resolved one, watched for a new firing that Alertmanager would
    /// report only after its `repeat_interval` (its last notification, muted by the silence,
    /// still says firing).
    Check {
        /// The page followed or watched.
        page: u64,
        /// The alert's fingerprint.
        fingerprint: String,
        /// Its `alertname`.
        alertname: String,
    },
    /// Ends a silence early: its alert resolved, and a new firing must page again.
    Expire {
        /// The page whose silence it is.
        page: u64,
        /// The silence's id.
        silence: String,
    },
}

/// What Alertmanager answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Response {
    /// The silence exists (made now, or by an earlier try of the same action).
    Silenced {
        /// Its id.
        silence: String,
        /// The labels it matches: all of the alert's, as Alertmanager knows them.
        labels: BTreeMap<String, String>,
    },
    /// Alertmanager does not report the alert as firing: it resolved, or it never came from
    /// Alertmanager. Nothing was silenced.
    NotFiring,
    /// The alert fires, as Alertmanager lists it.
    Firing {
        /// The alert.
        alert: Alert,
    },
    /// The silence is over.
    Expired,
}

impl Request {
    /// The silence of `page`'s alert for `silence_for` from `now`, commented `ACK! <by>`, whose
    /// outcome is told in `place` (a room, and a thread); marks the page as being silenced, so
    /// that no second silence is asked for before Alertmanager answers.
    pub(crate) fn silence(
        page: &mut crate::page::Page,
        by: firebell_core::ids::Person,
        now: DateTime<Utc>,
        settings: &firebell_core::plugin::Settings,
        place: (&RoomRef, Option<&str>),
    ) -> Self {
        page.silencing = true;
        let silence_for = settings.read::<crate::PagingSettings>().silence_for;
        Request::Silence {
            page: page.number,
            fingerprint: page.alert.fingerprint.clone(),
            alertname: page.alert.alertname.clone(),
            starts_at: now,
            ends_at: firebell_core::clock::after(now, silence_for),
            comment: format!("ACK! {by}"),
            room: place.0.clone(),
            thread: place.1.map(str::to_owned),
        }
    }

    /// The call that makes this request, whose answer comes back to the paging plugin of `team`.
    pub fn call(&self, team: &TeamId) -> Action {
        Action::Call {
            service: SILENCE_SERVICE.into(),
            request: serde_json::to_string(self).expect("requests serialize"),
            notify: Some(Notify::new(team, PLUGIN)),
        }
    }
}
