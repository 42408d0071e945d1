//! The dispatcher: from a cause (a chat message, a due job, an outside event) to the actions that
//! answer it.
//!
//! Every cause goes through the same loop: let the plugin decide, remembering what it read and
//! at which version, and apply its writes through the store in one atomic step guarded by the
//! cause's claim, those versions and, for a job, the job's token. When something read changed
//! in between (another replica, another command on the same record), the plugin decides again
//! after a short jittered pause, until a deadline; when the cause was claimed already (another
//! replica, a platform retry) nothing is sent again.
//!
//! What a command or event sends is kept in the store with its writes, beside a delivery
//! watchdog job (see [`DELIVERY_WATCHDOG`](firebell_core::job::DELIVERY_WATCHDOG)): the bot cancels the
//! watchdog once every action was sent, and if this replica dies first, another one sends what
//! is left when the watchdog comes due. So an applied command always gets its answer.
//!
//! The dispatcher remembers the records and index keys it read and wrote (a [`Cache`]). Using
//! them is safe because the store refuses writes decided on a stale version, and it saves the
//! reads of almost every command: a command usually costs one round trip, its apply.

mod command;
mod web;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use firebell_core::clock::Clock;
use firebell_core::command::{CommandLine, MAX_COMMAND_CHARS};
use firebell_core::ids::{Person, RoomRef, TeamId, Transport, UserRef};
use firebell_core::job::Job;
use firebell_core::message::{Action, Envelope, Inbound, Message};
use firebell_core::plugin::{
    Event, NamespaceError, Outcome, Place, PluginError, Registry, Settings, TeamContext, framework_state, is_enabled,
};
use firebell_core::state::{AuditEntry, Cache, Change, Choices, Reads, RoomOwner, State};
use firebell_core::store::{ApplyError, Claim, Guard, Key, Store, StoreError, Write};
use firebell_core::team::{RoomRole, Team, Teams};
use tokio::time::Instant;

use self::command::{Found, Sender};
use crate::metrics;

/// How the dispatcher behaves.
#[derive(Debug, Clone)]
pub struct DispatchOptions {
    /// The command prefix in messages (`!`).
    pub prefix: String,
    /// How long a cause's claim is remembered at most.
    pub claim_ttl: Duration,
    /// How long each transport may deliver a chat event again (see
    /// [`Capabilities::redelivery_window`](firebell_core::adapter::Capabilities)): its events'
    /// claims are kept this long (within `claim_ttl`); `claim_ttl` for a transport not listed.
    pub redelivery_windows: HashMap<Transport, Duration>,
    /// Whether an unknown `!word` gets an answer (off when other bots share the rooms).
    pub answer_unknown_commands: bool,
    /// How long a cause is decided again while what it read keeps changing concurrently,
    /// before the sender is told to try again.
    pub contention_deadline: Duration,
    /// How many records and index keys the dispatcher remembers per team.
    pub cache_capacity: usize,
    /// How long the replica that handled a cause has to send its actions before a delivery
    /// watchdog sends what is left (that replica probably died). Longer than sending takes.
    pub delivery_grace: Duration,
    /// How long a job whose plugin is disabled for its team (or unknown to this replica) waits
    /// before it is looked at again: it runs this long at most after the plugin is enabled.
    pub disabled_job_recheck: Duration,
    /// The public base URL of the bot's HTTP server (`https://firebell.example.org`), for links
    /// plugins give (a calendar feed); empty when not configured.
    pub web_url: String,
    /// How long a public page (one a plugin answers with `Cache-Control: public, max-age=N`)
    /// is kept and served again by this replica, at most: zero for never (tests), a few seconds
    /// in production, so that a thousand readers a second cost the store one read.
    pub web_cache: Duration,
    /// The key that signs links to pages that are not public (`[http] link_secret`); no such
    /// links without one.
    pub link_secret: Option<Vec<u8>>,
    /// The request header a trusted reverse proxy in front of the HTTP server sets to the
    /// signed-in person (`X-Forwarded-User`); the server honours it only when this is set.
    pub trusted_user_header: Option<String>,
}

impl Default for DispatchOptions {
    fn default() -> Self {
        Self {
            prefix: "!".into(),
            claim_ttl: Duration::from_secs(24 * 3600),
            redelivery_windows: HashMap::new(),
            answer_unknown_commands: true,
            contention_deadline: Duration::from_secs(2),
            cache_capacity: 10_000,
            delivery_grace: Duration::from_secs(60),
            disabled_job_recheck: Duration::from_secs(60),
            web_url: String::new(),
            web_cache: Duration::ZERO,
            link_secret: None,
            trusted_user_header: None,
        }
    }
}

/// Why a cause could not be handled. Nothing was applied; a command's sender should be told to
/// try again, a job is retried.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// What the cause read kept changing under it.
    #[error("gave up after {0:?}: what it reads kept changing concurrently")]
    Contended(Duration),
    /// The plugin cannot do it now, but could later (an outside service is away).
    #[error("{0}")]
    Retry(String),
}

/// What is being decided, with what it needs.
enum Cause<'a, 'f> {
    Command { found: Found<'a, 'f>, place: Place<'a>, sender: Sender, inbound: &'a Inbound },
    Job { team: &'a Team, job: &'a Job },
    Event { team: &'a Team, event: &'a Event },
}

impl Cause<'_, '_> {
    /// The plugin that decides it.
    fn plugin(&self) -> &str {
        match self {
            Cause::Command { found, .. } => found.plugin.name(),
            Cause::Job { job, .. } => &job.plugin,
            Cause::Event { event, .. } => &event.plugin,
        }
    }
}

/// What a cause decided, as the store applies it: a plugin's changes (checked to be its own)
/// and the framework's own writes.
#[derive(Debug, Default)]
struct Decided {
    writes: Vec<Write>,
    actions: Vec<Action>,
}

/// The longest a job's plugin may ask it to wait before it is tried again
/// ([`PluginError::Retry`]), and the most retries before it is given up on.
const RETRY_CEILING: Duration = Duration::from_secs(3600);
const MOST_RETRIES: u32 = 12;

/// What a chat message or an outside event gives: the actions that answer it, and the delivery
/// watchdog that keeps them in the store until the bot reports every one sent.
#[derive(Debug, Default)]
pub struct Dispatched {
    /// The actions to perform, in order, each with a stable id derived from the cause.
    pub envelopes: Vec<Envelope>,
    /// The watchdog to cancel (with [`Dispatcher::delivered`]) once every action was sent;
    /// `None` when nothing was kept (no actions, or a room of no team).
    pub watchdog: Option<Watchdog>,
    /// Who asked, and where, when a person did: told when an action is refused for good.
    pub origin: Option<Origin>,
    /// When the message that asked arrived, for the command latency metric.
    pub received: Option<Instant>,
}

/// Where a command came from: whom to tell when one of its actions cannot be performed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The room.
    pub room: RoomRef,
    /// The sender.
    pub user: UserRef,
    /// The thread.
    pub thread: Option<String>,
}

impl Origin {
    /// The origin of `inbound`.
    pub fn of(inbound: &Inbound) -> Self {
        Self { room: inbound.room.clone(), user: inbound.sender.clone(), thread: inbound.thread.clone() }
    }
}

/// What a job run sends, and whether it may have been sent before (the run was applied by a
/// replica that did not finish it, or it is a delivery watchdog's).
#[derive(Debug, Default)]
pub struct JobRun {
    /// The actions, each with its stable id.
    pub envelopes: Vec<Envelope>,
    /// Whether some may have been performed already (and not recorded).
    pub again: bool,
}

/// A delivery watchdog (see [`DELIVERY_WATCHDOG`](firebell_core::job::DELIVERY_WATCHDOG)): the job that
/// sends a cause's actions from the store if the replica that handled the cause does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watchdog {
    /// The team whose queue holds it.
    pub team: TeamId,
    /// The job, due when the handling replica's grace is over.
    pub job: Job,
}

impl Dispatched {
    /// Actions that nothing keeps in the store.
    pub fn unkept(envelopes: Vec<Envelope>) -> Self {
        Self { envelopes, ..Self::default() }
    }

    /// Whether the answer is a refusal or an error for the sender's eyes only: the command was
    /// not carried out, and a platform that echoes commands to the room should not echo it.
    pub fn is_private(&self) -> bool {
        !self.envelopes.is_empty() && self.envelopes.iter().all(|e| matches!(e.action, Action::Ephemeral { .. }))
    }
}

/// How a guarded apply ended.
enum Settled {
    Applied(Box<Dispatched>),
    Duplicate,
    JobGone,
}

/// Turns causes into the actions that answer them.
pub struct Dispatcher {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    teams: Teams,
    registry: Registry,
    options: DispatchOptions,
    cache: Cache,
    /// The team each room made for a subject was last found in.
    owned_rooms: Mutex<HashMap<RoomRef, TeamId>>,
    /// A queue per record or index key this replica's causes are racing for: a cause that lost
    /// the race once waits its turn behind the others here instead of racing them again.
    queues: Mutex<HashMap<(TeamId, Key), Arc<Turn>>>,
    /// How many decisions were made again because what they read changed (also
    /// `firebell_redecisions_total`).
    redecisions: std::sync::atomic::AtomicU64,
    /// Public pages kept for a few seconds, by path and query (see [`DispatchOptions::web_cache`]).
    web_cache: web::PageCache,
    /// Signed links to pages that are not public.
    links: firebell_core::plugin::WebLinks,
}

fn team_of<'a>(place: &Place<'a>) -> Option<&'a Team> {
    match *place {
        Place::Team { team, .. } => Some(team),
        Place::Unconfigured => None,
    }
}

impl Dispatcher {
    /// A dispatcher over `store`.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        teams: Teams,
        registry: Registry,
        options: DispatchOptions,
    ) -> Self {
        let cache = Cache::new(options.cache_capacity);
        let links = firebell_core::plugin::WebLinks::new(&options.web_url, options.link_secret.as_deref());
        Self {
            store,
            clock,
            teams,
            registry,
            options,
            cache,
            owned_rooms: Mutex::default(),
            queues: Mutex::default(),
            redecisions: Default::default(),
            web_cache: web::PageCache::default(),
            links,
        }
    }

    /// How many decisions this dispatcher made again because something they read changed
    /// before they were applied.
    pub fn redecisions(&self) -> u64 {
        self.redecisions.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// What the dispatcher remembers of its teams' state.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The store this dispatcher writes to.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The teams.
    pub fn teams(&self) -> &Teams {
        &self.teams
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The options.
    pub fn options(&self) -> &DispatchOptions {
        &self.options
    }

    /// Handles one chat message and returns the actions to perform. Messages that are not
    /// commands, and events handled before, give none.
    pub async fn dispatch(&self, inbound: &Inbound) -> Result<Dispatched, DispatchError> {
        let Some(line) = CommandLine::read(&inbound.text, &self.options.prefix) else {
            return Ok(Dispatched::default());
        };
        let place = self.place(&inbound.room).await?;
        let claim = Claim::event(inbound.transport(), &inbound.event_id, self.event_claim_ttl(inbound.transport()));
        let line = match line {
            Ok(line) => line,
            Err(length) => {
                let refusal = format!(
                    "error: this command is {length} characters long; the longest Firebell reads is {MAX_COMMAND_CHARS}"
                );
                return self.claim_and(team_of(&place).map(|t| &t.id), &claim, vec![reply_to(inbound, refusal)]).await;
            }
        };
        let fallback_name = inbound.sender_name.as_deref();
        let person = match team_of(&place) {
            Some(team) => team.person(&inbound.sender, fallback_name),
            None => Person::new(inbound.sender.clone(), fallback_name.unwrap_or(&inbound.sender.id)),
        };
        // A platform's admins (room moderators, workspace admins) count as team admins in the
        // team's admin rooms only: moderating a public room gives no say over the team.
        let in_admin_room = matches!(place, Place::Team { role: RoomRole::Admin, .. });
        let sender = Sender { person, platform_admin: inbound.sender_is_platform_admin && in_admin_room };
        let team = team_of(&place);
        let dispatched = match self.find(&line, &place) {
            Ok(found) => {
                let plugin = found.plugin.name().to_owned();
                let cause = Cause::Command { found, place: place.clone(), sender, inbound };
                let settled = self.settle(team, &claim, None, &cause).await;
                metrics::command(&plugin, outcome_of(&settled));
                match settled? {
                    Settled::Applied(dispatched) => *dispatched,
                    Settled::Duplicate | Settled::JobGone => Dispatched::default(),
                }
            }
            Err(None) => Dispatched::default(),
            Err(Some(refusal)) => {
                metrics::command("none", "unknown");
                let reply = reply_to(inbound, refusal);
                self.claim_and(team.map(|t| &t.id), &claim, vec![reply]).await?
            }
        };
        Ok(Dispatched { origin: Some(Origin::of(inbound)), ..dispatched })
    }

    /// How long a chat event's claim is kept: its platform's redelivery window, within
    /// `claim_ttl`.
    fn event_claim_ttl(&self, transport: Transport) -> Duration {
        let window = self.options.redelivery_windows.get(&transport).copied().unwrap_or(self.options.claim_ttl);
        window.min(self.options.claim_ttl)
    }

    /// Where a room is: a configured room of a team, a room a plugin made for one subject (an
    /// incident's room, found among the teams' records: the team it was last found in first,
    /// then every team afresh), or nowhere.
    async fn place(&self, room: &RoomRef) -> Result<Place<'_>, DispatchError> {
        if let Some((team, role)) = self.teams.for_room(room) {
            return Ok(Place::Team { team, role });
        }
        let remembered = self.owned_rooms.lock().unwrap_or_else(|p| p.into_inner()).get(room).cloned();
        if let Some(team) = remembered.and_then(|id| self.teams.get(id.as_str())) {
            let reads = Reads::new(self.store.as_ref(), Some(&team.id), Some(&self.cache));
            if let Some(owner) = framework_state(&reads).get::<RoomOwner>(&room.to_string()).await? {
                return Ok(Place::Team { team, role: RoomRole::Subject(owner) });
            }
        }
        // A room nobody owned may have been made since: absences are read afresh, not remembered.
        for team in self.teams.iter() {
            let reads = Reads::new(self.store.as_ref(), Some(&team.id), None);
            if let Some(owner) = framework_state(&reads).get::<RoomOwner>(&room.to_string()).await? {
                self.owned_rooms.lock().unwrap_or_else(|p| p.into_inner()).insert(room.clone(), team.id.clone());
                return Ok(Place::Team { team, role: RoomRole::Subject(owner) });
            }
        }
        Ok(Place::Unconfigured)
    }

    /// Handles an event from outside the chat: the plugin it names decides, once per event id.
    /// Events for unknown teams or plugins give nothing.
    pub async fn dispatch_event(&self, event: &Event) -> Result<Dispatched, DispatchError> {
        let Some(team) = self.teams.get(event.team.as_str()) else {
            tracing::warn!(team = %event.team, event = %event.id, "event for an unknown team");
            return Ok(Dispatched::default());
        };
        let claim = Claim { key: event.id.clone(), ttl: self.options.claim_ttl };
        match self.settle(Some(team), &claim, None, &Cause::Event { team, event }).await? {
            Settled::Applied(dispatched) => Ok(*dispatched),
            Settled::Duplicate | Settled::JobGone => Ok(Dispatched::default()),
        }
    }

    /// Reports that every action guarded by `watchdog` was sent: cancels the watchdog (with
    /// what it carries), recording the sends in `sent` not recorded yet if the watchdog had
    /// come due already (see [`Write::Delivered`]).
    pub async fn delivered(&self, watchdog: &Watchdog, sent: &[String]) -> Result<(), StoreError> {
        let writes = [Write::Delivered { job: watchdog.job.id.clone(), sent: sent.to_vec() }];
        match self.store.apply(Some(&watchdog.team), Guard::NONE, &writes).await {
            Ok(_) => Ok(()),
            Err(ApplyError::Store(err)) => Err(err),
            Err(other) => unreachable!("an unguarded cancel cannot fail with {other}"),
        }
    }

    /// Schedules `job` again for `due`, with its data (a delivery watchdog whose send waits for
    /// its slot in a channel's pace comes back when the slot does).
    pub async fn reschedule(
        &self,
        team: &TeamId,
        job: &Job,
        due: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        match self.store.apply(Some(team), Guard::NONE, &[Write::Schedule(job.again_at(due))]).await {
            Ok(_) => Ok(()),
            Err(ApplyError::Store(err)) => Err(err),
            Err(other) => Err(StoreError::Unavailable(format!("an unguarded schedule was refused: {other}"))),
        }
    }

    /// Runs one due job of `team` and returns what it sends. The writes and the actions are
    /// kept together, so a run that was applied before (by a replica that died before sending)
    /// gives the same actions again, marked as maybe sent; a job cancelled or rescheduled
    /// meanwhile gives none.
    pub async fn run_job(&self, team: &TeamId, job: &Job) -> Result<JobRun, DispatchError> {
        if job.is_delivery_watchdog() {
            return self.run_watchdog(team, job).await;
        }
        let cause_id = job.cause();
        let claim = Claim { key: cause_id.clone(), ttl: self.options.claim_ttl };
        let Some(team) = self.teams.get(team.as_str()) else {
            tracing::warn!(%team, job = %job.id, "job of an unknown team dropped");
            self.store.apply(Some(team), Guard::claim(&claim).running(job), &[]).await.ok();
            return Ok(JobRun::default());
        };
        match self.settle(Some(team), &claim, Some(job), &Cause::Job { team, job }).await? {
            Settled::Applied(dispatched) => Ok(JobRun { envelopes: dispatched.envelopes, again: false }),
            Settled::Duplicate => Ok(JobRun { envelopes: self.store.outbox(&team.id, &cause_id).await?, again: true }),
            Settled::JobGone => Ok(JobRun::default()),
        }
    }

    /// A delivery watchdog came due: the replica that handled its cause did not report every
    /// action sent, so this run gives what the watchdog carries (the bot skips what was
    /// recorded as sent, and what the platform shows sent). A watchdog cancelled meanwhile
    /// gives nothing.
    async fn run_watchdog(&self, team: &TeamId, job: &Job) -> Result<JobRun, DispatchError> {
        let claim = Claim { key: job.cause(), ttl: self.options.claim_ttl };
        match self.store.apply(Some(team), Guard::claim(&claim).running(job), &[]).await {
            Ok(_) | Err(ApplyError::Duplicate) => {
                tracing::info!(%team, watchdog = %job.id, "a replica left actions unsent; sending what is left");
                let envelopes = match job.carried_envelopes() {
                    Some(carried) => carried,
                    // Scheduled by an earlier version, which kept them in an outbox.
                    None => self.store.outbox(team, &claim.key).await?,
                };
                Ok(JobRun { envelopes, again: true })
            }
            Err(ApplyError::JobGone) => Ok(JobRun::default()),
            Err(ApplyError::Store(err)) => Err(err.into()),
            Err(other) => unreachable!("a write-free run cannot fail with {other}"),
        }
    }

    /// Sends `actions` once for `key` across every replica (notices that belong to no team,
    /// such as an alert for an unknown team). Gives nothing when `key` was claimed before.
    pub async fn announce(&self, key: &str, actions: Vec<Action>) -> Result<Dispatched, DispatchError> {
        let claim = Claim { key: key.to_owned(), ttl: self.options.claim_ttl };
        self.claim_and(None, &claim, actions).await
    }

    /// Decides `cause` and applies the outcome under `claim` (and `job`), guarded by what the
    /// decision read; decides again after a jittered pause while something read changed
    /// meanwhile, until the contention deadline.
    async fn settle(
        &self,
        team: Option<&Team>,
        claim: &Claim,
        job: Option<&Job>,
        cause: &Cause<'_, '_>,
    ) -> Result<Settled, DispatchError> {
        let team_id = team.map(|t| &t.id);
        let started = Instant::now();
        let mut pauses = Pauses::default();
        let mut queued: Option<Queued<'_>> = None;
        let mut taken: Option<Key> = None;
        loop {
            let reads = Reads::new(self.store.as_ref(), team_id, Some(&self.cache));
            let decision = match &taken {
                Some(key) => Ok(self.refuse_taken(cause, key)),
                None => self.decide(cause, &claim.key, &reads).await,
            };
            let decided = match decision {
                Ok(decided) => decided,
                Err(DispatchError::Store(err @ (StoreError::Corrupt(_) | StoreError::NewerSchema(_)))) => {
                    self.unreadable(cause, err)?
                }
                Err(DispatchError::Store(StoreError::AlreadyApplied)) => {
                    metrics::duplicate();
                    return Ok(Settled::Duplicate);
                }
                Err(err) => {
                    self.forget(team_id);
                    return Err(err);
                }
            };
            let envelopes = Envelope::number(&claim.key, decided.actions);
            // A decision that changes nothing (a listing, the status doc) answers from what it
            // read, as of when it read it: no later change can make it wrong, so it guards
            // nothing and is never decided again.
            let rewrites = reads.rewrites();
            let read_only = decided.writes.is_empty() && rewrites.is_empty();
            let mut writes = decided.writes;
            writes.extend(rewrites);
            writes.extend(reads.releases());
            let watchdog = match job {
                Some(_) => keep_for_the_run(&claim.key, &envelopes, &mut writes),
                None => self.keep_with_a_watchdog(team_id, &claim.key, &envelopes, &mut writes),
            };
            let read = if read_only { Vec::new() } else { reads.guard() };
            let guard = Guard { claim: Some(claim), reads: &read, job };
            match self.store.apply(team_id, guard, &writes).await {
                Ok(applied) => {
                    if let Some(team) = team_id {
                        self.cache.applied(team, &writes, &applied);
                    }
                    return Ok(Settled::Applied(Box::new(Dispatched { envelopes, watchdog, ..Dispatched::default() })));
                }
                Err(ApplyError::Duplicate) => {
                    metrics::duplicate();
                    return Ok(Settled::Duplicate);
                }
                Err(ApplyError::JobGone) => return Ok(Settled::JobGone),
                Err(ApplyError::Taken(key)) if taken.is_none() => {
                    tracing::warn!(cause = %claim.key, %key, "a unique index key lists another record; refused");
                    if let Some(team) = team_id {
                        self.cache.forget(team, &key);
                    }
                    taken = Some(key);
                }
                Err(ApplyError::Taken(key)) => {
                    return Err(StoreError::Unavailable(format!("a refusal cannot be taken: {key}")).into());
                }
                Err(ApplyError::Conflict(key)) => {
                    tracing::debug!(cause = %claim.key, changed = %key, "read state moved on, deciding again");
                    metrics::redecision(cause.plugin());
                    self.redecisions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if let Some(team) = team_id {
                        self.cache.forget(team, &key);
                    }
                    if started.elapsed() >= self.options.contention_deadline {
                        return Err(DispatchError::Contended(started.elapsed()));
                    }
                    match (&queued, team_id) {
                        (None, Some(team)) => queued = Some(self.queue_behind(team, key).await),
                        _ => tokio::time::sleep(pauses.next()).await,
                    }
                }
                Err(ApplyError::Store(err)) => {
                    self.forget(team_id);
                    return Err(err.into());
                }
            }
        }
    }

    /// Adds to `writes` what keeps `envelopes` of a team's command or event until they are
    /// sent: a new delivery watchdog carrying them. Returns the watchdog.
    fn keep_with_a_watchdog(
        &self,
        team: Option<&TeamId>,
        cause: &str,
        envelopes: &[Envelope],
        writes: &mut Vec<Write>,
    ) -> Option<Watchdog> {
        let team = team.filter(|_| !envelopes.is_empty())?;
        let due = firebell_core::clock::after(self.clock.now(), self.options.delivery_grace);
        let job = Job::delivery_watchdog(cause, due, envelopes);
        writes.push(Write::Schedule(job.clone()));
        Some(Watchdog { team: team.clone(), job })
    }

    /// What the plugin of `cause` decides, reading through `reads`.
    async fn decide(&self, cause: &Cause<'_, '_>, cause_id: &str, reads: &Reads<'_>) -> Result<Decided, DispatchError> {
        let choices = self.choices(reads).await?;
        let (team, plugin_name) = match cause {
            Cause::Command { found, place, sender, inbound } => {
                let outcome = self.decide_command(found, place, sender, inbound, cause_id, reads, &choices).await?;
                return Ok(self.checked(found.plugin.name(), outcome).unwrap_or_else(|refused| Decided {
                    writes: Vec::new(),
                    actions: vec![reply_to(
                        inbound,
                        format!("error: {refused}; nothing was changed (a bug in that plugin: tell its authors)"),
                    )],
                }));
            }
            Cause::Job { team, job } => (*team, job.plugin.as_str()),
            Cause::Event { team, event } => (*team, event.plugin.as_str()),
        };
        let Some(plugin) = self.registry.plugin(plugin_name).filter(|p| is_enabled(p.as_ref(), team, &choices)) else {
            if let Cause::Job { job, .. } = cause {
                return Ok(self.defer(team, job));
            }
            tracing::info!(plugin = plugin_name, team = %team.id, cause = cause_id, "no enabled plugin for it; dropped");
            return Ok(Decided::default());
        };
        let settings = Settings::of(plugin.as_ref(), team, &choices);
        let ctx = TeamContext {
            cause: cause_id,
            now: self.clock.now(),
            team,
            state: State::new(reads, plugin.name()),
            reads,
            settings: &settings,
            teams: &self.teams,
            prefix: &self.options.prefix,
            web_url: &self.options.web_url,
            links: &self.links,
        };
        let decided = match cause {
            Cause::Job { job, .. } => plugin.run_job(&ctx, job).await,
            Cause::Event { event, .. } => plugin.on_event(&ctx, event).await,
            Cause::Command { .. } => unreachable!("commands are decided above"),
        };
        match decided {
            Ok(outcome) => Ok(self.checked(plugin_name, outcome).unwrap_or_else(|refused| {
                tracing::error!(team = %team.id, cause = cause_id, error = %refused, "a plugin's outcome was refused; nothing applied");
                Decided::default()
            })),
            Err(PluginError::Store(err)) => Err(err.into()),
            Err(PluginError::Retry { reason, after }) => match cause {
                Cause::Job { job, .. } => Ok(self.retry(team, job, &reason, after)),
                _ => Err(DispatchError::Retry(reason)),
            },
            Err(refusal) => {
                tracing::warn!(plugin = plugin_name, cause = cause_id, reason = %refusal, "plugin refused; dropped");
                Ok(Decided::default())
            }
        }
    }

    /// What a cause decides instead when its record would join a key of a unique index that
    /// lists another record (its plugin did not check): nothing changes, and a person who
    /// asked is told.
    fn refuse_taken(&self, cause: &Cause<'_, '_>, key: &Key) -> Decided {
        let actions = match cause {
            Cause::Command { inbound, .. } => {
                let told = format!("error: nothing was changed: {key} lists another record already (a unique index)");
                vec![reply_to(inbound, told)]
            }
            _ => Vec::new(),
        };
        Decided { writes: Vec::new(), actions }
    }

    /// What a cause that met stored data it cannot read decides instead. Reading it again would
    /// not help, so it is no outage: a corrupt record is reported to the sender (if a person
    /// asked) and in the team's audit stream, once, and nothing else changes (a job is
    /// dropped, since it would meet it again); a record written by a newer version is refused
    /// to the sender clearly, and a job waits for a newer replica.
    fn unreadable(&self, cause: &Cause<'_, '_>, err: StoreError) -> Result<Decided, DispatchError> {
        let plugin = cause.plugin();
        match (err, cause) {
            (StoreError::Corrupt(reason), _) => {
                metrics::unreadable(plugin);
                tracing::error!(plugin, reason, "stored data is unreadable; nothing changed; the team's audit says so");
                let (by, actions) = match cause {
                    Cause::Command { sender, inbound, .. } => {
                        let told = format!(
                            "error: stored data is unreadable: {reason}; nothing was changed, and the team's admins \
                             find this in {}plugins audit",
                            self.options.prefix
                        );
                        (sender.person.clone(), vec![reply_to(inbound, told)])
                    }
                    _ => (Person::console("firebell"), Vec::new()),
                };
                let entry = AuditEntry {
                    at: self.clock.now(),
                    by,
                    action: format!("unreadable data of plugin {plugin}"),
                    before: reason,
                    after: "nothing changed; the data is left as it is".to_owned(),
                };
                let writes = if team_of_cause(cause).is_some() { entry.writes().to_vec() } else { Vec::new() };
                Ok(Decided { writes, actions })
            }
            (StoreError::NewerSchema(reason), Cause::Command { inbound, .. }) => {
                let told = format!(
                    "error: {reason}; nothing was changed: try again in a moment, when a newer replica answers"
                );
                Ok(Decided { writes: Vec::new(), actions: vec![reply_to(inbound, told)] })
            }
            (StoreError::NewerSchema(reason), Cause::Job { team, job }) => {
                tracing::warn!(plugin, reason, job = %job.id, "the job meets data of a newer version; it waits for a newer replica");
                Ok(self.defer(team, job))
            }
            (err, _) => Err(err.into()),
        }
    }

    /// A plugin's outcome as writes, once every change in it is the plugin's own to make (see
    /// [`Registry::permits`]).
    fn checked(&self, plugin: &str, outcome: Outcome) -> Result<Decided, NamespaceError> {
        if let Some(refused) = outcome.writes.iter().find_map(|change| self.registry.permits(plugin, change).err()) {
            metrics::change_refused(plugin);
            tracing::error!(plugin, error = %refused, "a plugin changed what is not its own; nothing of its outcome is applied");
            return Err(refused);
        }
        Ok(Decided { writes: outcome.writes.into_iter().map(Change::into_write).collect(), actions: outcome.actions })
    }

    /// A job whose plugin is disabled for the team (or unknown to this replica: a newer one
    /// may know it) waits: it is looked at again after `disabled_job_recheck`, with its data,
    /// so it runs once its plugin is enabled. `!plugins drop-jobs` drops such jobs for good.
    fn defer(&self, team: &Team, job: &Job) -> Decided {
        metrics::job_deferred(&job.plugin);
        tracing::info!(plugin = %job.plugin, team = %team.id, job = %job.id, "its plugin is disabled; the job waits");
        let due = firebell_core::clock::after(self.clock.now(), self.options.disabled_job_recheck);
        Decided { writes: vec![Write::Schedule(job.again_at(due))], actions: Vec::new() }
    }

    /// A job whose plugin asked to be tried again later: scheduled again after `after`, or a
    /// pause that doubles with each retry (30 s, 1 min, … up to an hour), until
    /// [`MOST_RETRIES`]; then it is given up on, loudly.
    fn retry(&self, team: &Team, job: &Job, reason: &str, after: Option<Duration>) -> Decided {
        metrics::job_retry_asked(&job.plugin);
        if job.retries >= MOST_RETRIES {
            metrics::jobs_dead(1);
            tracing::error!(plugin = %job.plugin, team = %team.id, job = %job.id, retries = job.retries, reason, "job asked for too many retries; given up");
            return Decided::default();
        }
        let backoff = Duration::from_secs(30).saturating_mul(1 << job.retries.min(10)).min(RETRY_CEILING);
        let wait = after.unwrap_or(backoff).min(RETRY_CEILING);
        tracing::warn!(plugin = %job.plugin, team = %team.id, job = %job.id, ?wait, reason, "job asked to be tried again later");
        let again =
            Job { retries: job.retries + 1, ..job.again_at(firebell_core::clock::after(self.clock.now(), wait)) };
        Decided { writes: vec![Write::Schedule(again)], actions: Vec::new() }
    }

    /// The plugin choices of the team read, part of every decision's guard.
    async fn choices(&self, reads: &Reads<'_>) -> Result<Choices, StoreError> {
        Choices::read(&framework_state(reads)).await
    }

    /// Claims `claim` and keeps `actions` until they are sent, then returns them (or none for a
    /// duplicate).
    async fn claim_and(
        &self,
        team: Option<&TeamId>,
        claim: &Claim,
        actions: Vec<Action>,
    ) -> Result<Dispatched, DispatchError> {
        let envelopes = Envelope::number(&claim.key, actions);
        let mut writes = Vec::new();
        let watchdog = self.keep_with_a_watchdog(team, &claim.key, &envelopes, &mut writes);
        match self.store.apply(team, Guard::claim(claim), &writes).await {
            Ok(_) => Ok(Dispatched { envelopes, watchdog, ..Dispatched::default() }),
            Err(ApplyError::Duplicate) => Ok(Dispatched::default()),
            Err(ApplyError::Store(err)) => Err(err.into()),
            Err(other) => unreachable!("a bare claim cannot fail with {other}"),
        }
    }

    /// Waits for this cause's turn among this replica's causes racing for `key`.
    async fn queue_behind(&self, team: &TeamId, key: Key) -> Queued<'_> {
        let slot = (team.clone(), key);
        let queue = self.queues.lock().unwrap_or_else(|p| p.into_inner()).entry(slot.clone()).or_default().clone();
        let turn = queue.lock_owned().await;
        Queued { dispatcher: self, slot, turn: Some(turn) }
    }

    /// Forgets what is remembered of `team` (its store failed: start afresh).
    fn forget(&self, team: Option<&TeamId>) {
        if let Some(team) = team {
            self.cache.forget_team(team);
        }
    }
}

/// Who may decide next among a replica's causes racing for one key.
type Turn = tokio::sync::Mutex<()>;

/// A cause's turn in a queue for a contended key; the queue goes when nobody waits in it.
struct Queued<'d> {
    dispatcher: &'d Dispatcher,
    slot: (TeamId, Key),
    turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        drop(self.turn.take());
        let mut queues = self.dispatcher.queues.lock().unwrap_or_else(|p| p.into_inner());
        if queues.get(&self.slot).is_some_and(|queue| Arc::strong_count(queue) == 1) {
            queues.remove(&self.slot);
        }
    }
}

/// The pauses between decisions of a contended cause: jittered (so that the writers racing for
/// one record do not meet again), growing from 1 ms to 50 ms.
#[derive(Debug, Default)]
struct Pauses {
    tries: u32,
}

impl Pauses {
    fn next(&mut self) -> Duration {
        let ceiling_ms = 1u64.checked_shl(self.tries).unwrap_or(u64::MAX).min(50);
        self.tries = self.tries.saturating_add(1);
        Duration::from_micros(fastrand::u64(0..=ceiling_ms * 1000))
    }
}

/// Adds to `writes` an outbox that keeps what a job run sends under the run's cause: whoever
/// finishes the run sends it. A job run needs no watchdog: the job itself is one.
fn keep_for_the_run(cause: &str, envelopes: &[Envelope], writes: &mut Vec<Write>) -> Option<Watchdog> {
    if !envelopes.is_empty() {
        writes.push(Write::Outbox { cause: cause.to_owned(), envelopes: envelopes.to_vec() });
    }
    None
}

/// The team a cause is about, if any.
fn team_of_cause<'a>(cause: &Cause<'a, '_>) -> Option<&'a Team> {
    match cause {
        Cause::Command { place, .. } => team_of(place),
        Cause::Job { team, .. } | Cause::Event { team, .. } => Some(team),
    }
}

/// How a command ended, as the commands metric counts it.
fn outcome_of(settled: &Result<Settled, DispatchError>) -> &'static str {
    match settled {
        Ok(Settled::Applied(dispatched)) if dispatched.is_private() => "refused",
        Ok(Settled::Applied(_)) => "answered",
        Ok(Settled::Duplicate | Settled::JobGone) => "duplicate",
        Err(_) => "failed",
    }
}

/// A refusal or an error for the sender of `inbound`: for their eyes only where the platform can,
/// since it may repeat what they typed (a refused security incident's title, say).
fn reply_to(inbound: &Inbound, text: String) -> Action {
    Action::Ephemeral {
        room: inbound.room.clone(),
        user: inbound.sender.clone(),
        message: Message::text(text),
        thread: inbound.thread.clone(),
    }
}
