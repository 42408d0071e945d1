//! The sync loop: every message is seen, in order, once.
//!
//! Syncs ask for up to [`TIMELINE_LIMIT`] events per room and leave out the bot's own, so that
//! its replies never crowd out commands. When a room's timeline is `limited` anyway (a burst, or
//! a replica that was away), the events in the gap are fetched with `/messages`, back to where
//! the previous sync ended, and handled first. The sync token moves on only once every message
//! of a sync was decided and kept: when the store does not answer, the same sync is read again
//! after a backoff, so nothing is skipped (what was taken already is recognised by its claim).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use firebell_runtime::bot::Bot;
use firebell_runtime::dispatcher::DispatchError;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::room::{MessagesOptions, Room};
use matrix_sdk::ruma::api::client::filter::FilterDefinition;
use matrix_sdk::ruma::api::client::sync::sync_events::v3::Filter;
use matrix_sdk::ruma::api::error::ErrorKind;
use matrix_sdk::ruma::{OwnedRoomId, RoomId, UInt};
use matrix_sdk::sync::SyncResponse;
use tokio::sync::watch;

use crate::inbound::{Seen, read_event};
use crate::{MatrixAdapter, MatrixError, session};

/// The longest wait between two failed syncs.
const MOST_BACKOFF: Duration = Duration::from_secs(60);
/// How long a sync request waits on the server for news.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);
/// How many timeline events a sync brings per room, at most.
const TIMELINE_LIMIT: u32 = 50;
/// How many pages of a timeline's gap are fetched, at most.
const MOST_GAP_PAGES: usize = 20;
/// How long one message may take to be decided while the store does not answer, before the
/// sync is read again later.
const DECIDE_PATIENCE: Duration = Duration::from_secs(5);

impl MatrixAdapter {
    /// Syncs until `stop` turns true, handing messages to `bot`. Returns an error only when the
    /// session is revoked; other errors are retried with backoff.
    pub async fn run(&self, bot: Arc<Bot>, mut stop: watch::Receiver<bool>) -> Result<(), MatrixError> {
        let team_rooms = self.team_rooms(bot.dispatcher().teams()).await;
        let filter = Filter::FilterDefinition(self.sync_filter());
        let mut backoff = Duration::from_secs(1);
        while !*stop.borrow() {
            let since = self.saved.lock().unwrap_or_else(|p| p.into_inner()).next_batch.clone();
            let mut settings = SyncSettings::default().timeout(SYNC_TIMEOUT).filter(filter.clone());
            if let Some(token) = &since {
                settings = settings.token(token.clone());
            }
            let synced = tokio::select! {
                synced = self.client.sync_once(settings) => synced,
                _ = stop.changed() => break,
            };
            self.connected.store(synced.is_ok(), std::sync::atomic::Ordering::Relaxed);
            let failure = match synced {
                Ok(response) => match self.handle(&bot, &response, since.as_deref(), &team_rooms).await {
                    Ok(()) => {
                        self.remember_token(response.next_batch)?;
                        let _ = self.synced.send(true);
                        backoff = Duration::from_secs(1);
                        continue;
                    }
                    Err(err) => format!("a message could not be taken ({err}); reading the same sync again"),
                },
                Err(err) if matches!(err.client_api_error_kind(), Some(ErrorKind::UnknownToken(_))) => {
                    return Err(MatrixError::LoggedOut(session::path(&self.options).display().to_string()));
                }
                Err(err) => format!("matrix sync failed: {err}"),
            };
            tracing::warn!(reason = %failure, wait = ?backoff, "retrying");
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => break,
            }
            backoff = (backoff * 2).min(MOST_BACKOFF);
        }
        Ok(())
    }

    /// Whether the first sync was handled: until then the bot does not know its rooms.
    pub fn synced(&self) -> watch::Receiver<bool> {
        self.synced.subscribe()
    }

    /// Up to [`TIMELINE_LIMIT`] events per room, none of the bot's own.
    fn sync_filter(&self) -> FilterDefinition {
        let mut filter = FilterDefinition::default();
        filter.room.timeline.limit = Some(UInt::from(TIMELINE_LIMIT));
        filter.room.timeline.not_senders = vec![self.me.clone()];
        filter
    }

    fn remember_token(&self, next_batch: String) -> Result<(), MatrixError> {
        let mut saved = self.saved.lock().unwrap_or_else(|p| p.into_inner());
        saved.next_batch = Some(next_batch);
        session::save(&self.options, &saved)
    }

    /// Handles one sync: invites, then each joined room's messages, those of its timeline's gap
    /// first. Stops at the first message that cannot be taken.
    async fn handle(
        &self,
        bot: &Bot,
        response: &SyncResponse,
        since: Option<&str>,
        team_rooms: &HashSet<OwnedRoomId>,
    ) -> Result<(), DispatchError> {
        for room_id in response.rooms.invited.keys() {
            self.answer_invite(room_id, team_rooms).await;
        }
        for (room_id, update) in &response.rooms.joined {
            let Some(room) = self.client.get_room(room_id) else { continue };
            let mut events = match (update.timeline.limited, update.timeline.prev_batch.as_deref(), since) {
                (true, Some(gap_end), Some(since)) => self.gap(&room, gap_end, since).await,
                _ => Vec::new(),
            };
            events.extend(update.timeline.events.iter().map(|event| event.raw().json().get().to_owned()));
            let mut encrypted = room.encryption_state().is_encrypted();
            for json in &events {
                match read_event(json, self.me.as_str()) {
                    Seen::Text(message) if message.sent_ms >= self.started_ms => {
                        let inbound = self.inbound(&room, message).await;
                        let dispatched = bot.decide(&inbound, DECIDE_PATIENCE).await?;
                        bot.deliver(&dispatched).await;
                    }
                    Seen::Encrypted => encrypted = true,
                    Seen::Text(_) | Seen::Ignored => {}
                }
            }
            if encrypted {
                self.say_encrypted_once(bot, &room).await;
            }
        }
        Ok(())
    }

    /// The events a limited timeline left out, oldest first: from the timeline's start back to
    /// where the previous sync ended.
    async fn gap(&self, room: &Room, gap_end: &str, since: &str) -> Vec<String> {
        let mut events = Vec::new();
        let mut from = gap_end.to_owned();
        for _ in 0..MOST_GAP_PAGES {
            let mut options = MessagesOptions::backward().from(from.as_str());
            options.to = Some(since.to_owned());
            options.limit = UInt::from(100u32);
            options.filter.not_senders = vec![self.me.clone()];
            let page = match room.messages(options).await {
                Ok(page) => page,
                Err(err) => {
                    tracing::error!(room = %room.room_id(), error = %err, "cannot fetch the messages a sync left out");
                    break;
                }
            };
            events.extend(page.chunk.iter().map(|event| event.raw().json().get().to_owned()));
            match page.end {
                Some(end) if !page.chunk.is_empty() && end != from => from = end,
                _ => break,
            }
        }
        if !events.is_empty() {
            tracing::info!(room = %room.room_id(), count = events.len(), "fetched the messages a sync left out");
        }
        events.reverse();
        events
    }

    async fn answer_invite(&self, room_id: &RoomId, team_rooms: &HashSet<OwnedRoomId>) {
        let Some(room) = self.client.get_room(room_id) else { return };
        let answer = if team_rooms.contains(room_id) { room.join().await } else { room.leave().await };
        match answer {
            Ok(()) => tracing::info!(room = %room_id, joined = team_rooms.contains(room_id), "answered an invite"),
            Err(err) => tracing::warn!(room = %room_id, error = %err, "cannot answer an invite"),
        }
    }
}
