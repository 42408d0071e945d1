//! Finding what the bot posted before: every message carries its action's id in Slack message
//! `metadata` (`event_type` `firebell_action`), so that a replica sending what another one left
//! (it died between posting and recording the post) looks in the channel's history, or the
//! thread's replies, for the id before posting again.

use firebell_core::adapter::AdapterError;
use firebell_core::chrono::{DateTime, Utc};
use serde_json::Value;
use slack_morphism::prelude::SlackMessageMetadata;

/// The metadata `event_type` of Firebell's messages.
pub(crate) const EVENT_TYPE: &str = "firebell_action";
/// How many pages of history are looked through, at most.
const MOST_PAGES: usize = 5;

/// The metadata a message of action `action_id` carries.
pub(crate) fn metadata(action_id: &str) -> SlackMessageMetadata {
    SlackMessageMetadata {
        event_type: EVENT_TYPE.to_owned(),
        event_payload: Some([("action".to_owned(), action_id.to_owned())].into()),
    }
}

/// Whether a listed message is the one of `action_id`.
fn is_action(message: &Value, action_id: &str) -> bool {
    let metadata = &message["metadata"];
    metadata["event_type"] == EVENT_TYPE && metadata["event_payload"]["action"] == action_id
}

/// Reads Slack's history with `include_all_metadata`, which slack-morphism's requests lack.
pub(crate) struct History {
    client: reqwest::Client,
    api_url: String,
    token: String,
}

impl History {
    /// A reader of the Web API at `api_url` with the bot token.
    pub(crate) fn new(api_url: &str, token: &str) -> Self {
        let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build().unwrap_or_default();
        Self { client, api_url: api_url.trim_end_matches('/').to_owned(), token: token.to_owned() }
    }

    /// Whether a message of `action_id` was posted in `channel` (in `thread`, when given) since
    /// `since`.
    pub(crate) async fn contains(
        &self,
        channel: &str,
        thread: Option<&str>,
        action_id: &str,
        since: DateTime<Utc>,
    ) -> Result<bool, AdapterError> {
        let oldest = format!("{}.000000", since.timestamp().saturating_sub(5));
        let (method, mut query) = match thread {
            Some(ts) => ("conversations.replies", vec![("channel", channel.to_owned()), ("ts", ts.to_owned())]),
            None => ("conversations.history", vec![("channel", channel.to_owned())]),
        };
        query.extend([("oldest", oldest), ("limit", "200".to_owned()), ("include_all_metadata", "true".to_owned())]);
        let mut cursor = None;
        for _ in 0..MOST_PAGES {
            let mut page = query.clone();
            if let Some(cursor) = cursor.take() {
                page.push(("cursor", cursor));
            }
            let listed = self.get(method, &page).await?;
            let messages = listed["messages"].as_array().map(Vec::as_slice).unwrap_or_default();
            if messages.iter().any(|message| is_action(message, action_id)) {
                return Ok(true);
            }
            cursor = listed["response_metadata"]["next_cursor"].as_str().filter(|c| !c.is_empty()).map(str::to_owned);
            if cursor.is_none() {
                break;
            }
        }
        Ok(false)
    }

    /// The channel of the bot's direct messages with `user`.
    pub(crate) async fn direct_channel(&self, user: &str) -> Result<String, AdapterError> {
        let opened = self.get("conversations.open", &[("users", user.to_owned())]).await?;
        opened["channel"]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| AdapterError::Platform("no DM channel".into()))
    }

    /// The channel's topic.
    pub(crate) async fn topic(&self, channel: &str) -> Result<String, AdapterError> {
        let info = self.get("conversations.info", &[("channel", channel.to_owned())]).await?;
        Ok(info["channel"]["topic"]["value"].as_str().unwrap_or_default().to_owned())
    }

    async fn get(&self, method: &str, query: &[(&str, String)]) -> Result<Value, AdapterError> {
        let url = reqwest::Url::parse_with_params(&format!("{}/{method}", self.api_url), query)
            .map_err(|err| AdapterError::Refused(format!("bad Slack API URL: {err}")))?;
        let response = self.client.get(url).bearer_auth(&self.token).send().await;
        let response = response.map_err(|err| AdapterError::Platform(format!("Slack unreachable: {err}")))?;
        let status = response.status();
        let text = response.text().await.map_err(|err| AdapterError::Platform(format!("{method}: {err}")))?;
        let body: Value =
            serde_json::from_str(&text).map_err(|err| AdapterError::Platform(format!("{method}: {status}: {err}")))?;
        if body["ok"] == true {
            return Ok(body);
        }
        let code = body["error"].as_str().unwrap_or("unknown error");
        Err(crate::classify(code))
    }
}
