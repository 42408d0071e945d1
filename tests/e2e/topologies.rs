//! Redis that survives losing a server: a Sentinel failover in the middle of a run (one master,
//! one replica, three sentinels, all real `redis-server` processes on loopback), and a real
//! three-master Redis Cluster made with `redis-cli --cluster create`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use firebell_store_redis::{RedisOptions, RedisStore};
use firebell_testkit::{RedisServer, TestDir, WMCS_ADMIN, free_port, text};

use crate::console::firebell;
use crate::replicas::{replica_at as replica, replica_with, two_replicas_answer_each_event_once};

/// Runs `redis-cli` against `port` with `args`; its output.
fn redis_cli(port: u16, args: &[&str]) -> String {
    redis_cli_as(port, None, args)
}

/// Runs `redis-cli` against `port` with `args`, logged in with `password` when given.
fn redis_cli_as(port: u16, password: Option<&str>, args: &[&str]) -> String {
    let mut command = Command::new("redis-cli");
    if let Some(password) = password {
        command.env("REDISCLI_AUTH", password);
    }
    let output = command
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stderr(Stdio::null())
        .output()
        .expect("redis-cli runs (apt-get install redis-tools)");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Waits until `check` holds, for at most 30 s.
fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "{what} did not happen within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A `redis-server --sentinel` process watching the master `mymaster`; killed on drop.
struct Sentinel {
    child: Child,
    port: u16,
}

impl Sentinel {
    fn start(dir: &Path, number: usize, master_port: u16) -> Self {
        Self::start_with(dir, number, master_port, "")
    }

    /// A sentinel with `extra` lines of configuration.
    fn start_with(dir: &Path, number: usize, master_port: u16, extra: &str) -> Self {
        let port = free_port();
        let config = dir.join(format!("sentinel-{number}.conf"));
        let text = format!(
            "port {port}\nbind 127.0.0.1\ndir {dir}\nsentinel monitor mymaster 127.0.0.1 {master_port} 2\n\
             sentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 10000\n\
             sentinel parallel-syncs mymaster 1\n{extra}",
            dir = dir.display()
        );
        std::fs::write(&config, text).expect("sentinel config written");
        let child = Command::new("redis-server")
            .arg(&config)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server --sentinel runs");
        let sentinel = Self { child, port };
        // A sentinel with a password answers NOAUTH.
        wait_for("a sentinel answering", || !redis_cli(port, &["ping"]).trim().is_empty());
        sentinel
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_mid_run_loses_no_command_and_no_reminder() {
    let dir = TestDir::new("sentinel");
    let mut master = RedisServer::start();
    let replica_port = master.port().to_string();
    let replica_server = RedisServer::start_with(&["--save", "", "--replicaof", "127.0.0.1", &replica_port]);
    let sentinels: Vec<Sentinel> = (0..3).map(|n| Sentinel::start(dir.path(), n, master.port())).collect();
    wait_for("the sentinels to see the replica", || {
        sentinels.iter().all(|s| redis_cli(s.port, &["sentinel", "replicas", "mymaster"]).contains("slave"))
    });
    let hosts: Vec<String> = sentinels.iter().map(|s| format!("127.0.0.1:{}", s.port)).collect();
    let url = format!("redis+sentinel://{}/mymaster", hosts.join(","));
    let typo = format!("redis+sentinel://{}/mymastr", hosts.join(","));
    let refused = RedisStore::connect(&typo, "sentinel").await.err().map(|err| err.to_string()).unwrap_or_default();
    assert!(refused.contains("refuses") && refused.contains("Master with given name not found"), "{refused}");
    let bot = replica(&url, "sentinel").await;

    bot.say("alice", WMCS_ADMIN, "!incident declare Ceph down").await;
    bot.say("alice", WMCS_ADMIN, "!incident note before the failover").await;
    // The replica has everything written so far (what asynchronous replication can lose is
    // written down in the README; this test is about following the new master).
    assert_eq!(redis_cli(master.port(), &["wait", "1", "5000"]).trim(), "1");
    // The first reminder falls due the moment the master dies.
    bot.clock().set(firebell_core::clock::Clock::now(bot.clock()) + chrono::Duration::minutes(30));

    master.kill();
    let killed = Instant::now();
    let reminder = async {
        loop {
            let _ = bot.scheduler().tick().await;
            if bot.transcript().contains("Reminder 1 for WMCS-1") {
                return killed.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let commands = async {
        let mut first_answer = None;
        let mut answers = Vec::new();
        for number in 0..20 {
            let reply = text(&bot.say("bob", WMCS_ADMIN, &format!("!incident note during failover {number}")).await);
            first_answer.get_or_insert(killed.elapsed());
            answers.push(reply);
        }
        (first_answer.unwrap_or_default(), answers)
    };
    let (reminder_late, (unable_to_write, answers)) = tokio::join!(reminder, commands);
    for (number, reply) in answers.iter().enumerate() {
        // The reminder may be printed in the same moment; it is checked below.
        let answers = reply.lines().filter(|line| *line == "WMCS-1: note added to the timeline.").count();
        assert_eq!(answers, 1, "command {number} answered once, as applied: {reply}");
        assert!(!reply.contains("error"), "{reply}");
    }
    let report = text(&bot.say("carol", WMCS_ADMIN, "!incident report").await);
    for number in 0..20 {
        let note = format!("bob: during failover {number}\n");
        assert_eq!(report.matches(&note).count(), 1, "note {number} recorded once:\n{report}");
    }
    assert!(report.contains("before the failover"), "{report}");
    assert_eq!(bot.transcript().matches("Reminder 1 for WMCS-1").count(), 1, "the reminder fired once");
    let role = redis_cli(replica_server.port(), &["role"]);
    assert!(role.starts_with("master"), "the replica was promoted: {role}");
    println!(
        "sentinel failover: the first command after the kill was answered {unable_to_write:?} later, \
         20 of 20 answered once, the reminder due at the kill fired {reminder_late:?} late"
    );
}

/// Sentinels that want a password of their own (`requirepass` in their configuration) are
/// asked with `[store] sentinel_password`, or `FIREBELL_SENTINEL_PASSWORD`; without it, or with a
/// wrong one, the bot stops at start with one line that names the cause and not the password.
/// After a failover the sentinels are asked again, with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinels_with_a_password_are_asked_with_it_and_refuse_clearly_without_it() {
    let dir = TestDir::new("sentinel-auth");
    let (data, own) = (Some("data-s3cret"), Some("sentinel-s3cret"));
    let mut master = RedisServer::start();
    let master_port = master.port().to_string();
    let replica_server = RedisServer::start_with(&["--save", "", "--replicaof", "127.0.0.1", &master_port]);
    for server in [&master, &replica_server] {
        redis_cli(server.port(), &["config", "set", "masterauth", "data-s3cret"]);
        assert_eq!(redis_cli(server.port(), &["config", "set", "requirepass", "data-s3cret"]).trim(), "OK");
    }
    let auth = "requirepass sentinel-s3cret\nsentinel sentinel-pass sentinel-s3cret\n\
                sentinel auth-pass mymaster data-s3cret\n";
    let sentinels: Vec<Sentinel> = (0..3).map(|n| Sentinel::start_with(dir.path(), n, master.port(), auth)).collect();
    wait_for("the sentinels to see the replica", || {
        sentinels.iter().all(|s| redis_cli_as(s.port, own, &["sentinel", "replicas", "mymaster"]).contains("slave"))
    });
    let hosts: Vec<String> = sentinels.iter().map(|s| format!("127.0.0.1:{}", s.port)).collect();
    let url = format!("redis+sentinel://:data-s3cret@{}/mymaster", hosts.join(","));

    let (ok, printed, errors) = start_and_declare(dir.path(), &url, r#"sentinel_password = "sentinel-s3cret""#, None);
    assert!(ok && printed.contains("WMCS-1 declared"), "{printed}{errors}");
    let (ok, printed, errors) = start_and_declare(dir.path(), &url, "", own);
    assert!(ok && printed.contains("WMCS-2 declared"), "from the environment: {printed}{errors}");
    for (extra, env) in [("", None), (r#"sentinel_password = "wrong-one""#, None), ("", Some("wrong-one"))] {
        let (ok, _, errors) = start_and_declare(dir.path(), &url, extra, env);
        assert!(!ok, "{errors}");
        assert_eq!(errors.lines().count(), 1, "one line: {errors}");
        assert!(errors.contains("refuses the connection"), "{errors}");
        assert!(errors.contains("sentinel_password or FIREBELL_SENTINEL_PASSWORD"), "says where it goes: {errors}");
        assert!(!errors.contains("s3cret") && !errors.contains("wrong-one"), "no password in errors: {errors}");
        println!("{errors}");
    }
    let plain = format!("redis://:data-s3cret@127.0.0.1:{}", master.port());
    let (ok, _, errors) = start_and_declare(dir.path(), &plain, r#"sentinel_password = "sentinel-s3cret""#, None);
    assert!(!ok && errors.lines().count() == 1, "{errors}");
    assert!(errors.contains("sentinel_password is for redis+sentinel:// URLs"), "{errors}");

    let options = RedisOptions {
        url: &url,
        namespace: "sentinel-auth",
        ca_file: None,
        sentinel_password: own,
        sentinel_user: None,
    };
    let bot = replica_with(RedisStore::open(&options).await.expect("sentinels asked with their password"));
    bot.say("alice", WMCS_ADMIN, "!incident declare Ceph down").await;
    assert_eq!(redis_cli_as(master.port(), data, &["wait", "1", "5000"]).trim(), "1");
    master.kill();
    let reply = text(&bot.say("bob", WMCS_ADMIN, "!incident note after the failover").await);
    assert_eq!(reply, "WMCS-1: note added to the timeline.", "answered by the new master");
    let role = redis_cli_as(replica_server.port(), data, &["role"]);
    assert!(role.starts_with("master"), "the replica was promoted: {role}");
}

/// Declares an incident on the console of the `firebell` binary on the store at `url`, with
/// `extra` in its `[store]` and `FIREBELL_SENTINEL_PASSWORD` set to `env`.
fn start_and_declare(dir: &Path, url: &str, extra: &str, env: Option<&str>) -> (bool, String, String) {
    let config = crate::operations::config(dir, free_port(), url, extra);
    crate::operations::declare_on_console(&config, |command| {
        command.env_remove("FIREBELL_SENTINEL_PASSWORD");
        if let Some(password) = env {
            command.env("FIREBELL_SENTINEL_PASSWORD", password);
        }
    })
}

/// Makes a three-master cluster of servers started here and waits until it serves every slot.
fn cluster() -> Vec<RedisServer> {
    let nodes: Vec<RedisServer> = (0..3)
        .map(|_| {
            RedisServer::start_with(&[
                "--save",
                "",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "2000",
            ])
        })
        .collect();
    let addresses: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())).collect();
    let created = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addresses)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(created.is_ok_and(|status| status.success()), "redis-cli --cluster create");
    wait_for("the cluster to serve every slot", || {
        nodes.iter().all(|n| redis_cli(n.port(), &["cluster", "info"]).contains("cluster_state:ok"))
    });
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_master_cluster_runs_the_whole_workflow_with_two_replicas() {
    let nodes = cluster();
    let hosts: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())).collect();
    let url = format!("redis+cluster://{}", hosts.join(","));

    let session = include_str!("session.txt");
    let (on_memory, on_cluster) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || (firebell(None, session), firebell(Some(&url), session))
    })
    .await
    .expect("sessions ran");
    assert_eq!(on_memory, on_cluster, "the whole session prints the same on a cluster");

    let (a, b) = (replica(&url, "cluster").await, replica(&url, "cluster").await);
    two_replicas_answer_each_event_once(&a, &b).await;

    // Every key of one team is in one slot, so on one node, whatever the node count.
    let holding: Vec<u16> = nodes
        .iter()
        .filter(|node| !redis_cli(node.port(), &["--scan", "--pattern", "cluster:{wmcs}:*"]).trim().is_empty())
        .map(RedisServer::port)
        .collect();
    assert_eq!(holding.len(), 1, "one node holds team wmcs: {holding:?}");
    let declared = text(&a.say("alice", WMCS_ADMIN, "!incident declare one more").await);
    assert!(declared.starts_with("WMCS-2 declared"), "{declared}");
}
