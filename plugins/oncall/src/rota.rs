//! What the plugin keeps: the schedule admins set in chat (else the one in the config),
//! overrides, swap requests, the notices' progress, and calendar feed tokens.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use firebell_core::state::{Index, Record, State};
use firebell_core::store::StoreError;
use firebell_core::team::Team;
use serde::{Deserialize, Serialize};

use crate::schedule::{Layer, Override, Restriction, Rotation, Schedule};

/// The id of the one schedule record of a team.
pub(crate) const TEAM: &str = "team";

/// The schedule as set in chat; when there is none, the config's is used.
#[derive(Debug, Clone, Serialize, Deserialize, firebell_core::declare::Record)]
#[record(kind = "schedule", id = id)]
pub(crate) struct StoredSchedule {
    pub(crate) id: String,
    pub(crate) schedule: Schedule,
    /// Who changed it last, and when.
    pub(crate) changed_by: String,
    pub(crate) changed_at: DateTime<Utc>,
}

/// Someone covering an interval, over the layers.
#[derive(Debug, Clone, Serialize, Deserialize, firebell_core::declare::Record)]
#[record(kind = "override", id = key, listed = [OVERRIDES])]
pub(crate) struct OverrideRecord {
    pub(crate) key: String,
    pub(crate) number: u64,
    pub(crate) person: String,
    pub(crate) start: DateTime<Utc>,
    pub(crate) end: DateTime<Utc>,
    /// Who made it, and how (`alice`, `swap S2`, `import`).
    pub(crate) by: String,
}

/// Every override not long over, under the empty key.
pub(crate) const OVERRIDES: Index<OverrideRecord, str> = Index::new("live");

impl OverrideRecord {
    pub(crate) fn new(number: u64, person: &str, (start, end): (DateTime<Utc>, DateTime<Utc>), by: String) -> Self {
        Self { key: format!("O{number}"), number, person: person.to_owned(), start, end, by }
    }

    pub(crate) fn as_override(&self) -> Override {
        Override { person: self.person.clone(), start: self.start, end: self.end }
    }
}

/// A shift offered to someone, waiting for their answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SwapRecord {
    pub(crate) key: String,
    pub(crate) number: u64,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) start: DateTime<Utc>,
    pub(crate) end: DateTime<Utc>,
    /// After this, it can no longer be accepted.
    pub(crate) expires: DateTime<Utc>,
}

/// Open swap requests by who is asked (roster name, lower case).
pub(crate) const SWAPS_TO: Index<SwapRecord, str> = Index::new("to");

impl Record for SwapRecord {
    const KIND: &'static str = "swap";

    fn id(&self) -> String {
        self.key.clone()
    }

    fn indexes(&self) -> Vec<(&'static str, String)> {
        vec![SWAPS_TO.entry(&self.to.to_lowercase())]
    }
}

/// How far the shift notices got, and which gaps were warned about.
#[derive(Debug, Clone, Default, Serialize, Deserialize, firebell_core::declare::Record)]
#[record(kind = "notices", id = id)]
pub(crate) struct Progress {
    pub(crate) id: String,
    /// Every notice due at or before this was given.
    pub(crate) done_until: Option<DateTime<Utc>>,
    /// The starts of the gaps the admins were warned about.
    #[serde(default)]
    pub(crate) warned: Vec<DateTime<Utc>>,
}

/// A person's calendar feed token, kept as its SHA-256 only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FeedToken {
    pub(crate) person: String,
    pub(crate) hash: String,
    pub(crate) made: DateTime<Utc>,
}

impl Record for FeedToken {
    const KIND: &'static str = "feed";
    const UNIQUE: &'static [&'static str] = &["token"];

    fn id(&self) -> String {
        self.person.to_lowercase()
    }

    fn indexes(&self) -> Vec<(&'static str, String)> {
        vec![FEED_TOKENS.entry(&self.hash)]
    }
}

/// Feed tokens by their hash.
pub(crate) const FEED_TOKENS: Index<FeedToken, str> = Index::new("token");

/// The schedule of a team as written in `[teams.config.oncall]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScheduleConfig {
    timezone: Tz,
    #[serde(default)]
    layers: Vec<LayerConfig>,
}

/// One layer as written in the config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LayerConfig {
    name: String,
    rotation: String,
    handoff: String,
    start: NaiveDate,
    participants: Vec<String>,
    #[serde(default)]
    only: Vec<String>,
}

impl ScheduleConfig {
    /// The schedule, checked against `team`'s roster; the error names the key.
    pub(crate) fn schedule(self, team: &Team) -> Result<Schedule, String> {
        let layers = self
            .layers
            .into_iter()
            .enumerate()
            .map(|(n, layer)| layer.layer().map_err(|err| format!("layers[{n}].{err}")))
            .collect::<Result<Vec<_>, _>>()?;
        let schedule = Schedule { timezone: self.timezone, layers };
        schedule.check(|name| team.member_named(name).is_some()).map_err(|err| err.to_string())?;
        Ok(schedule)
    }
}

impl LayerConfig {
    fn layer(self) -> Result<Layer, String> {
        let rotation: Rotation = self.rotation.parse().map_err(|err| format!("rotation: {err}"))?;
        let handoff = crate::when::parse_clock(&self.handoff).map_err(|err| format!("handoff: {err}"))?;
        let restrictions = self
            .only
            .iter()
            .enumerate()
            .map(|(n, only)| only.parse::<Restriction>().map_err(|err| format!("only[{n}]: {err}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Layer {
            name: self.name,
            participants: self.participants,
            rotation,
            handoff,
            start: self.start,
            restrictions,
        })
    }
}

/// The configured schedule of `team`, if any (checked at start, so a bad one reads as none).
pub(crate) fn configured(team: &Team) -> Option<Schedule> {
    team.config_of::<ScheduleConfig>(crate::PLUGIN).ok().flatten().and_then(|config| config.schedule(team).ok())
}

/// The team's schedule: the one set in chat, else the configured one.
pub(crate) async fn schedule(state: &State<'_>, team: &Team) -> Result<Option<Schedule>, StoreError> {
    Ok(match state.get::<StoredSchedule>(TEAM).await? {
        Some(stored) => Some(stored.schedule),
        None => configured(team),
    })
}

/// The overrides not over a day before `now`.
pub(crate) async fn overrides(state: &State<'_>) -> Result<Vec<OverrideRecord>, StoreError> {
    let mut all: Vec<OverrideRecord> = state.find_by(&OVERRIDES, "").await?;
    all.sort_by_key(|o| o.number);
    Ok(all)
}

/// A team's schedule and overrides, read together.
pub(crate) struct Rota {
    pub(crate) schedule: Schedule,
    pub(crate) overrides: Vec<OverrideRecord>,
}

impl Rota {
    /// The team's rota; `None` when it has no schedule and no override.
    pub(crate) async fn read(state: &State<'_>, team: &Team) -> Result<Option<Self>, StoreError> {
        let overrides = overrides(state).await?;
        let schedule = match schedule(state, team).await? {
            Some(schedule) => schedule,
            None if overrides.is_empty() => return Ok(None),
            None => Schedule { timezone: chrono_tz::UTC, layers: Vec::new() },
        };
        Ok(Some(Self { schedule, overrides }))
    }

    /// The overrides, in the order they were made (a later one wins).
    pub(crate) fn overrides(&self) -> Vec<Override> {
        self.overrides.iter().map(OverrideRecord::as_override).collect()
    }
}

/// The overrides over more than a week ago, to forget when writing a new one.
pub(crate) fn stale(overrides: &[OverrideRecord], now: DateTime<Utc>) -> Vec<&OverrideRecord> {
    overrides.iter().filter(|o| o.end < now - Duration::days(7)).collect()
}

/// Swap requests open for `to` (a roster name).
pub(crate) async fn swaps_for(state: &State<'_>, to: &str) -> Result<Vec<SwapRecord>, StoreError> {
    state.find_by(&SWAPS_TO, &to.to_lowercase()).await
}
