//! What the runtime reports to the `metrics` facade: every name is here, each with its help text
//! in [`describe`]. Nothing is recorded unless the binary installs a recorder (the Prometheus
//! exporter behind `GET /metrics`); tests and the benchmark pay nothing for it.

use std::time::Duration;

use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};

/// Commands handled, by `plugin` and `outcome` (`answered`, `refused`, `duplicate`, `failed`).
pub const COMMANDS: &str = "firebell_commands_total";
/// Seconds from a chat message's arrival to the last action of its answer sent.
pub const COMMAND_LATENCY: &str = "firebell_command_latency_seconds";
/// Platform retries and other replicas' copies of an event, dropped.
pub const DUPLICATES: &str = "firebell_duplicates_dropped_total";
/// Seconds each store call took, by `call`.
pub const STORE_ROUND_TRIP: &str = "firebell_store_round_trip_seconds";
/// Store calls that failed (the store unreachable or refusing), by `call`.
pub const STORE_ERRORS: &str = "firebell_store_errors_total";
/// Jobs moved from the schedule to the ready queue.
pub const JOBS_PROMOTED: &str = "firebell_jobs_promoted_total";
/// Job runs, by `outcome` (`done`, `failed`).
pub const JOBS_RUN: &str = "firebell_jobs_run_total";
/// Jobs taken again after a run failed or its replica went quiet.
pub const JOBS_RETRIED: &str = "firebell_jobs_retried_total";
/// Jobs given up on after their last attempt, kept in the dead-letter list.
pub const JOBS_DEAD: &str = "firebell_jobs_dead_lettered_total";
/// Job runs put off because their plugin is disabled for the team (or unknown to this
/// replica), by `plugin`: the job waits and runs once the plugin is enabled again.
pub const JOBS_DEFERRED: &str = "firebell_jobs_deferred_total";
/// Job runs whose plugin asked to be tried again later (`PluginError::Retry`), by `plugin`.
pub const JOBS_RETRY_ASKED: &str = "firebell_jobs_retry_asked_total";
/// Decisions made again because something they read changed before they were applied, by
/// `plugin`.
pub const REDECISIONS: &str = "firebell_redecisions_total";
/// Causes that met stored data they cannot read (a corrupt record), by `plugin`: told to the
/// sender and in the team's audit stream, never retried.
pub const UNREADABLE: &str = "firebell_unreadable_data_total";
/// Outcomes refused because a plugin changed what is not its own (another plugin's records, the
/// framework's), by `plugin`: a plugin's bug.
pub const CHANGES_REFUSED: &str = "firebell_plugin_changes_refused_total";
/// Seconds between a job's due time and its run starting.
pub const JOB_LATENESS: &str = "firebell_job_lateness_seconds";
/// Deliveries of answers going on in this replica.
pub const DELIVERIES_PENDING: &str = "firebell_deliveries_pending";
/// Answers sent by a delivery watchdog because the replica that decided them did not.
pub const REDELIVERED: &str = "firebell_deliveries_redelivered_total";
/// Actions sent again without knowing whether a replica that died sent them already, because
/// the platform's history could not be read: each may be a double, by `transport`.
pub const SENT_UNCHECKED: &str = "firebell_sent_unchecked_total";
/// Waits for a platform's rate limit, by `transport`.
pub const RATE_LIMIT_WAITS: &str = "firebell_rate_limit_waits_total";
/// 1 while an adapter is connected to its platform, by `transport`.
pub const ADAPTER_CONNECTED: &str = "firebell_adapter_connected";
/// Open incidents, by `team` (read from the store at each scrape).
pub const OPEN_INCIDENTS: &str = "firebell_open_incidents";
/// Pages nobody acknowledged yet, by `team` (read from the store at each scrape).
pub const UNACKNOWLEDGED_PAGES: &str = "firebell_unacknowledged_pages";

/// The buckets of the latency histograms, in seconds: from a fast store round trip to the
/// longest a delivery may take.
pub const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The buckets of job lateness, in seconds: on time to badly late.
pub const LATENESS_BUCKETS: &[f64] = &[0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0];

/// Gives every metric its help text and unit; call once, after installing a recorder.
pub fn describe() {
    describe_counter!(COMMANDS, "Commands handled, by plugin and outcome.");
    describe_histogram!(COMMAND_LATENCY, Unit::Seconds, "From a message's arrival to its answer sent.");
    describe_counter!(DUPLICATES, "Platform retries and other replicas' copies of an event, dropped.");
    describe_histogram!(STORE_ROUND_TRIP, Unit::Seconds, "How long each store call took, by call.");
    describe_counter!(STORE_ERRORS, "Store calls that failed, by call.");
    describe_counter!(JOBS_PROMOTED, "Jobs moved from the schedule to the ready queue.");
    describe_counter!(JOBS_RUN, "Job runs, by outcome.");
    describe_counter!(JOBS_RETRIED, "Jobs taken again after a failed run or a quiet replica.");
    describe_counter!(JOBS_DEAD, "Jobs given up on after their last attempt.");
    describe_counter!(JOBS_DEFERRED, "Job runs put off because their plugin is disabled, by plugin.");
    describe_counter!(JOBS_RETRY_ASKED, "Job runs whose plugin asked to be tried again later, by plugin.");
    describe_counter!(REDECISIONS, "Decisions made again because what they read changed, by plugin.");
    describe_counter!(UNREADABLE, "Causes that met stored data they cannot read, by plugin.");
    describe_counter!(CHANGES_REFUSED, "Outcomes refused because a plugin changed what is not its own.");
    describe_histogram!(JOB_LATENESS, Unit::Seconds, "From a job's due time to its run starting.");
    describe_gauge!(DELIVERIES_PENDING, "Deliveries of answers going on in this replica.");
    describe_counter!(REDELIVERED, "Answers sent by a delivery watchdog for a replica that did not.");
    describe_counter!(SENT_UNCHECKED, "Actions sent again unchecked: the platform's history could not be read.");
    describe_counter!(RATE_LIMIT_WAITS, "Waits for a platform's rate limit, by transport.");
    describe_gauge!(ADAPTER_CONNECTED, "1 while an adapter is connected to its platform.");
    describe_gauge!(OPEN_INCIDENTS, "Open incidents, by team.");
    describe_gauge!(UNACKNOWLEDGED_PAGES, "Pages nobody acknowledged yet, by team.");
}

/// Every store call the metered store names (`firebell_store_errors_total{call}`).
pub const STORE_CALLS: &[&str] = &[
    "ping",
    "records",
    "find",
    "find_prefix",
    "recent",
    "stream",
    "reserve_number",
    "apply",
    "scheduled_jobs",
    "promote_due_jobs",
    "take_jobs",
    "finish_job",
    "dead_jobs",
    "outbox",
    "is_sent",
    "mark_sent",
    "pace",
];

/// Makes every counter and gauge exist at 0 with each label set known at start (the
/// registered `plugins`, the enabled adapters' `transports`), so that a scrape of a replica
/// that has done nothing yet shows them, and alert rules on them (`increase(…) == 0`) can fire
/// for a replica whose scheduler never ran a job. Call once, after installing a recorder.
pub fn start_at_zero(plugins: &[&str], transports: &[&str]) {
    for plugin in plugins.iter().copied().chain(["none"]) {
        for outcome in ["answered", "refused", "duplicate", "failed", "unknown"] {
            counter!(COMMANDS, "plugin" => plugin.to_owned(), "outcome" => outcome).increment(0);
        }
        for name in [JOBS_DEFERRED, JOBS_RETRY_ASKED, REDECISIONS, UNREADABLE, CHANGES_REFUSED] {
            counter!(name, "plugin" => plugin.to_owned()).increment(0);
        }
    }
    for call in STORE_CALLS {
        counter!(STORE_ERRORS, "call" => *call).increment(0);
    }
    for outcome in ["done", "failed"] {
        counter!(JOBS_RUN, "outcome" => outcome).increment(0);
    }
    for name in [DUPLICATES, JOBS_PROMOTED, JOBS_RETRIED, JOBS_DEAD, REDELIVERED] {
        counter!(name).increment(0);
    }
    for transport in transports {
        counter!(RATE_LIMIT_WAITS, "transport" => transport.to_string()).increment(0);
        counter!(SENT_UNCHECKED, "transport" => transport.to_string()).increment(0);
        gauge!(ADAPTER_CONNECTED, "transport" => transport.to_string()).set(0.0);
    }
    gauge!(DELIVERIES_PENDING).set(0.0);
}

/// Counts a command of `plugin` that ended with `outcome`.
pub fn command(plugin: &str, outcome: &'static str) {
    counter!(COMMANDS, "plugin" => plugin.to_owned(), "outcome" => outcome).increment(1);
}

/// Records how long a command took from arrival to its answer sent.
pub fn command_latency(took: Duration) {
    histogram!(COMMAND_LATENCY).record(took.as_secs_f64());
}

/// Counts a dropped duplicate event.
pub fn duplicate() {
    counter!(DUPLICATES).increment(1);
}

/// Records one store call, `call`, that took `took` and failed or not.
pub fn store_call(call: &'static str, took: Duration, failed: bool) {
    histogram!(STORE_ROUND_TRIP, "call" => call).record(took.as_secs_f64());
    if failed {
        counter!(STORE_ERRORS, "call" => call).increment(1);
    }
}

/// Counts `count` promoted jobs.
pub fn jobs_promoted(count: usize) {
    counter!(JOBS_PROMOTED).increment(count as u64);
}

/// Records a job run starting `late` after its due time (an attempt after the first counts as
/// a retry).
pub fn job_started(late: Duration, attempt: u32) {
    histogram!(JOB_LATENESS).record(late.as_secs_f64());
    if attempt > 1 {
        counter!(JOBS_RETRIED).increment(1);
    }
}

/// Counts a job run that ended `done` or `failed`.
pub fn job_run(outcome: &'static str) {
    counter!(JOBS_RUN, "outcome" => outcome).increment(1);
}

/// Counts a job run of `plugin` put off because the plugin is disabled.
pub fn job_deferred(plugin: &str) {
    counter!(JOBS_DEFERRED, "plugin" => plugin.to_owned()).increment(1);
}

/// Counts a job run of `plugin` that asked to be tried again later.
pub fn job_retry_asked(plugin: &str) {
    counter!(JOBS_RETRY_ASKED, "plugin" => plugin.to_owned()).increment(1);
}

/// Counts a decision of `plugin` made again.
pub fn redecision(plugin: &str) {
    counter!(REDECISIONS, "plugin" => plugin.to_owned()).increment(1);
}

/// Counts a cause of `plugin` that met unreadable stored data.
pub fn unreadable(plugin: &str) {
    counter!(UNREADABLE, "plugin" => plugin.to_owned()).increment(1);
}

/// Counts an outcome of `plugin` refused for changing what is not its own.
pub fn change_refused(plugin: &str) {
    counter!(CHANGES_REFUSED, "plugin" => plugin.to_owned()).increment(1);
}

/// Counts an action sent on `transport` without knowing whether it was sent before.
pub fn sent_unchecked(transport: &str) {
    counter!(SENT_UNCHECKED, "transport" => transport.to_owned()).increment(1);
}

/// Counts `count` dead-lettered jobs.
pub fn jobs_dead(count: usize) {
    counter!(JOBS_DEAD).increment(count as u64);
}

/// Moves the number of deliveries going on by `change` (1 when one starts, -1 when it ends).
pub fn deliveries_pending(change: f64) {
    gauge!(DELIVERIES_PENDING).increment(change);
}

/// Counts `count` actions sent by a delivery watchdog.
pub fn redelivered(count: usize) {
    counter!(REDELIVERED).increment(count as u64);
}

/// Counts a wait for `transport`'s rate limit.
pub fn rate_limit_wait(transport: &str) {
    counter!(RATE_LIMIT_WAITS, "transport" => transport.to_owned()).increment(1);
}

/// Sets whether `transport`'s adapter is connected.
pub fn adapter_connected(transport: &str, connected: bool) {
    gauge!(ADAPTER_CONNECTED, "transport" => transport.to_owned()).set(if connected { 1.0 } else { 0.0 });
}

/// Sets `team`'s open incidents and unacknowledged pages.
pub fn team_load(team: &str, open_incidents: usize, unacknowledged_pages: usize) {
    gauge!(OPEN_INCIDENTS, "team" => team.to_owned()).set(open_incidents as f64);
    gauge!(UNACKNOWLEDGED_PAGES, "team" => team.to_owned()).set(unacknowledged_pages as f64);
}
