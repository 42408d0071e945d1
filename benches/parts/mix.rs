//! A realistic mix of commands for the benchmark: each writer declares an incident, works on
//! their own (doing, note, show), logs to the server admin log, reads the report of an incident
//! with 1,000 timeline entries, and resolves what they declared; one writer on one team, 16 on
//! one team, 16 on 16 teams.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use firebell_core::ids::UserRef;
use firebell_runtime::dispatcher::{DispatchError, Dispatcher};

use crate::{inbound, person, timed};

/// The kinds of command in a round, in order: the writer declares an incident, works on their
/// own long-running one, logs, reads the report of the team's 1,000-entry incident, and resolves
/// the incident declared at the start (so that open incidents do not pile up).
const ROUND: [&str; 7] = ["declare", "doing", "note", "show", "!log", "report (1,000 entries)", "resolve"];

/// What a command refused for contention counts as: longer than anything else.
pub const REFUSED: Duration = Duration::from_secs(3600);

/// Entries in the timeline of the incident whose report is read.
const LONG: usize = 1000;

/// Sends `line` to `team`'s room as `writer` and returns how long it took with its delivery and
/// the first line of its reply; `None` when it was refused for contention.
async fn send(dispatcher: &Dispatcher, team: usize, writer: usize, line: String) -> Option<(Duration, String)> {
    static EVENT: AtomicUsize = AtomicUsize::new(50_000_000);
    let mut message = inbound(team, EVENT.fetch_add(1, Ordering::Relaxed), line);
    message.sender = UserRef::console(person(writer));
    match timed(dispatcher, message).await {
        Ok(answered) => Some(answered),
        Err(DispatchError::Contended(_)) => None,
        Err(other) => panic!("mix command failed: {other}"),
    }
}

/// Prepares `team`: an incident with [`LONG`] timeline entries (its number 1), then one incident
/// per writer in `writers` (numbers 2, 3, …, in order).
async fn prepare(dispatcher: &Dispatcher, team: usize, writers: &[usize]) {
    send(dispatcher, team, 0, "!incident declare the long one".into()).await.expect("declared");
    for n in 0..LONG {
        send(dispatcher, team, 0, format!("!incident note TEAM{team}-1 observation {n}")).await.expect("noted");
    }
    for writer in writers {
        let line = format!("!incident declare {} is on it", person(*writer));
        send(dispatcher, team, *writer, line).await.expect("declared");
    }
}

/// Runs `rounds` rounds for `writers` people at once, writer `w` in `teams[w % teams.len()]`,
/// spread over `replicas`. Returns each kind's latencies, sorted (a command refused for
/// contention counts as [`REFUSED`]).
pub async fn run(
    replicas: &[Arc<Dispatcher>],
    teams: &[usize],
    writers: usize,
    rounds: usize,
) -> BTreeMap<&'static str, Vec<Duration>> {
    for (index, team) in teams.iter().enumerate() {
        let members: Vec<usize> = (0..writers).filter(|w| w % teams.len() == index).collect();
        prepare(&replicas[0], *team, &members).await;
    }
    let tasks: Vec<_> = (0..writers)
        .map(|writer| {
            let dispatcher = replicas[writer % replicas.len()].clone();
            let team = teams[writer % teams.len()];
            // The writer's own incident: after the long one, in the order prepared.
            let key = format!("TEAM{team}-{}", 2 + writer / teams.len());
            tokio::spawn(async move {
                let mut times: BTreeMap<&'static str, Vec<Duration>> = BTreeMap::new();
                let who = person(writer);
                for _ in 0..rounds {
                    let mut declared = String::new();
                    for kind in ROUND {
                        let line = match kind {
                            "declare" => format!("!incident declare {who} sees errors"),
                            "doing" => format!("!incident doing {key} checking the logs"),
                            "note" => format!("!incident note {key} the logs show a spike"),
                            "show" => format!("!incident show {key}"),
                            "!log" => format!("!log tools {who} restarted the proxy"),
                            "report (1,000 entries)" => format!("!incident report TEAM{team}-1"),
                            _ => format!("!incident resolve {declared} a bad deploy"),
                        };
                        let (took, reply) =
                            send(&dispatcher, team, writer, line).await.unwrap_or((REFUSED, String::new()));
                        if kind == "declare" && took != REFUSED {
                            declared = reply.split_whitespace().next().unwrap_or_default().to_owned();
                            assert!(declared.starts_with("TEAM"), "declared: {reply}");
                        }
                        times.entry(kind).or_default().push(took);
                    }
                }
                times
            })
        })
        .collect();
    let mut all: BTreeMap<&'static str, Vec<Duration>> = BTreeMap::new();
    for task in tasks {
        for (kind, times) in task.await.expect("writer") {
            all.entry(kind).or_default().extend(times);
        }
    }
    all.values_mut().for_each(|times| times.sort());
    all
}
