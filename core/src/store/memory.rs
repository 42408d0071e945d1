//! The in-process store: the embedded default, and the model the Redis store is tested against.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Instant;

use async_trait::async_trait;

use super::{ApplyError, AuditEntry, Claim, Guard, LogEntry, PluginState, Store, StoreError, TeamSnapshot, Write};
use crate::ids::TeamId;
use crate::incident::{Incident, TimelineEntry};

#[derive(Default)]
struct TeamState {
    revision: u64,
    next_number: u64,
    reservations: HashMap<String, u64>,
    incidents: BTreeMap<u64, Incident>,
    timelines: HashMap<u64, Vec<TimelineEntry>>,
    admin_log: HashMap<String, Vec<LogEntry>>,
    plugins: BTreeMap<String, PluginState>,
    audit: Vec<AuditEntry>,
}

#[derive(Default)]
struct State {
    teams: HashMap<TeamId, TeamState>,
    claims: HashMap<(Option<TeamId>, String), Instant>,
}

/// Keeps everything in this process's memory. One lock makes every [`Store::apply`] atomic.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}

fn claim_key(team: Option<&TeamId>, claim: &Claim) -> (Option<TeamId>, String) {
    (team.cloned(), format!("{}:{}", claim.transport, claim.event_id))
}

impl State {
    fn team(&mut self, team: &TeamId) -> &mut TeamState {
        self.teams.entry(team.clone()).or_default()
    }

    fn is_claimed(&mut self, key: &(Option<TeamId>, String)) -> bool {
        let now = Instant::now();
        self.claims.retain(|_, expires| *expires > now);
        self.claims.contains_key(key)
    }

    fn revision(&self, team: Option<&TeamId>) -> String {
        team.and_then(|team| self.teams.get(team)).map_or(0, |s| s.revision).to_string()
    }

    /// Checks every precondition before anything is written.
    fn check(&self, team: Option<&TeamId>, revision: Option<&str>, writes: &[Write]) -> Result<(), ApplyError> {
        if revision.is_some_and(|revision| revision != self.revision(team)) {
            return Err(ApplyError::Stale);
        }
        let state = team.and_then(|team| self.teams.get(team));
        let stored = |number: u64| state.and_then(|s| s.incidents.get(&number));
        for write in writes {
            match write {
                Write::CreateIncident { incident, .. } if stored(incident.number).is_some() => {
                    return Err(ApplyError::Conflict(incident.number));
                }
                Write::UpdateIncident { incident, .. }
                    if stored(incident.number).is_none_or(|s| s.version != incident.version) =>
                {
                    return Err(ApplyError::Conflict(incident.number));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn write(&mut self, team: &TeamId, write: &Write) {
        let state = self.team(team);
        match write {
            Write::CreateIncident { incident, timeline } | Write::UpdateIncident { incident, timeline } => {
                state.revision += 1;
                let mut stored = incident.clone();
                stored.version = state.incidents.get(&incident.number).map_or(1, |s| s.version + 1);
                state.incidents.insert(incident.number, stored);
                state.timelines.entry(incident.number).or_default().extend(timeline.iter().cloned());
            }
            Write::AppendToOpenTimeline { number, entry } => {
                if state.incidents.get(number).is_some_and(Incident::is_open) {
                    state.timelines.entry(*number).or_default().push(entry.clone());
                }
            }
            Write::AppendAdminLog(entry) => {
                state.admin_log.entry(entry.project.clone()).or_default().push(entry.clone());
            }
            Write::SetPluginState { plugin, state: choices } => {
                state.revision += 1;
                match choices {
                    Some(choices) => state.plugins.insert(plugin.clone(), choices.clone()),
                    None => state.plugins.remove(plugin),
                };
            }
            Write::AppendAudit(entry) => state.audit.push(entry.clone()),
        }
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn snapshot(&self, team: Option<&TeamId>) -> Result<TeamSnapshot, StoreError> {
        let state = self.lock();
        let Some(team_state) = team.and_then(|team| state.teams.get(team)) else {
            return Ok(TeamSnapshot { revision: state.revision(team), ..TeamSnapshot::default() });
        };
        Ok(TeamSnapshot {
            revision: state.revision(team),
            open: team_state.incidents.values().filter(|i| i.is_open()).cloned().collect(),
            plugins: team_state.plugins.clone(),
        })
    }

    async fn apply(&self, team: Option<&TeamId>, guard: Guard<'_>, writes: &[Write]) -> Result<String, ApplyError> {
        let mut state = self.lock();
        let claim = guard.claim.map(|claim| (claim_key(team, claim), claim.ttl));
        if let Some((key, _)) = &claim
            && state.is_claimed(key)
        {
            return Err(ApplyError::Duplicate);
        }
        state.check(team, guard.revision, writes)?;
        if let Some(team) = team {
            for write in writes {
                state.write(team, write);
            }
        }
        if let Some((key, ttl)) = claim {
            state.claims.insert(key, Instant::now() + ttl);
        }
        Ok(state.revision(team))
    }

    async fn reserve_incident_number(&self, team: &TeamId, reservation: &str) -> Result<u64, StoreError> {
        let mut state = self.lock();
        let team = state.team(team);
        if let Some(&number) = team.reservations.get(reservation) {
            return Ok(number);
        }
        team.next_number += 1;
        team.reservations.insert(reservation.to_owned(), team.next_number);
        Ok(team.next_number)
    }

    async fn incident(&self, team: &TeamId, number: u64) -> Result<Option<Incident>, StoreError> {
        Ok(self.lock().teams.get(team).and_then(|s| s.incidents.get(&number)).cloned())
    }

    async fn recent_incidents(&self, team: &TeamId, limit: usize) -> Result<Vec<Incident>, StoreError> {
        let state = self.lock();
        let Some(team) = state.teams.get(team) else { return Ok(Vec::new()) };
        Ok(team.incidents.values().rev().take(limit).cloned().collect())
    }

    async fn timeline(&self, team: &TeamId, number: u64) -> Result<Vec<TimelineEntry>, StoreError> {
        let state = self.lock();
        Ok(state.teams.get(team).and_then(|s| s.timelines.get(&number)).cloned().unwrap_or_default())
    }

    async fn admin_log(&self, team: &TeamId, project: &str, limit: usize) -> Result<Vec<LogEntry>, StoreError> {
        let state = self.lock();
        let entries = state.teams.get(team).and_then(|s| s.admin_log.get(project));
        Ok(newest(entries.map(Vec::as_slice).unwrap_or_default(), limit))
    }

    async fn audit_log(&self, team: &TeamId, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let state = self.lock();
        Ok(newest(state.teams.get(team).map(|s| s.audit.as_slice()).unwrap_or_default(), limit))
    }
}

/// The last `limit` entries, oldest first.
fn newest<T: Clone>(entries: &[T], limit: usize) -> Vec<T> {
    entries[entries.len().saturating_sub(limit)..].to_vec()
}
