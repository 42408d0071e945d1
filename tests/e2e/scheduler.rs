//! Timed work across real processes: two `firebell` replicas on one `redis-server` send every
//! reminder exactly once, also when one of them is killed and when Redis restarts mid-run.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use firebell_testkit::RedisServer;

const INCIDENTS: usize = 20;

/// A config with reminders every second and quick take-overs.
fn fast_config(dir: &std::path::Path) -> PathBuf {
    let path = dir.join("fast.toml");
    let config = r##"
[console]
user = "alice"
room = "#wikimedia-cloud-admin"

[scheduler]
tick = "100ms"
reclaim_after = "2s"

[[teams]]
id = "wmcs"
name = "WMCS"
admin_rooms = ["console:#wikimedia-cloud-admin"]

[teams.settings.incident]
reminder_interval = "1s"

[[teams.members]]
name = "alice"
timezone = "Europe/Madrid"
ids = ["console:alice"]
"##;
    std::fs::write(&path, config).expect("config written");
    path
}

/// A running `firebell` whose output is collected as it comes.
pub(crate) struct Replica {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

impl Replica {
    pub(crate) fn start(config: &std::path::Path, redis: &str, script: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_firebell"))
            .args(["--config".as_ref(), config.as_os_str(), "--store".as_ref(), redis.as_ref()])
            .env("FIREBELL_LOG", "error")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("firebell starts");
        child.stdin.take().expect("stdin").write_all(script.as_bytes()).expect("script written");
        let stdout = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, lines, reader: Some(reader) }
    }

    /// Waits for the process to end and returns everything it printed.
    pub(crate) fn finish(mut self) -> Vec<String> {
        self.child.wait().expect("firebell ends");
        self.reader.take().expect("reader").join().expect("reader thread");
        self.lines.lock().unwrap().clone()
    }

    /// Kills the process at once (SIGKILL), as a crash would, and returns what it printed.
    pub(crate) fn kill(mut self) -> Vec<String> {
        self.child.kill().expect("killed");
        self.finish()
    }
}

/// Every reminder printed: (incident number, reminder number) → how many times.
fn reminders(lines: &[String]) -> BTreeMap<(u32, u32), usize> {
    let mut seen = BTreeMap::new();
    for line in lines {
        let Some(rest) = line.split("firebell: Reminder ").nth(1) else { continue };
        let mut words = rest.split_whitespace();
        let count: u32 = words.next().and_then(|n| n.parse().ok()).expect("reminder number");
        let incident = words.nth(1).and_then(|id| id.strip_prefix("WMCS-")).and_then(|n| n.parse().ok());
        *seen.entry((incident.expect("incident id"), count)).or_default() += 1;
    }
    seen
}

/// Checks that each incident's reminders are numbered 1, 2, 3, … with none twice and none
/// missing, and at least `least` of them; returns how many reminders there were in all.
fn assert_exactly_once(seen: &BTreeMap<(u32, u32), usize>, least: u32) -> usize {
    let doubled: Vec<_> = seen.iter().filter(|(_, times)| **times > 1).collect();
    assert!(doubled.is_empty(), "reminders sent more than once: {doubled:?}");
    for incident in 1..=INCIDENTS as u32 {
        let numbers: Vec<u32> = seen.keys().filter(|(i, _)| *i == incident).map(|(_, n)| *n).collect();
        let expected: Vec<u32> = (1..=numbers.len() as u32).collect();
        assert_eq!(numbers, expected, "WMCS-{incident}: reminders missing");
        assert!(numbers.len() as u32 >= least, "WMCS-{incident}: only {} reminders", numbers.len());
    }
    seen.len()
}

fn declarations() -> String {
    (1..=INCIDENTS).map(|n| format!("!incident declare outage {n}\n")).collect()
}

#[test]
fn two_replicas_send_each_reminder_exactly_once() {
    let server = RedisServer::start();
    let config = fast_config(server.dir());
    let a = Replica::start(&config, &server.url(), &format!("{}/sleep 10s\n", declarations()));
    let b = Replica::start(&config, &server.url(), "/sleep 10s\n");
    let (a, b) = (a.finish(), b.finish());
    let declared = a.iter().filter(|line| line.contains(" declared: ")).count();
    assert_eq!(declared, INCIDENTS);
    let (from_a, from_b) = (reminders(&a), reminders(&b));
    assert!(
        !from_a.is_empty() && !from_b.is_empty(),
        "both replicas did their share: {} / {}",
        from_a.len(),
        from_b.len()
    );
    let mut all = from_a.clone();
    for (key, times) in from_b {
        *all.entry(key).or_default() += times;
    }
    let total = assert_exactly_once(&all, 7);
    eprintln!("two replicas: {total} reminders, {} by A, {} by B", from_a.len(), all.len() - from_a.len());
}

#[test]
fn reminders_survive_a_killed_replica_and_a_redis_restart() {
    let mut server = RedisServer::start_with(&["--appendonly", "yes", "--appendfsync", "always", "--save", ""]);
    let config = fast_config(server.dir());
    let a = Replica::start(&config, &server.url(), &format!("{}/sleep 14s\n", declarations()));
    let b = Replica::start(&config, &server.url(), "/sleep 30s\n");
    std::thread::sleep(Duration::from_secs(4));
    let from_b = b.kill();
    std::thread::sleep(Duration::from_secs(3));
    server.restart();
    let from_a = a.finish();
    let mut all = reminders(&from_a);
    let before_the_kill = reminders(&from_b);
    assert!(!before_the_kill.is_empty(), "the killed replica had sent reminders");
    for (key, times) in before_the_kill {
        *all.entry(key).or_default() += times;
    }
    let total = assert_exactly_once(&all, 9);
    eprintln!("kill and restart: {total} reminders");
}

/// Jobs due at once: the jobs of one subject run one after the other, in the order they fell
/// due, while other subjects' jobs run alongside.
mod lanes {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use firebell_core::declare::PluginInfo;
    use firebell_core::job::Job;
    use firebell_core::plugin::{Context, Invocation, Outcome, Plugin, PluginError, TeamContext};
    use firebell_core::store::{Guard, Write};
    use firebell_testkit::Harness;

    /// Records the order its jobs ran in, and how many ran at once at most.
    #[derive(PluginInfo, Default)]
    #[plugin(name = "lanes")]
    struct Lanes {
        ran: Mutex<Vec<String>>,
        running: AtomicUsize,
        most: AtomicUsize,
    }

    #[firebell_core::async_trait]
    impl Plugin for Lanes {
        async fn run(&self, _: &Context<'_>, _: &Invocation) -> Result<Outcome, PluginError> {
            Ok(Outcome::default())
        }

        async fn run_job(&self, _: &TeamContext<'_>, job: &Job) -> Result<Outcome, PluginError> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.ran.lock().expect("ran").push(job.id.clone());
            self.running.fetch_sub(1, Ordering::SeqCst);
            Ok(Outcome::default())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_subjects_jobs_run_in_order_and_other_subjects_alongside() {
        let plugin = Arc::new(Lanes::default());
        let bot = Harness::builder().plugin(plugin.clone()).build();
        let now = firebell_core::clock::Clock::now(bot.clock());
        let team = bot.bot().dispatcher().teams().iter().next().expect("a team").id.clone();
        let mut writes = Vec::new();
        for step in 0..5 {
            for subject in 0..4 {
                let due = now - chrono::Duration::seconds(10 - step);
                writes.push(Write::Schedule(Job::new(format!("drill:{subject}:step{step}"), "lanes", due, "")));
            }
        }
        bot.store().apply(Some(&team), Guard::NONE, &writes).await.expect("scheduled");
        bot.run_due().await;
        let ran = plugin.ran.lock().expect("ran").clone();
        assert_eq!(ran.len(), 20, "each job once: {ran:?}");
        for subject in 0..4 {
            let order: Vec<&String> = ran.iter().filter(|id| id.starts_with(&format!("drill:{subject}:"))).collect();
            let expected: Vec<String> = (0..5).map(|step| format!("drill:{subject}:step{step}")).collect();
            assert_eq!(order, expected.iter().collect::<Vec<_>>(), "subject {subject} in order");
        }
        assert!(plugin.most.load(Ordering::SeqCst) > 1, "subjects ran alongside");
    }
}

/// A delivery watchdog scheduled by an earlier version kept what it guards in an outbox under
/// its cause instead of carrying it; it still sends that, once, when it comes due.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watchdog_from_an_earlier_version_sends_its_outbox() {
    use firebell_core::clock::Clock;
    use firebell_core::ids::RoomRef;
    use firebell_core::job::Job;
    use firebell_core::message::{Action, Envelope, Message};
    use firebell_core::store::{Guard, Write};
    use firebell_testkit::{Harness, WMCS_ADMIN};

    let bot = Harness::builder().build();
    let team = bot.bot().dispatcher().teams().iter().next().expect("a team").id.clone();
    let due = bot.clock().now() - chrono::Duration::seconds(1);
    let old = Job { data: String::new(), ..Job::delivery_watchdog("console:before-the-upgrade", due, &[]) };
    let left = Action::Send { room: RoomRef::console(WMCS_ADMIN), message: Message::text("left behind"), thread: None };
    let envelopes = Envelope::number("console:before-the-upgrade", vec![left]);
    let writes = [Write::Schedule(old.clone()), Write::Outbox { cause: old.cause(), envelopes }];
    bot.store().apply(Some(&team), Guard::NONE, &writes).await.expect("kept the old way");
    let first = bot.run_due().await;
    assert_eq!(first.iter().filter(|line| line.contains("left behind")).count(), 1, "sent: {first:?}");
    let again = bot.run_due().await;
    assert!(again.iter().all(|line| !line.contains("left behind")), "sent once: {again:?}");
}
