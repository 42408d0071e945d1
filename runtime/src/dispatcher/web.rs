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
    pub async fn serve_web(&self, path: &str, query: Vec<(String, String)>, user: Option<String>) -> WebResponse {
        let key = cache_key(path, &query);
        if let Some(kept) = self.web_cache.get(&key) {
            return kept;
        }
        let response = self.make_page(path, query, user).await;
        if let Some(keep) =
            public_max_age(&response).map(|age| age.min(self.options.web_cache)).filter(|keep| !keep.is_zero())
        {
            self.web_cache.keep(key, response.clone(), keep);
        }
        response
    }

    async fn make_page(&self, path: &str, query: Vec<(String, String)>, user: Option<String>) -> WebResponse {
        let found = self.registry.plugins().iter().find_map(|plugin| {
            let prefix = plugin.web_paths().iter().find(|prefix| path.starts_with(**prefix))?;
            Some((plugin, &path[prefix.len()..]))
        });
        let Some((plugin, after_prefix)) = found else { return WebResponse::not_found() };
        let Some((team, rest)) = self.team_of_segment(after_prefix) else { return WebResponse::not_found() };
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
            links: &self.links,
        };
        let request = WebRequest { path: path.to_owned(), rest: rest.to_owned(), query, user };
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

    /// The team a web path's segment names, and the rest of the path: `wmcs.ics` and
    /// `wmcs/alice.ics` name `wmcs`; so does an id in the team's capitals, `WMCS-3` (rest `-3`).
    fn team_of_segment<'p>(&self, after_prefix: &'p str) -> Option<(&firebell_core::team::Team, &'p str)> {
        let (segment, rest) = split_team(after_prefix);
        if let Some(team) = self.teams.get(segment) {
            return Some((team, rest));
        }
        let (prefix, number) = segment.rsplit_once('-')?;
        let team = self.teams.iter().find(|team| team.incident_prefix() == prefix)?;
        let at = after_prefix.len() - rest.len() - number.len() - 1;
        Some((team, &after_prefix[at..]))
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

/// The most pages a replica keeps.
const MOST_KEPT_PAGES: usize = 512;

/// Public pages kept for a few seconds.
#[derive(Default)]
pub(crate) struct PageCache {
    pages: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, WebResponse)>>,
}

impl PageCache {
    fn get(&self, key: &str) -> Option<WebResponse> {
        let pages = self.pages.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        pages.get(key).filter(|(until, _)| *until > std::time::Instant::now()).map(|(_, page)| page.clone())
    }

    fn keep(&self, key: String, page: WebResponse, keep: std::time::Duration) {
        let mut pages = self.pages.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = std::time::Instant::now();
        if pages.len() >= MOST_KEPT_PAGES {
            pages.retain(|_, (until, _)| *until > now);
            if pages.len() >= MOST_KEPT_PAGES {
                pages.clear();
            }
        }
        pages.insert(key, (now + keep, page));
    }
}

fn cache_key(path: &str, query: &[(String, String)]) -> String {
    let mut key = path.to_owned();
    for (name, value) in query {
        key.push_str(&format!("\u{1f}{name}={value}"));
    }
    key
}

/// How long a response may be kept by a shared cache: `Cache-Control: public, max-age=N`.
fn public_max_age(response: &WebResponse) -> Option<std::time::Duration> {
    if response.status != 200 {
        return None;
    }
    let (_, control) = response.headers.iter().find(|(name, _)| name.eq_ignore_ascii_case("cache-control"))?;
    let mut directives = control.split(',').map(str::trim);
    let public = control.split(',').any(|d| d.trim() == "public");
    let age = directives.find_map(|d| d.strip_prefix("max-age="))?.parse().ok()?;
    public.then(|| std::time::Duration::from_secs(age))
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
