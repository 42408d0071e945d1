//! Chaos: three replicas of the real binary on one Redis behind a Slack-faithful fake that
//! answers posts slowly, a driver that delivers each command as Slack does (to one replica,
//! again to another when it gets no `2xx` within 3 seconds), a replica SIGKILLed every few
//! seconds and started again, and one Redis restart. Every command must be kept exactly once
//! and answered exactly once.
//!
//! `FIREBELL_CHAOS_COMMANDS` sets the number of commands per run (120 by default).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use firebell_core::ids::TeamId;
use firebell_core::state::Reads;
use firebell_plugin_incident::timeline_of;
use firebell_store_redis::RedisStore;
use firebell_testkit::RedisServer;
use tokio::sync::Mutex;

use crate::slack::{Bot, Workspace, message};

fn commands() -> usize {
    std::env::var("FIREBELL_CHAOS_COMMANDS").ok().and_then(|n| n.parse().ok()).unwrap_or(120)
}

const REPLICAS: usize = 3;

/// The replicas: each slot holds a running process, or none while it is down.
struct Replicas {
    slots: Vec<Mutex<Option<Bot>>>,
    ports: Vec<u16>,
    configs: Vec<std::path::PathBuf>,
}

impl Replicas {
    fn start(&self, index: usize) -> Bot {
        crate::slack::spawn(&self.configs[index], self.ports[index])
    }
}

/// What one run saw.
#[derive(Debug, Default)]
struct Figures {
    commands: usize,
    refused_then_retried: usize,
    kills: usize,
    redis_restarts: usize,
    lost: usize,
    doubled: usize,
}

async fn run(post_latency: Duration, name: &str) -> Figures {
    let count = commands();
    let mut redis = RedisServer::start_with(&["--appendonly", "yes", "--appendfsync", "always", "--save", ""]);
    let slack = Workspace::new(name).await;
    let extra = "[scheduler]\ndelivery_grace = \"5s\"\ntick = \"200ms\"\nreclaim_after = \"4s\"";
    let (mut ports, mut configs, mut slots) = (Vec::new(), Vec::new(), Vec::new());
    for index in 0..REPLICAS {
        let port = firebell_testkit::free_port();
        let config = slack.config_with(&format!("r{index}"), "http", port, &redis.url(), extra);
        let text = std::fs::read_to_string(&config).expect("config");
        std::fs::write(&config, text.replace("channel_pace = \"1s\"", "channel_pace = \"20ms\"")).expect("written");
        slots.push(Mutex::new(Some(crate::slack::spawn(&config, port))));
        ports.push(port);
        configs.push(config);
    }
    let replicas = Arc::new(Replicas { slots, ports, configs });
    for port in &replicas.ports {
        let deadline = Instant::now() + Duration::from_secs(30);
        while slack.client.get(format!("http://127.0.0.1:{port}/health")).send().await.is_err() {
            assert!(Instant::now() < deadline, "a replica did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let declared = message("U0ALICE", "!incident declare chaos", "1700000000.000001", None);
    assert_eq!(slack.try_event(replicas.ports[0], "EvDeclare", declared, 0).await, Some(reqwest::StatusCode::OK));
    slack.fake.wait_for_messages(1).await;
    slack.fake.set_delay(post_latency);

    let done = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicUsize::new(0));
    let chaos = {
        let (replicas, done, kills) = (replicas.clone(), done.clone(), kills.clone());
        tokio::spawn(async move {
            let mut restarted = 0;
            let mut round = 0usize;
            while !done.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_secs(3)).await;
                round += 1;
                let victim = round % REPLICAS;
                drop(replicas.slots[victim].lock().await.take()); // SIGKILL
                kills.fetch_add(1, Ordering::Relaxed);
                if round == 2 {
                    redis = tokio::task::spawn_blocking(move || {
                        redis.restart();
                        redis
                    })
                    .await
                    .expect("redis restarted");
                    restarted += 1;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                *replicas.slots[victim].lock().await = Some(replicas.start(victim));
            }
            (redis, restarted)
        })
    };

    let mut figures = Figures { commands: count, ..Figures::default() };
    let started = Instant::now();
    for n in 0..count {
        let ts = format!("1700001000.{n:06}");
        let event = message("U0ALICE", &format!("!incident doing chaos-{n}"), &ts, None);
        let mut attempt = 0;
        loop {
            let replica = (n + attempt) % REPLICAS;
            let status =
                slack.try_event(replicas.ports[replica], &format!("EvChaos{n}"), event.clone(), attempt as u32).await;
            if status.is_some_and(|status| status.is_success()) {
                break;
            }
            figures.refused_then_retried += 1;
            attempt += 1;
            assert!(attempt < 200, "command {n} was never accepted: {status:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    done.store(true, Ordering::Relaxed);
    let (redis, restarts) = chaos.await.expect("chaos ran");
    figures.kills = kills.load(Ordering::Relaxed);
    figures.redis_restarts = restarts;
    for index in 0..REPLICAS {
        let mut slot = replicas.slots[index].lock().await;
        if slot.is_none() {
            *slot = Some(replicas.start(index));
        }
    }

    let answered = |n: usize, history: &[firebell_testkit::Posted]| {
        history.iter().filter(|m| m.text.ends_with(&format!("doing: chaos-{n}"))).count()
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let history = slack.fake.history();
        if (0..count).all(|n| answered(n, &history) >= 1) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(8)).await;
    let history = slack.fake.history();
    let store = RedisStore::connect(&redis.url(), "slack-test").await.expect("redis");
    let team = TeamId::new("wmcs").expect("team");
    let reads = Reads::new(&store, Some(&team), None);
    let timeline = timeline_of(&reads, 1).await.expect("the timeline");
    for n in 0..count {
        let kept = timeline.iter().filter(|entry| entry.text == format!("doing: chaos-{n}")).count();
        let answers = answered(n, &history);
        if kept == 0 || answers == 0 {
            figures.lost += 1;
        }
        if kept > 1 || answers > 1 {
            figures.doubled += 1;
        }
    }
    eprintln!(
        "chaos, Slack answering posts in {post_latency:?}: {figures:?} ({} commands) in {:?}",
        figures.commands,
        started.elapsed()
    );
    figures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_killed_and_a_redis_restart_behind_a_slack_answering_in_a_fifth_of_a_second() {
    let figures = run(Duration::from_millis(200), "chaos-fast").await;
    assert!(figures.kills >= 2 && figures.redis_restarts == 1, "{figures:?}");
    assert_eq!((figures.lost, figures.doubled), (0, 0), "{figures:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_killed_and_a_redis_restart_behind_a_slack_answering_in_a_second() {
    let figures = run(Duration::from_secs(1), "chaos-slow").await;
    assert!(figures.kills >= 2 && figures.redis_restarts == 1, "{figures:?}");
    assert_eq!((figures.lost, figures.doubled), (0, 0), "{figures:?}");
}
