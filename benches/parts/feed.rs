//! What a person subscribed to their on-call calendar feels while someone guesses tokens: the
//! feed fetched over the bot's real HTTP server (axum, the Redis store), alone and while 1,000
//! requests with wrong tokens come 50 at a time, as ratios to the server's own floor (a `GET
//! /health/live` on the same connection pool).

use std::sync::Arc;
use std::time::{Duration, Instant};

use firebell_core::clock::SystemClock;
use firebell_core::message::Action;
use firebell_core::plugin::Registry;
use firebell_core::team::Teams;
use firebell_plugin_paging::alertmanager::ReceiverOptions;
use firebell_runtime::bot::Bot;
use firebell_runtime::dispatcher::{DispatchOptions, Dispatcher};
use firebell_store_redis::RedisStore;
use tokio::sync::watch;

/// How many wrong-token requests, and how many at once.
const WRONG: usize = 1000;
const AT_ONCE: usize = 50;

/// The figures of the run.
pub struct Feed {
    /// `GET /health/live`, sorted.
    floor: Vec<Duration>,
    /// The feed alone, sorted.
    alone: Vec<Duration>,
    /// The feed while wrong tokens come, sorted.
    flooded: Vec<Duration>,
    /// Whether every wrong token got the same 404.
    all_refused: bool,
}

fn p50(sorted: &[Duration]) -> Duration {
    sorted[sorted.len() / 2]
}

async fn timed(client: &reqwest::Client, url: &str) -> (Duration, u16) {
    let start = Instant::now();
    let response = client.get(url).send().await.expect("an answer");
    let status = response.status().as_u16();
    response.bytes().await.expect("a body");
    (start.elapsed(), status)
}

impl Feed {
    /// Runs it against the Redis at `url`, with `team` (its roster and a schedule) as the team.
    pub async fn measure(url: &str, team: firebell_core::team::Team) -> Self {
        let store = Arc::new(RedisStore::connect(url, "bench-feed").await.expect("redis reachable"));
        let mut registry = Registry::new();
        registry.register(Arc::new(firebell_plugin_oncall::OncallPlugin)).expect("registered");
        let teams = Teams::new(vec![team.clone()]).expect("a team");
        let port = firebell_testkit::free_port();
        let options = DispatchOptions { web_url: format!("http://127.0.0.1:{port}"), ..DispatchOptions::default() };
        let dispatcher = Dispatcher::new(store, Arc::new(SystemClock), teams, registry, options);
        let room = team.admin_rooms[0].clone();
        let person = team.members[0].ids[0].clone();
        let inbound = firebell_core::message::Inbound {
            event_id: format!("bench-feed-{}", chrono::Utc::now().timestamp_millis()),
            room,
            sender: person,
            sender_name: None,
            sender_is_platform_admin: false,
            text: "!oncall ical new".into(),
            mentions: Vec::new(),
            ts: chrono::Utc::now(),
            thread: None,
            attachments: Vec::new(),
        };
        let dispatched = dispatcher.dispatch(&inbound).await.expect("!oncall ical");
        let link = dispatched
            .envelopes
            .iter()
            .find_map(|envelope| match &envelope.action {
                Action::DirectMessage { message, .. } => Some(message.render(|p| p.name.clone(), |r| r.to_string())),
                _ => None,
            })
            .and_then(|text| {
                text.split("- everyone: ").nth(1).map(|rest| rest.lines().next().unwrap_or_default().to_owned())
            })
            .expect("a feed link");
        let bot = Arc::new(Bot::new(dispatcher, firebell_core::adapter::Adapters::new()));
        let routes = firebell::http::routes(bot, ReceiverOptions::open("team", None), None);
        let (_stop, stopped) = watch::channel(false);
        let address = format!("127.0.0.1:{port}").parse().expect("an address");
        firebell::http::serve(address, routes, firebell::http::Limits::default(), stopped).await.expect("listening");
        let client = reqwest::Client::new();
        let live = format!("http://127.0.0.1:{port}/health/live");
        let mut floor = Vec::new();
        let mut alone = Vec::new();
        for _ in 0..200 {
            floor.push(timed(&client, &live).await.0);
            let (took, status) = timed(&client, &link).await;
            assert_eq!(status, 200, "the feed");
            alone.push(took);
        }
        let mut flooded = Vec::new();
        let mut all_refused = true;
        for batch in 0..WRONG / AT_ONCE {
            let wrong = (0..AT_ONCE).map(|n| {
                let url = format!("http://127.0.0.1:{port}/oncall/{}.ics?token={:040}", team.id, batch * AT_ONCE + n);
                let client = client.clone();
                async move { timed(&client, &url).await.1 }
            });
            let (owner, refused) = tokio::join!(timed(&client, &link), futures_util::future::join_all(wrong));
            assert_eq!(owner.1, 200, "the feed during the flood");
            flooded.push(owner.0);
            all_refused &= refused.iter().all(|status| *status == 404);
        }
        for list in [&mut floor, &mut alone, &mut flooded] {
            list.sort();
        }
        Self { floor, alone, flooded, all_refused }
    }

    fn ratio(&self, duration: Duration) -> f64 {
        duration.as_secs_f64() / p50(&self.floor).as_secs_f64()
    }

    /// Prints the figures.
    pub fn print(&self) {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "  An on-call calendar feed (90 days of two layers) over HTTP, floor GET /health/live p50 {:.3} ms:",
            ms(p50(&self.floor))
        );
        println!("    alone: p50 {:.3} ms = {:.2}x floor", ms(p50(&self.alone)), self.ratio(p50(&self.alone)));
        println!(
            "    while {WRONG} wrong tokens come {AT_ONCE} at a time: p50 {:.3} ms = {:.2}x floor",
            ms(p50(&self.flooded)),
            self.ratio(p50(&self.flooded))
        );
    }

    /// Prints the targets and whether they are met.
    pub fn print_targets(&self, verdict: fn(bool) -> &'static str) {
        let slowdown = p50(&self.flooded).as_secs_f64() / p50(&self.alone).as_secs_f64();
        println!(
            "    every wrong token refused with 404, and the feed under {AT_ONCE} wrong tokens at once within 3x of alone ({slowdown:.2}x): {}",
            verdict(self.all_refused && slowdown <= 3.0)
        );
    }
}
