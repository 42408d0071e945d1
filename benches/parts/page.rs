//! What the team feels while its public status page is popular: `!incident doing` latency with
//! the page idle, and while 1,000 requests a second fetch it over the bot's real HTTP server (the
//! replicas' 5-second page cache on, as in production). The readers run in this process, so they
//! take CPU from the bot as an external crowd would not: an upper bound.

use std::sync::Arc;
use std::time::{Duration, Instant};

use firebell_core::clock::SystemClock;
use firebell_core::plugin::Registry;
use firebell_core::team::{Team, Teams};
use firebell_plugin_paging::alertmanager::ReceiverOptions;
use firebell_runtime::bot::Bot;
use firebell_runtime::dispatcher::{DispatchOptions, Dispatcher};
use firebell_store_redis::RedisStore;
use tokio::sync::watch;

/// Page requests a second while commands are timed.
const RATE: u64 = 1000;
/// Commands timed each way.
const COMMANDS: usize = 400;

/// The figures of the run.
pub struct Page {
    alone: Vec<Duration>,
    loaded: Vec<Duration>,
    served: usize,
    failed: usize,
    seconds: f64,
}

fn percentile(sorted: &[Duration], at: f64) -> Duration {
    sorted[((sorted.len() as f64 * at) as usize).min(sorted.len() - 1)]
}

async fn doing(
    dispatcher: &Dispatcher,
    room: &firebell_core::ids::RoomRef,
    user: &firebell_core::ids::UserRef,
    n: usize,
) -> Duration {
    let inbound = firebell_core::message::Inbound {
        event_id: format!("bench-page-{n}-{}", chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()),
        room: room.clone(),
        sender: user.clone(),
        sender_name: None,
        sender_is_platform_admin: false,
        text: format!("!incident doing step {n}"),
        mentions: Vec::new(),
        ts: chrono::Utc::now(),
        thread: None,
        attachments: Vec::new(),
    };
    let start = Instant::now();
    dispatcher.dispatch(&inbound).await.expect("!incident doing");
    start.elapsed()
}

impl Page {
    /// Runs it against the Redis at `url` with `team`, which gets a user-facing incident.
    pub async fn measure(url: &str, mut team: Team) -> Self {
        team.config.insert("statuspage".into(), serde_json::json!({ "components": ["API", "Web", "Database"] }));
        let store = Arc::new(RedisStore::connect(url, "bench-page").await.expect("redis reachable"));
        let mut registry = Registry::new();
        registry.register(Arc::new(firebell_plugin_incident::IncidentPlugin)).expect("registered");
        registry.register(Arc::new(firebell_plugin_statuspage::StatuspagePlugin)).expect("registered");
        let port = firebell_testkit::free_port();
        let options = DispatchOptions {
            web_url: format!("http://127.0.0.1:{port}"),
            web_cache: Duration::from_secs(5),
            ..DispatchOptions::default()
        };
        let (room, user) = (team.admin_rooms[0].clone(), team.members[0].ids[0].clone());
        let team_id = team.id.to_string();
        let dispatcher =
            Dispatcher::new(store, Arc::new(SystemClock), Teams::new(vec![team]).expect("a team"), registry, options);
        let bot = Arc::new(Bot::new(dispatcher, firebell_core::adapter::Adapters::new()));
        let declare = doing_line(&room, &user, "!incident declare Bench outage --user-facing");
        bot.dispatcher().dispatch(&declare).await.expect("declared");
        let routes = firebell::http::routes(bot.clone(), ReceiverOptions::open("team", None), None);
        let (_stop, stopped) = watch::channel(false);
        let address = format!("127.0.0.1:{port}").parse().expect("an address");
        firebell::http::serve(address, routes, firebell::http::Limits::default(), stopped).await.expect("listening");

        let mut alone = Vec::new();
        for n in 0..COMMANDS {
            alone.push(doing(bot.dispatcher(), &room, &user, n).await);
        }
        let page = format!("http://127.0.0.1:{port}/status/{team_id}");
        let (stop_readers, readers_stopped) = watch::channel(false);
        let client = reqwest::Client::new();
        let readers: Vec<_> = (0..10)
            .map(|_| {
                let (client, page, mut stopped) = (client.clone(), page.clone(), readers_stopped.clone());
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 * 10 / RATE));
                    let (mut served, mut failed) = (0, 0);
                    loop {
                        tokio::select! {
                            _ = tick.tick() => {}
                            _ = stopped.changed() => return (served, failed),
                        }
                        match client.get(&page).send().await {
                            Ok(response) if response.status().is_success() => {
                                response.bytes().await.ok();
                                served += 1;
                            }
                            _ => failed += 1,
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let started = Instant::now();
        let mut loaded = Vec::new();
        for n in 0..COMMANDS {
            loaded.push(doing(bot.dispatcher(), &room, &user, COMMANDS + n).await);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let seconds = started.elapsed().as_secs_f64() + 0.5;
        let _ = stop_readers.send(true);
        let (mut served, mut failed) = (0, 0);
        for reader in readers {
            let (s, f) = reader.await.expect("a reader");
            served += s;
            failed += f;
        }
        alone.sort();
        loaded.sort();
        Self { alone, loaded, served, failed, seconds }
    }

    /// Prints the figures.
    pub fn print(&self) {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "  The public status page read {RATE} times a second over HTTP (readers in this process), and !incident doing meanwhile:"
        );
        println!(
            "    alone: p50 {:.3} ms, p99 {:.3} ms; while read ({:.0} pages/s served, {} failed): p50 {:.3} ms, p99 {:.3} ms",
            ms(percentile(&self.alone, 0.5)),
            ms(percentile(&self.alone, 0.99)),
            self.served as f64 / self.seconds,
            self.failed,
            ms(percentile(&self.loaded, 0.5)),
            ms(percentile(&self.loaded, 0.99)),
        );
    }

    /// Prints the target and whether it is met.
    pub fn print_targets(&self, verdict: fn(bool) -> &'static str) {
        let slowdown = percentile(&self.loaded, 0.5).as_secs_f64() / percentile(&self.alone, 0.5).as_secs_f64();
        let rate = self.served as f64 / self.seconds;
        println!(
            "    commands while the status page takes {RATE} requests/s ({rate:.0} served, {} failed) within 2x of their p50 alone ({slowdown:.2}x): {}",
            self.failed,
            verdict(self.failed == 0 && rate >= RATE as f64 * 0.9 && slowdown <= 2.0)
        );
    }
}

fn doing_line(
    room: &firebell_core::ids::RoomRef,
    user: &firebell_core::ids::UserRef,
    text: &str,
) -> firebell_core::message::Inbound {
    firebell_core::message::Inbound {
        event_id: format!("bench-page-declare-{}", chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()),
        room: room.clone(),
        sender: user.clone(),
        sender_name: None,
        sender_is_platform_admin: false,
        text: text.to_owned(),
        mentions: Vec::new(),
        ts: chrono::Utc::now(),
        thread: None,
        attachments: Vec::new(),
    }
}
