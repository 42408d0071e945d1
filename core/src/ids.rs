//! Identifiers that name things across transports: transports, users, rooms, teams and people.
//!
//! A user or a room is always named together with its transport, written `transport:id`
//! (`console:alice`, `matrix:@alice:example.org`, `slack:U0123`). The id part is the platform's own
//! stable id; only adapters know what it means.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The chat platforms Firebell talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// The local stdin/stdout console.
    Console,
    /// A Matrix homeserver.
    Matrix,
    /// A Slack workspace.
    Slack,
}

impl Transport {
    /// Every transport, in a stable order.
    pub const ALL: [Transport; 3] = [Transport::Console, Transport::Matrix, Transport::Slack];

    /// The lowercase name used in `transport:id` references and store keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Console => "console",
            Transport::Matrix => "matrix",
            Transport::Slack => "slack",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a reference that is not written `transport:id`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseRefError {
    /// The text before the first `:` is not a known transport.
    #[error("unknown transport {0:?} (expected console, matrix or slack)")]
    UnknownTransport(String),
    /// There is no `:` or nothing after it.
    #[error("expected transport:id such as console:alice or matrix:@alice:example.org, got {0:?}")]
    Malformed(String),
}

impl FromStr for Transport {
    type Err = ParseRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Transport::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| ParseRefError::UnknownTransport(s.to_owned()))
    }
}

fn split_ref(s: &str) -> Result<(Transport, String), ParseRefError> {
    let (transport, id) = s
        .split_once(':')
        .filter(|(_, id)| !id.trim().is_empty())
        .ok_or_else(|| ParseRefError::Malformed(s.to_owned()))?;
    Ok((transport.parse()?, id.to_owned()))
}

macro_rules! transport_ref {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name {
            /// The platform this reference belongs to.
            pub transport: Transport,
            /// The platform's own stable id.
            pub id: String,
        }

        impl $name {
            /// Makes a reference from its transport and platform id.
            pub fn new(transport: Transport, id: impl Into<String>) -> Self {
                Self { transport, id: id.into() }
            }

            /// A console reference, handy in tests and examples.
            pub fn console(id: impl Into<String>) -> Self {
                Self::new(Transport::Console, id)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}:{}", self.transport, self.id)
            }
        }

        impl FromStr for $name {
            type Err = ParseRefError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let (transport, id) = split_ref(s)?;
                Ok(Self { transport, id })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

transport_ref!(
    /// A user on one transport, written `transport:id`.
    UserRef
);

transport_ref!(
    /// A room (Matrix room, Slack channel, console room) on one transport, written `transport:id`.
    RoomRef
);

/// A team's stable id, as written in the config (`wmcs`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TeamId(String);

/// The error for a team id with characters that are not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a team id of lowercase letters, digits, '-' or '_' starting with a letter, got {0:?}")]
pub struct InvalidTeamId(String);

impl TeamId {
    /// Checks and wraps a team id.
    pub fn new(id: impl Into<String>) -> Result<Self, InvalidTeamId> {
        let id = id.into();
        let mut chars = id.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if valid { Ok(Self(id)) } else { Err(InvalidTeamId(id)) }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TeamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TeamId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        TeamId::new(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// A user together with the name people know them by.
///
/// Stored compactly, as it is in every record and timeline entry: `"console:alice"` when the
/// name is the platform id, else `["slack:U1", "Alice"]`. The older `{"user": …, "name": …}`
/// form is still read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Person {
    /// The user's identity on the transport they used.
    pub user: UserRef,
    /// The display name: the roster name when the user is on a team roster, else what the
    /// platform reported, else the platform id.
    pub name: String,
}

impl Person {
    /// Makes a person from a user and a display name.
    pub fn new(user: UserRef, name: impl Into<String>) -> Self {
        Self { user, name: name.into() }
    }

    /// A console user whose name is their id, handy in tests.
    pub fn console(name: &str) -> Self {
        Self::new(UserRef::console(name), name)
    }

    /// Whether this person and `user` are the same account.
    pub fn is(&self, user: &UserRef) -> bool {
        &self.user == user
    }
}

impl Serialize for Person {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.name == self.user.id {
            self.user.serialize(serializer)
        } else {
            (&self.user, &self.name).serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Person {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// The forms a person has been stored in.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Plain(UserRef),
            Named(UserRef, String),
            Fields { user: UserRef, name: String },
        }
        Ok(match Stored::deserialize(deserializer)? {
            Stored::Plain(user) => Person { name: user.id.clone(), user },
            Stored::Named(user, name) | Stored::Fields { user, name } => Person { user, name },
        })
    }
}

impl fmt::Display for Person {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_round_trip_through_text() {
        let room: RoomRef = "matrix:!abc:example.org".parse().unwrap();
        assert_eq!(room, RoomRef::new(Transport::Matrix, "!abc:example.org"));
        assert_eq!(room.to_string(), "matrix:!abc:example.org");
        let user: UserRef = "console:alice".parse().unwrap();
        assert_eq!(user, UserRef::console("alice"));
    }

    #[test]
    fn bad_references_say_what_was_expected() {
        assert_eq!("irc:#foo".parse::<RoomRef>().unwrap_err(), ParseRefError::UnknownTransport("irc".into()));
        assert!(matches!("alice".parse::<UserRef>(), Err(ParseRefError::Malformed(_))));
        assert!(matches!("console:".parse::<UserRef>(), Err(ParseRefError::Malformed(_))));
    }

    #[test]
    fn people_are_stored_compactly_and_the_old_form_is_still_read() {
        let plain = Person::console("alice");
        let named = Person::new(UserRef::new(Transport::Slack, "U1"), "Alice");
        assert_eq!(serde_json::to_string(&plain).unwrap(), r#""console:alice""#);
        assert_eq!(serde_json::to_string(&named).unwrap(), r#"["slack:U1","Alice"]"#);
        for person in [&plain, &named] {
            let text = serde_json::to_string(person).unwrap();
            assert_eq!(&serde_json::from_str::<Person>(&text).unwrap(), person);
        }
        let old: Person = serde_json::from_str(r#"{"user":"slack:U1","name":"Alice"}"#).unwrap();
        assert_eq!(old, named);
        assert!(serde_json::from_str::<Person>(r#""alice""#).is_err());
    }

    #[test]
    fn team_ids_are_checked() {
        assert!(TeamId::new("wmcs").is_ok());
        assert!(TeamId::new("sre-2").is_ok());
        assert!(TeamId::new("WMCS").is_err());
        assert!(TeamId::new("2x").is_err());
        assert!(TeamId::new("").is_err());
    }
}
