//! The framework's own state, kept like a plugin's under the namespace [`FRAMEWORK`]: each
//! team's chat-made plugin choices, and the rooms plugins made for one subject.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Record, State};
use crate::ids::{Person, RoomRef};
use crate::store::{StoreError, Write};

/// The namespace of the framework's own records.
pub const FRAMEWORK: &str = "firebell";

/// The team's audit stream, in the framework's namespace: what its admins changed (`!plugins
/// …`) and what the bot found wrong (a record it cannot read). `!plugins audit` shows it.
pub const AUDIT: &str = "audit";

/// How many audit entries a team keeps.
pub const AUDIT_KEPT: u64 = 10_000;

/// One entry of a team's audit stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Who: an admin, or the person whose command met the problem.
    pub by: Person,
    /// What, e.g. `disable sal`, `config incident handoff_offer_ttl`, `unreadable record`.
    pub action: String,
    /// The value before (or what was found).
    pub before: String,
    /// The value after (or what was done).
    pub after: String,
}

impl AuditEntry {
    /// The framework's own writes that add this entry to the team's audit stream.
    pub fn writes(&self) -> [Write; 2] {
        [
            Write::Append {
                namespace: FRAMEWORK.to_owned(),
                stream: AUDIT.to_owned(),
                entry: serde_json::to_string(self).expect("audit entries serialize"),
            },
            Write::Trim { namespace: FRAMEWORK.to_owned(), stream: AUDIT.to_owned(), keep: AUDIT_KEPT },
        ]
    }
}

/// A team's choices for one plugin, made in chat by its admins. They win over the config file
/// until the plugin is reset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginChoice {
    /// The plugin's name.
    pub plugin: String,
    /// Enabled (`true`) or disabled (`false`) by an admin; `None` follows the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Settings an admin changed, by key, as text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, String>,
}

impl PluginChoice {
    /// Whether nothing is chosen: the plugin follows the config file.
    pub fn is_empty(&self) -> bool {
        self.enabled.is_none() && self.settings.is_empty()
    }
}

/// Every plugin's choices for one team: one record, read by every decision (they are rarely
/// changed, and one record costs one check in each guard).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choices {
    by_plugin: BTreeMap<String, PluginChoice>,
}

impl Record for Choices {
    const KIND: &'static str = "choices";

    fn id(&self) -> String {
        Self::ID.to_owned()
    }
}

impl Choices {
    /// The id of a team's choices record.
    pub const ID: &'static str = "team";

    /// Reads the team's choices from the framework's namespace.
    pub async fn read(state: &State<'_>) -> Result<Self, StoreError> {
        Ok(state.get::<Choices>(Self::ID).await?.unwrap_or_default())
    }

    /// The choices for `plugin`, if any were made.
    pub fn get(&self, plugin: &str) -> Option<&PluginChoice> {
        self.by_plugin.get(plugin)
    }

    /// The choices with `choice` replacing those of its plugin (dropped when empty).
    pub fn with(mut self, choice: PluginChoice) -> Self {
        if choice.is_empty() {
            self.by_plugin.remove(&choice.plugin);
        } else {
            self.by_plugin.insert(choice.plugin.clone(), choice);
        }
        self
    }
}

/// A room a plugin made for one subject (an incident's own room): commands there are about
/// that subject, and belong to the plugin's team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomOwner {
    /// The room.
    pub room: RoomRef,
    /// The plugin that made it.
    pub plugin: String,
    /// What it is about, in the plugin's words (an incident's number).
    pub subject: String,
}

impl Record for RoomOwner {
    const KIND: &'static str = "room";

    fn id(&self) -> String {
        self.room.to_string()
    }
}
