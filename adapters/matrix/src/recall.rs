//! Finding what the bot sent before: every event it sends carries its action's id in the
//! content (`org.firebell.action`), so that a replica sending what another one left (it died
//! between sending and recording the send) looks in the room's recent timeline for the id before
//! sending again. A transaction id alone would not do: another replica is another device, and
//! the homeserver deduplicates transaction ids per device only.

use firebell_core::adapter::AdapterError;
use firebell_core::chrono::{DateTime, Utc};
use matrix_sdk::room::{MessagesOptions, Room};
use matrix_sdk::ruma::{OwnedUserId, UInt};
use serde_json::Value;

/// The content field that carries the action's id.
pub(crate) const ACTION_FIELD: &str = "org.firebell.action";
/// How many pages of the timeline are looked through, at most.
const MOST_PAGES: usize = 5;

/// Whether `room`'s timeline holds an event of `me` carrying `action_id`, sent since `since`.
pub(crate) async fn sent_in(
    room: &Room,
    me: &OwnedUserId,
    action_id: &str,
    since: DateTime<Utc>,
) -> Result<bool, AdapterError> {
    let oldest = since.timestamp_millis().saturating_sub(5_000);
    let mut from: Option<String> = None;
    for _ in 0..MOST_PAGES {
        let mut options = MessagesOptions::backward().from(from.as_deref());
        options.limit = UInt::from(100u32);
        options.filter.senders = Some(vec![me.clone()]);
        let page = room.messages(options).await.map_err(|err| AdapterError::Platform(err.to_string()))?;
        for event in &page.chunk {
            let Ok(json) = serde_json::from_str::<Value>(event.raw().json().get()) else { continue };
            if json["content"][ACTION_FIELD] == action_id {
                return Ok(true);
            }
            if json["origin_server_ts"].as_i64().is_some_and(|ts| ts < oldest) {
                return Ok(false);
            }
        }
        match page.end {
            Some(end) if !page.chunk.is_empty() => from = Some(end),
            _ => break,
        }
    }
    Ok(false)
}
