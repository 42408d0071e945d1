//! Per-team plugin settings: their declarations with bounds, and their effective values.
//!
//! A plugin declares each setting once, with its type and bounds ([`SettingSpec`]). The same
//! declaration checks a value written in the config file (at load, refusing the file) and one
//! typed in chat (`!plugins config`, refusing the command), so that no value a person can type
//! reaches a plugin out of bounds. A value kept in the store by an older version that no longer
//! fits is clamped into bounds (or replaced by the default) with a warning, never trusted.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::team::{SettingValue, Team};

/// One minute, for bounds.
pub const MINUTE: Duration = Duration::from_secs(60);
/// One hour, for bounds.
pub const HOUR: Duration = Duration::from_secs(3600);
/// One day, for bounds.
pub const DAY: Duration = Duration::from_secs(86_400);

/// The type of a plugin setting's value, with its bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingKind {
    /// A duration such as `30m` or `1h 30m`, from `min` to `max`.
    Duration {
        /// The shortest allowed.
        min: Duration,
        /// The longest allowed.
        max: Duration,
    },
    /// A whole number from `min` to `max`.
    Integer {
        /// The least allowed.
        min: i64,
        /// The most allowed.
        max: i64,
    },
    /// `true` or `false`.
    Bool,
    /// One word (no spaces) of at most `max_chars` characters, never empty.
    Word {
        /// The most characters allowed.
        max_chars: usize,
    },
    /// The name of someone on the team's roster, or empty for nobody in particular.
    Member,
    /// Any value its type reads with `FromStr` (a time zone, an enum of choices).
    Parsed {
        /// What a value looks like, for error messages (`a time zone like Europe/Madrid`).
        expected: &'static str,
        /// Whether the type reads a value.
        check: ParseCheck,
    },
}

/// How a [`SettingKind::Parsed`] setting checks a value: its type's `FromStr`, as a function.
#[derive(Clone, Copy)]
pub struct ParseCheck(pub fn(&str) -> bool);

impl std::fmt::Debug for ParseCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ParseCheck")
    }
}

impl PartialEq for ParseCheck {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::fn_addr_eq(self.0, other.0)
    }
}

impl Eq for ParseCheck {}

impl SettingKind {
    /// A duration from `min` to `max`.
    pub const fn duration(min: Duration, max: Duration) -> Self {
        SettingKind::Duration { min, max }
    }

    /// A whole number from `min` to `max`.
    pub const fn integer(min: i64, max: i64) -> Self {
        SettingKind::Integer { min, max }
    }

    /// Checks `value` for `team` (whose roster a [`SettingKind::Member`] names); the error says
    /// what was expected, in one line.
    pub fn check(self, value: &str, team: Option<&Team>) -> Result<(), String> {
        let fits = match self {
            SettingKind::Duration { min, max } => {
                humantime::parse_duration(value).is_ok_and(|given| (min..=max).contains(&given))
            }
            SettingKind::Integer { min, max } => value.parse::<i64>().is_ok_and(|given| (min..=max).contains(&given)),
            SettingKind::Bool => value == "true" || value == "false",
            SettingKind::Word { max_chars } => {
                !value.is_empty() && value.chars().count() <= max_chars && !value.contains(char::is_whitespace)
            }
            SettingKind::Member => value.is_empty() || team.is_none_or(|team| team.member_named(value).is_some()),
            SettingKind::Parsed { check, .. } => (check.0)(value),
        };
        if fits {
            Ok(())
        } else {
            Err(format!("expected {}, got {:?}", self.describe(team), crate::command::shown(value)))
        }
    }

    /// What a value looks like, for error messages.
    pub fn describe(self, team: Option<&Team>) -> String {
        match self {
            SettingKind::Duration { min, max } => {
                format!("a duration from {} to {} (like 30m or 1h)", show_duration(min), show_duration(max))
            }
            SettingKind::Integer { min, max } => format!("a whole number from {min} to {max}"),
            SettingKind::Bool => "true or false".to_owned(),
            SettingKind::Word { max_chars } => format!("one word of 1 to {max_chars} characters"),
            SettingKind::Member => match team {
                Some(team) => {
                    let names: Vec<&str> = team.members.iter().map(|m| m.name.as_str()).collect();
                    if names.is_empty() {
                        format!(
                            "\"\" (team {}'s roster is empty: add [[teams.members]] to the config to name someone)",
                            team.id
                        )
                    } else {
                        format!(
                            "the name of someone on team {}'s roster ({}), or \"\" for none",
                            team.id,
                            names.join(", ")
                        )
                    }
                }
                None => "the name of someone on the team's roster, or \"\" for none".to_owned(),
            },
            SettingKind::Parsed { expected, .. } => expected.to_owned(),
        }
    }

    /// `value` brought into bounds, when it can be: a duration or number out of bounds is
    /// clamped; anything unreadable gives `None`. A value that fits comes back as it is.
    fn clamp(self, value: &str, team: Option<&Team>) -> Option<String> {
        if self.check(value, team).is_ok() {
            return Some(value.to_owned());
        }
        match self {
            SettingKind::Duration { min, max } => {
                let given = humantime::parse_duration(value).ok()?;
                Some(show_duration(given.clamp(min, max)))
            }
            SettingKind::Integer { min, max } => Some(value.parse::<i64>().ok()?.clamp(min, max).to_string()),
            _ => self.check(value, team).ok().map(|()| value.to_owned()),
        }
    }
}

/// A duration as people write it: `30m`, `1h 30m`, `1day`.
pub fn show_duration(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

/// The declaration of one per-team plugin setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingSpec {
    /// The key, as written in the config (`handoff_offer_ttl`).
    pub key: &'static str,
    /// The value's type and bounds.
    pub kind: SettingKind,
    /// The default value, as text; it must fit the kind.
    pub default: &'static str,
    /// One sentence saying what it changes.
    pub description: &'static str,
}

/// A plugin's settings as a typed struct, declared by `#[derive(Settings)]`: each field a
/// setting, with its doc comment as description and its default and bounds.
pub trait PluginSettings: Sized {
    /// The declarations, for [`Plugin::settings`](crate::plugin::Plugin::settings).
    const SPECS: &'static [SettingSpec];

    /// The typed values (each within its bounds).
    fn read(settings: &Settings) -> Self;
}

/// Where a setting's effective value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingSource {
    /// The plugin's declared default.
    Default,
    /// The team's section of the config file.
    Config,
    /// A team admin, in chat (`!plugins config`); wins until `!plugins reset`.
    Chat,
}

/// A plugin's effective settings for one team: declared defaults, overridden by the config file,
/// overridden by what the team's admins chose in chat. Every value fits its declaration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    values: BTreeMap<&'static str, (String, SettingSource)>,
}

impl Settings {
    /// The effective settings of a plugin for `team`. A value that does not fit its declaration
    /// (kept by an older version, or a roster that changed since) is clamped into bounds, or
    /// replaced by the next source, with a warning.
    pub fn resolve(
        specs: &'static [SettingSpec],
        team: Option<&Team>,
        configured: Option<&BTreeMap<String, SettingValue>>,
        chosen: Option<&BTreeMap<String, String>>,
    ) -> Self {
        let values = specs
            .iter()
            .map(|spec| {
                let fitted = |value: String, source: SettingSource| {
                    let clamped = spec.kind.clamp(&value, team);
                    if clamped.as_deref() != Some(value.as_str()) {
                        tracing::warn!(
                            setting = spec.key,
                            ?source,
                            given = %crate::command::shown(&value),
                            used = clamped.as_deref().unwrap_or("the next source"),
                            "a stored setting does not fit its bounds"
                        );
                    }
                    clamped.map(|value| (value, source))
                };
                let from_chat = chosen
                    .and_then(|values| values.get(spec.key))
                    .and_then(|value| fitted(value.clone(), SettingSource::Chat));
                let from_config = || {
                    configured
                        .and_then(|values| values.get(spec.key))
                        .and_then(|value| fitted(value.to_string(), SettingSource::Config))
                };
                let value =
                    from_chat.or_else(from_config).unwrap_or_else(|| (spec.default.to_owned(), SettingSource::Default));
                (spec.key, value)
            })
            .collect();
        Self { values }
    }

    /// The settings as the plugin's typed struct.
    pub fn read<T: PluginSettings>(&self) -> T {
        T::read(self)
    }

    /// A setting as text.
    pub fn text(&self, key: &str) -> &str {
        self.values.get(key).map(|(value, _)| value.as_str()).unwrap_or_default()
    }

    /// Where a setting's value comes from (`Default` when undeclared).
    pub fn source(&self, key: &str) -> SettingSource {
        self.values.get(key).map_or(SettingSource::Default, |(_, source)| *source)
    }

    /// A duration setting (zero when undeclared).
    pub fn duration(&self, key: &str) -> Duration {
        humantime::parse_duration(self.text(key)).unwrap_or_default()
    }

    /// A whole-number setting (zero when undeclared).
    pub fn integer(&self, key: &str) -> i64 {
        self.text(key).parse().unwrap_or_default()
    }

    /// A boolean setting (false when undeclared).
    pub fn flag(&self, key: &str) -> bool {
        self.text(key) == "true"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static SPECS: [SettingSpec; 3] = [
        SettingSpec { key: "ttl", kind: SettingKind::duration(MINUTE, DAY), default: "10m", description: "x" },
        SettingSpec { key: "loud", kind: SettingKind::Bool, default: "false", description: "x" },
        SettingSpec { key: "hour", kind: SettingKind::integer(0, 23), default: "9", description: "x" },
    ];

    #[test]
    fn settings_fall_back_to_declared_defaults() {
        let configured = BTreeMap::from([("loud".to_owned(), SettingValue::Bool(true))]);
        let settings = Settings::resolve(&SPECS, None, Some(&configured), None);
        assert_eq!(settings.duration("ttl"), Duration::from_secs(600));
        assert_eq!(settings.source("ttl"), SettingSource::Default);
        assert!(settings.flag("loud"));
        assert_eq!(settings.source("loud"), SettingSource::Config);
        let chosen = BTreeMap::from([("loud".to_owned(), "false".to_owned()), ("ttl".to_owned(), "later".to_owned())]);
        let settings = Settings::resolve(&SPECS, None, Some(&configured), Some(&chosen));
        assert!(!settings.flag("loud"), "chat wins over the file");
        assert_eq!(settings.source("loud"), SettingSource::Chat);
        assert_eq!(settings.duration("ttl"), Duration::from_secs(600), "unreadable values are skipped");
    }

    #[test]
    fn stored_values_out_of_bounds_are_clamped() {
        let chosen = BTreeMap::from([
            ("ttl".to_owned(), "300000y".to_owned()),
            ("hour".to_owned(), "-4".to_owned()),
            ("loud".to_owned(), "maybe".to_owned()),
        ]);
        let settings = Settings::resolve(&SPECS, None, None, Some(&chosen));
        assert_eq!(settings.duration("ttl"), DAY);
        assert_eq!(settings.integer("hour"), 0);
        assert!(!settings.flag("loud"));
        assert_eq!(settings.source("loud"), SettingSource::Default);
    }

    #[test]
    fn checks_say_what_was_expected() {
        let kind = SettingKind::duration(MINUTE, DAY);
        assert_eq!(
            kind.check("soon", None).unwrap_err(),
            "expected a duration from 1m to 1day (like 30m or 1h), got \"soon\""
        );
        assert!(kind.check("0s", None).is_err());
        assert!(kind.check("300000y", None).is_err());
        assert!(kind.check("1day", None).is_ok());
        assert!(SettingKind::integer(0, 23).check("99", None).is_err());
        assert!(SettingKind::integer(0, 23).check("-1", None).is_err());
        assert!(SettingKind::Word { max_chars: 8 }.check("", None).is_err());
        assert!(SettingKind::Word { max_chars: 8 }.check("a b", None).is_err());
        assert!(SettingKind::Word { max_chars: 8 }.check("page", None).is_ok());
    }
}
