//! The Firebell application: the configuration file and the wiring of the shipped plugins and
//! stores, and [`App`], the whole binary as a library. The `firebell` binary is `App::new()`;
//! a binary of your own adds its plugins to it. Tests and benchmarks use it too.

mod app;
pub mod config;
pub mod http;

pub use app::App;

use std::sync::Arc;

use firebell_core::plugin::{Plugin, Registry};
use firebell_core::store::Store;
use firebell_store_memory::MemoryStore;
use firebell_store_redis::{RedisOptions, RedisStore, RedisStoreError};

/// Every plugin that ships with Firebell, with `!ack` silencing alerts when `silences` is set
/// (the bot then needs the Alertmanager silence service).
pub fn plugins(silences: bool) -> Registry {
    let mut registry = Registry::new();
    registry
        .register_trusted(Arc::new(firebell_plugin_admin::AdminPlugin))
        .expect("the admin plugin is the first registered");
    let plugins: [Arc<dyn Plugin>; 6] = [
        Arc::new(firebell_plugin_incident::IncidentPlugin),
        Arc::new(firebell_plugin_oncall::OncallPlugin),
        Arc::new(firebell_plugin_paging::PagingPlugin::new(silences)),
        Arc::new(firebell_plugin_sal::SalPlugin),
        Arc::new(firebell_plugin_status::StatusPlugin),
        Arc::new(firebell_plugin_statuspage::StatuspagePlugin),
    ];
    for plugin in plugins {
        registry.register(plugin).expect("the standard plugins have distinct names and commands");
    }
    registry
}

/// Every plugin that ships with Firebell, without Alertmanager silences.
pub fn standard_plugins() -> Registry {
    plugins(false)
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenStoreError {
    /// The URL has an unknown scheme.
    #[error("store URL: {0}")]
    Url(String),
    /// Redis could not be reached.
    #[error(transparent)]
    Redis(#[from] RedisStoreError),
}

/// Opens the store at `url`: `memory://`, or Redis at `redis://` or `rediss://` (keys under
/// the namespace of `options`, TLS checked against its CA file when given).
pub async fn open_store(url: &str, options: &config::StoreConfig) -> Result<Arc<dyn Store>, OpenStoreError> {
    config::check_store_url(url).map_err(OpenStoreError::Url)?;
    if url == "memory://" {
        return Ok(Arc::new(MemoryStore::new()));
    }
    let sentinel_password = options.sentinel_password();
    let redis = RedisOptions {
        url,
        namespace: &options.namespace,
        ca_file: options.ca_file.as_deref(),
        sentinel_password: sentinel_password.as_deref(),
        sentinel_user: options.sentinel_user.as_deref(),
    };
    Ok(Arc::new(RedisStore::open(&redis).await?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_committed_slack_manifest_matches_the_command_declarations() {
        let committed = include_str!("../adapters/slack/manifest.yml");
        let generated = firebell_slack::manifest::manifest(&super::standard_plugins(), "Firebell", None).unwrap();
        assert_eq!(committed, generated, "regenerate it: firebell --slack-manifest > adapters/slack/manifest.yml");
        for command in [
            "/incident",
            "/ic",
            "/ack",
            "/page",
            "/log",
            "/firebell-status",
            "/firebell-help",
            "/plugins",
            "/oncall",
            "/sal",
        ] {
            assert!(committed.contains(&format!("- command: {command}\n")), "{command}");
        }
        for line in committed.lines().filter_map(|line| line.trim().strip_prefix("- command: /")) {
            assert!(!firebell_slack::manifest::BUILT_IN_COMMANDS.contains(&line), "Slack keeps /{line} for itself");
        }
        assert!(committed.contains("messages_tab_enabled: true"), "direct messages reach the bot");
    }
}
