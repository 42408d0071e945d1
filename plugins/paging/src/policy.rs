//! A team's escalation policy: who a page nobody acknowledges reaches next, and when. The seed's
//! is the default: after 10 minutes everyone in the on-call person's timezone, after 30 everyone
//! on the team. A team writes its own as `escalation = "5m timezone, 15m admins, 30m everyone"`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The most steps a policy has.
pub(crate) const MOST_STEPS: usize = 8;

/// What a policy looks like, for error messages.
pub(crate) const EXPECTED: &str = "steps like \"10m timezone, 30m everyone\": a wait from 1s to 1day, then timezone, everyone, admins, oncall or a roster name; waits growing";

/// Who a step reaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Who {
    /// Everyone who shares the on-call person's UTC offset now, but them.
    Timezone,
    /// Everyone on the team.
    Everyone,
    /// The team's admins.
    Admins,
    /// The on-call person again.
    Oncall,
    /// A roster member, by name.
    Member(String),
}

/// One step: `after` the page opened, reach `who`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// How long after the page opened.
    #[serde(with = "humantime_serde_secs")]
    pub after: Duration,
    /// Who it reaches.
    pub who: Who,
}

/// Serde of a wait as whole seconds.
mod humantime_serde_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(wait: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(wait.as_secs())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_secs)
    }
}

/// The steps of a team's policy, in order; empty when the team keeps the two steps of the
/// `escalate_timezone_after` and `escalate_all_after` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy(pub Vec<Step>);

/// Why a policy cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {EXPECTED}; got {0:?}")]
pub struct PolicyError(String);

impl FromStr for Policy {
    type Err = PolicyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let refused = || PolicyError(text.chars().take(80).collect());
        let mut steps = Vec::new();
        for part in text.split(',').map(str::trim).filter(|part| !part.is_empty()) {
            let (wait, who) = part.rsplit_once(' ').ok_or_else(refused)?;
            let after = humantime::parse_duration(wait.trim()).map_err(|_| refused())?;
            if !(Duration::from_secs(1)..=Duration::from_secs(86_400)).contains(&after) {
                return Err(refused());
            }
            let who = match who.to_lowercase().as_str() {
                "timezone" => Who::Timezone,
                "everyone" => Who::Everyone,
                "admins" => Who::Admins,
                "oncall" => Who::Oncall,
                name if !name.is_empty() && name.len() <= 64 && !name.contains(char::is_whitespace) => {
                    Who::Member(name.trim_start_matches('@').to_owned())
                }
                _ => return Err(refused()),
            };
            if steps.last().is_some_and(|last: &Step| last.after > after) || steps.len() == MOST_STEPS {
                return Err(refused());
            }
            steps.push(Step { after, who });
        }
        Ok(Self(steps))
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let steps: Vec<String> = self
            .0
            .iter()
            .map(|step| {
                let who = match &step.who {
                    Who::Timezone => "timezone",
                    Who::Everyone => "everyone",
                    Who::Admins => "admins",
                    Who::Oncall => "oncall",
                    Who::Member(name) => name,
                };
                format!("{} {who}", humantime::format_duration(step.after))
            })
            .collect();
        f.write_str(&steps.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_read_and_write_back() {
        let policy: Policy = "5m timezone, 15m admins, 30m everyone, 1h bob".parse().unwrap();
        assert_eq!(policy.0.len(), 4);
        assert_eq!(policy.0[3], Step { after: Duration::from_secs(3600), who: Who::Member("bob".into()) });
        assert_eq!(policy.to_string(), "5m timezone, 15m admins, 30m everyone, 1h bob");
        assert_eq!("".parse::<Policy>().unwrap(), Policy::default());
        for wrong in
            ["soon everyone", "10m", "30m everyone, 10m timezone", "0s everyone", "2days everyone", "10m two words"]
        {
            let err = wrong.parse::<Policy>().unwrap_err().to_string();
            assert!(err.starts_with("expected steps like"), "{wrong}: {err}");
        }
        let nine = ["1m everyone"; 9].join(", ");
        assert!(nine.parse::<Policy>().is_err(), "at most 8 steps");
    }
}
