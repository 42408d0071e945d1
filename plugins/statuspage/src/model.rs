//! What the status page shows, in the Atlassian Statuspage model: components with a state, and
//! user-facing incidents with public updates (investigating, identified, monitoring, resolved).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use firebell_core::declare::Record;
use serde::{Deserialize, Serialize};

/// A component's state, as Statuspage names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentState {
    /// Working.
    Operational,
    /// Planned work.
    UnderMaintenance,
    /// Slow or flaky.
    DegradedPerformance,
    /// Down for some.
    PartialOutage,
    /// Down.
    MajorOutage,
}

impl ComponentState {
    /// Every state, in the order of its words.
    pub const ALL: [ComponentState; 5] = [
        ComponentState::Operational,
        ComponentState::DegradedPerformance,
        ComponentState::PartialOutage,
        ComponentState::MajorOutage,
        ComponentState::UnderMaintenance,
    ];

    /// The word typed in chat and shown (`degraded`).
    pub fn word(self) -> &'static str {
        match self {
            ComponentState::Operational => "operational",
            ComponentState::DegradedPerformance => "degraded",
            ComponentState::PartialOutage => "partial",
            ComponentState::MajorOutage => "major",
            ComponentState::UnderMaintenance => "maintenance",
        }
    }

    /// Statuspage's name for it (`degraded_performance`).
    pub fn api_name(self) -> &'static str {
        match self {
            ComponentState::Operational => "operational",
            ComponentState::DegradedPerformance => "degraded_performance",
            ComponentState::PartialOutage => "partial_outage",
            ComponentState::MajorOutage => "major_outage",
            ComponentState::UnderMaintenance => "under_maintenance",
        }
    }

    /// How people read it (`Degraded performance`).
    pub fn label(self) -> &'static str {
        match self {
            ComponentState::Operational => "Operational",
            ComponentState::DegradedPerformance => "Degraded performance",
            ComponentState::PartialOutage => "Partial outage",
            ComponentState::MajorOutage => "Major outage",
            ComponentState::UnderMaintenance => "Under maintenance",
        }
    }
}

/// Why a typed state is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateError(String);

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StateError {}

impl FromStr for ComponentState {
    type Err = StateError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.trim().to_lowercase().replace([' ', '-'], "_");
        ComponentState::ALL.into_iter().find(|state| state.word() == lower || state.api_name() == lower).ok_or_else(
            || {
                StateError(format!(
                    "expected a state: operational, degraded, partial, major or maintenance; got {:?}",
                    text.chars().take(40).collect::<String>()
                ))
            },
        )
    }
}

/// Where a user-facing incident is, as its public updates say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicState {
    /// Looking for the cause.
    Investigating,
    /// The cause is known.
    Identified,
    /// A fix is in; watching.
    Monitoring,
    /// Over.
    Resolved,
}

impl PublicState {
    /// Its name, as typed and as Statuspage's API writes it.
    pub fn word(self) -> &'static str {
        match self {
            PublicState::Investigating => "investigating",
            PublicState::Identified => "identified",
            PublicState::Monitoring => "monitoring",
            PublicState::Resolved => "resolved",
        }
    }

    /// How people read it.
    pub fn label(self) -> &'static str {
        match self {
            PublicState::Investigating => "Investigating",
            PublicState::Identified => "Identified",
            PublicState::Monitoring => "Monitoring",
            PublicState::Resolved => "Resolved",
        }
    }
}

/// One public update of an incident: what users read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicUpdate {
    /// Its number within the incident, from 1.
    pub number: u32,
    /// The state it announces.
    pub state: PublicState,
    /// The text.
    pub text: String,
    /// When it went out.
    pub at: DateTime<Utc>,
}

/// The public side of a user-facing incident (record id `WMCS-3`): its updates, and whether a
/// security incident was disclosed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicIncident {
    /// `WMCS-3`.
    pub key: String,
    /// The public updates, oldest first.
    #[serde(default)]
    pub updates: Vec<PublicUpdate>,
    /// When a security incident was disclosed (`!incident disclose`); until then it is never
    /// shown.
    #[serde(default)]
    pub disclosed_at: Option<DateTime<Utc>>,
    /// The update drafted and shown to its author, not yet published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft: Option<PublicUpdate>,
}

impl Record for PublicIncident {
    const KIND: &'static str = "public";

    fn id(&self) -> String {
        self.key.clone()
    }

    fn indexes(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// A component's state, as last set (record id: the component's name, lower case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    /// Its name as configured.
    pub name: String,
    /// Its state.
    pub state: ComponentState,
    /// When it was set.
    pub changed_at: DateTime<Utc>,
}

impl Record for Component {
    const KIND: &'static str = "component";

    fn id(&self) -> String {
        self.name.to_lowercase()
    }

    fn indexes(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_as_typed_and_as_statuspage_names_them() {
        assert_eq!("degraded".parse(), Ok(ComponentState::DegradedPerformance));
        assert_eq!("degraded_performance".parse(), Ok(ComponentState::DegradedPerformance));
        assert_eq!("Major Outage".parse(), Ok(ComponentState::MajorOutage));
        let err = "broken".parse::<ComponentState>().unwrap_err().to_string();
        assert!(err.starts_with("expected a state: operational, degraded"), "{err}");
    }
}

#[cfg(test)]
mod properties {
    //! Whatever a person types as a component's state reads as one or says what was expected, in
    //! one line. `FIREBELL_FUZZ_CASES` sets the number of cases (`scripts/fuzz` runs millions).

    use proptest::prelude::*;

    use super::ComponentState;

    fn cases() -> u32 {
        std::env::var("FIREBELL_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(3000)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn typed_states_read_or_say_what_was_expected(text in prop_oneof![".{0,60}", "(?i)(major|partial|degraded|operational|maintenance)[ _-]?(outage|performance)?"]) {
            match text.parse::<ComponentState>() {
                Ok(state) => prop_assert!(ComponentState::ALL.contains(&state)),
                Err(err) => {
                    let said = err.to_string();
                    prop_assert!(said.starts_with("expected a state") && !said.contains('\n'), "{said}");
                }
            }
        }
    }
}
