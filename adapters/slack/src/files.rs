//! The files people upload with a command (`!oncall import` captioning an `.ics` upload): the
//! `files:slack` service fetches a file's `url_private_download` with the bot token (scope
//! `files:read`), only from Slack's own hosts, so the token never goes elsewhere.

use std::time::Duration;

use firebell_core::adapter::{AdapterError, FetchRequest, Fetched, MOST_FETCHED_BYTES, Service, files_service};
use firebell_core::async_trait;
use firebell_core::ids::Transport;

/// How long a download may take.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(20);

/// The `files:slack` service.
pub struct SlackFiles {
    client: reqwest::Client,
    token: String,
    /// The hosts the token may be sent to: `files.slack.com` and the Web API's.
    hosts: Vec<String>,
    name: String,
}

/// The host of an http(s) URL, without port.
fn host(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    Some(host.split(':').next().unwrap_or(host))
}

impl SlackFiles {
    /// The service of the bot whose token is `token` and whose Web API is at `api_url`.
    pub fn new(api_url: &str, token: &str) -> Self {
        let client = reqwest::Client::builder()
            .timeout(DOWNLOAD_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        let mut hosts = vec!["files.slack.com".to_owned()];
        hosts.extend(host(api_url).map(str::to_owned));
        Self { client, token: token.to_owned(), hosts, name: files_service(Transport::Slack) }
    }

    async fn fetch(&self, url: &str) -> Fetched {
        let failed = |reason: &str| Fetched::Failed { reason: reason.to_owned() };
        if !host(url).is_some_and(|host| self.hosts.iter().any(|allowed| allowed == host)) {
            return failed("the file is not on Slack's file server");
        }
        let response = match self.client.get(url).bearer_auth(&self.token).send().await {
            Ok(response) => response,
            Err(err) if err.is_timeout() => return failed("Slack took longer than 20 s to send the file"),
            Err(_) => return failed("Slack's file server could not be reached"),
        };
        if !response.status().is_success() {
            return Fetched::Failed { reason: format!("Slack's file server answered {}", response.status()) };
        }
        if response.content_length().is_some_and(|length| length > MOST_FETCHED_BYTES as u64) {
            return failed("the file is larger than 4 MiB");
        }
        match response.bytes().await {
            Ok(bytes) if bytes.len() > MOST_FETCHED_BYTES => failed("the file is larger than 4 MiB"),
            Ok(bytes) => Fetched::Body { text: String::from_utf8_lossy(&bytes).into_owned() },
            Err(_) => failed("the download broke off"),
        }
    }
}

#[async_trait]
impl Service for SlackFiles {
    fn name(&self) -> &str {
        &self.name
    }

    async fn call(&self, _action_id: &str, request: &str) -> Result<String, AdapterError> {
        let request: FetchRequest =
            serde_json::from_str(request).map_err(|err| AdapterError::Refused(format!("not a file request: {err}")))?;
        let fetched = self.fetch(&request.url).await;
        Ok(serde_json::to_string(&fetched).expect("fetch answers serialize"))
    }
}

#[cfg(test)]
mod tests {
    use super::host;

    #[test]
    fn the_token_goes_only_to_slacks_hosts() {
        assert_eq!(host("https://files.slack.com/files-pri/T1-F1/download/x.ics"), Some("files.slack.com"));
        assert_eq!(host("http://127.0.0.1:8080/api/"), Some("127.0.0.1"));
        assert_eq!(host("https://evil.example@files.slack.com/x"), Some("files.slack.com"));
        assert_eq!(host("ftp://files.slack.com/x"), None);
    }
}
