//! What the dispatcher does besides chat: plugins' web pages, and the start of a replica.

use firebell_core::plugin::{Event, PluginError, STARTED, Settings, TeamContext, WebRequest, WebResponse, is_enabled};
use firebell_core::state::{Reads, State};

use super::Dispatcher;

/// A plugin web path's team segment: up to the next `/` or `.`.
fn split_team(after_prefix: &str) -> (&str, &str) {
    let end = after_prefix.find(['/', '.']).unwrap_or(after_prefix.len());
    after_prefix.split_at(end)
}

impl Dispatcher {
    /// Answers a `GET` of `path` for the plugin serving it, reading fresh state (no cache: a
    /// feed must show what another replica changed). Unknown paths and teams, and plugins
    /// disabled for the team, get the same 404; a store that does not answer, 503.
    pub async fn serve_web(&self, path: &str, query: Vec<(String, String)>) -> WebResponse {
        let found = self.registry.plugins().iter().find_map(|plugin| {
            let prefix = plugin.web_paths().iter().find(|prefix| path.starts_with(**prefix))?;
            Some((plugin, &path[prefix.len()..]))
        });
        let Some((plugin, after_prefix)) = found else { return WebResponse::not_found() };
        let (team_id, rest) = split_team(after_prefix);
        let Some(team) = self.teams.get(team_id) else { return WebResponse::not_found() };
        let reads = Reads::new(self.store.as_ref(), Some(&team.id), None);
        let choices = match self.choices(&reads).await {
            Ok(choices) => choices,
            Err(err) => return unavailable(&err.to_string()),
        };
        if !is_enabled(plugin.as_ref(), team, &choices) {
            return WebResponse::not_found();
        }
        let settings = Settings::of(plugin.as_ref(), team, &choices);
        let ctx = TeamContext {
            cause: path,
            now: self.clock.now(),
            team,
            state: State::new(&reads, plugin.name()),
            reads: &reads,
            settings: &settings,
            teams: &self.teams,
            prefix: &self.options.prefix,
            web_url: &self.options.web_url,
        };
        let request = WebRequest { path: path.to_owned(), rest: rest.to_owned(), query };
        match plugin.serve(&ctx, &request).await {
            Ok(response) => response,
            Err(PluginError::Store(err)) => unavailable(&err.to_string()),
            Err(PluginError::Usage(message) | PluginError::Refused(message)) => {
                WebResponse::text(400, &format!("{message}\n"))
            }
            Err(err) => {
                tracing::warn!(plugin = plugin.name(), %path, error = %err, "a plugin's web page failed");
                unavailable("the page could not be made")
            }
        }
    }

    /// The [`STARTED`] events of this start (`replica` and `boot`, unique per process): one per
    /// team for every plugin that hears the start. The bot handles them like any event.
    pub fn start_events(&self, replica: &str, boot: u64) -> Vec<Event> {
        let mut events = Vec::new();
        for team in self.teams.iter() {
            for plugin in self.registry.plugins().iter().filter(|plugin| plugin.hears_start()) {
                events.push(Event {
                    id: format!("{STARTED}:{}:{}:{replica}:{boot}", plugin.name(), team.id),
                    team: team.id.clone(),
                    plugin: plugin.name().to_owned(),
                    kind: STARTED.to_owned(),
                    data: String::new(),
                });
            }
        }
        events
    }
}

fn unavailable(reason: &str) -> WebResponse {
    tracing::warn!(reason, "a web page could not be read from the store");
    WebResponse::text(503, "the store is not answering; try again in a moment\n").header("Retry-After", "5")
}

#[cfg(test)]
mod tests {
    use super::split_team;

    #[test]
    fn the_team_is_the_segment_after_the_prefix() {
        assert_eq!(split_team("wmcs.ics"), ("wmcs", ".ics"));
        assert_eq!(split_team("wmcs/alice.ics"), ("wmcs", "/alice.ics"));
        assert_eq!(split_team("wmcs"), ("wmcs", ""));
        assert_eq!(split_team(""), ("", ""));
    }
}
