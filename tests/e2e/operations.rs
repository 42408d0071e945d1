//! Running Firebell as a service: `/metrics` in Prometheus's text format moving with a scripted
//! session, `/health/ready` following Redis, logs as JSON or plain text on a pipe, and Redis
//! over TLS with an ACL user (a test CA made here with `openssl`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use firebell_testkit::{RedisServer, TestDir, free_port};

use crate::{Firebell, wait_until_ready};

/// The config of these tests: the console, the HTTP server on `port`, the store at `store`.
pub(crate) fn config(dir: &Path, port: u16, store: &str, extra: &str) -> PathBuf {
    let text = format!(
        r##"
[console]
user = "alice"
room = "#wikimedia-cloud-admin"
[http]
listen = "127.0.0.1:{port}"
[store]
url = "{store}"
{extra}
[[teams]]
id = "wmcs"
name = "WMCS"
admin_rooms = ["console:#wikimedia-cloud-admin"]
[[teams.members]]
name = "alice"
timezone = "Europe/Madrid"
ids = ["console:alice"]
"##
    );
    let path = dir.join("firebell.toml");
    std::fs::write(&path, text).expect("config written");
    path
}

/// Starts the `firebell` binary with `config` (and what `prepare` adds to its command) and
/// declares an incident on its console: whether it ran to the end, what it printed, and its
/// errors.
pub(crate) fn declare_on_console(config: &Path, prepare: impl FnOnce(&mut Command)) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_firebell"));
    command.arg("--config").arg(config).env("FIREBELL_LOG", "error");
    prepare(&mut command);
    let mut child =
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("firebell starts");
    use std::io::Write;
    writeln!(child.stdin.take().expect("stdin"), "!incident declare from the console").expect("written");
    let output = child.wait_with_output().expect("firebell ends");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

/// The samples of a `/metrics` page, parsed as Prometheus parses them (it panics on a page that
/// is not Prometheus's text format), by name and labels.
pub(crate) async fn scrape(client: &reqwest::Client, base: &str) -> Vec<prometheus_parse::Sample> {
    let page = client.get(format!("{base}/metrics")).send().await.expect("scraped");
    assert_eq!(page.status(), 200);
    let text = page.text().await.expect("text");
    promtool(&["check", "metrics"], Some(&text));
    let lines = text.lines().map(|line| Ok(line.to_owned()));
    prometheus_parse::Scrape::parse(lines).expect("Prometheus text format").samples
}

/// Runs Prometheus's `promtool` with `args` (and `input` on stdin); panics with its complaints
/// unless it is content.
fn promtool(args: &[&str], input: Option<&str>) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (apt-get install prometheus)");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.unwrap_or_default().as_bytes()).expect("written");
    drop(stdin);
    let output = child.wait_with_output().expect("promtool ends");
    let said = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && !said.contains("problem"), "promtool {args:?}: {said}");
}

#[test]
fn the_deployment_examples_are_valid() {
    let root = env!("CARGO_MANIFEST_DIR");
    promtool(&["check", "rules", &format!("{root}/deploy/firebell-rules.yml")], None);
    let checked = Command::new("amtool")
        .args(["check-config", &format!("{root}/deploy/alertmanager.yml")])
        .output()
        .expect("amtool runs (apt-get install prometheus-alertmanager)");
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stdout));
    let unit = std::fs::read_to_string(format!("{root}/deploy/firebell.service")).expect("unit");
    for line in ["DynamicUser=yes", "ProtectSystem=strict", "Restart=on-failure", "--log-format json"] {
        assert!(unit.contains(line), "the unit has {line}");
    }
    for metric in ["firebell_jobs_run_total", "firebell_jobs_promoted_total", "firebell_adapter_connected"] {
        let rules = std::fs::read_to_string(format!("{root}/deploy/firebell-rules.yml")).expect("rules");
        assert!(rules.contains(metric), "the rules watch {metric}");
    }
}

/// The value of the sample named `name` whose labels include `labels` (0 when there is none).
pub(crate) fn value(samples: &[prometheus_parse::Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let wanted: HashMap<&str, &str> = labels.iter().copied().collect();
    samples
        .iter()
        .filter(|sample| sample.metric == name)
        .filter(|sample| wanted.iter().all(|(key, value)| sample.labels.get(key) == Some(*value)))
        .map(|sample| match &sample.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => *v,
            prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            prometheus_parse::Value::Summary(_) => 0.0,
        })
        .sum()
}

/// `/health/ready`'s status and body.
async fn readiness(client: &reqwest::Client, base: &str) -> (u16, serde_json::Value) {
    match client.get(format!("{base}/health/ready")).timeout(Duration::from_secs(3)).send().await {
        Ok(answer) => {
            let status = answer.status().as_u16();
            (status, serde_json::from_str(&answer.text().await.unwrap_or_default()).unwrap_or_default())
        }
        Err(err) => panic!("/health/ready did not answer: {err}"),
    }
}

/// Waits until `/health/ready` answers `status`; how long that took.
async fn ready_becomes(client: &reqwest::Client, base: &str, status: u16) -> (Duration, serde_json::Value) {
    let started = Instant::now();
    loop {
        let (now, body) = readiness(client, base).await;
        if now == status {
            return (started.elapsed(), body);
        }
        assert!(started.elapsed() < Duration::from_secs(30), "/health/ready stayed {now}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_with_a_session_and_readiness_follows_redis() {
    let dir = TestDir::new("operations");
    let mut redis = RedisServer::start();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut firebell = Firebell::start(&config(dir.path(), port, &redis.url(), ""));
    let client = reqwest::Client::new();
    wait_until_ready(&client, &format!("{base}/health/live")).await;
    assert_eq!(ready_becomes(&client, &base, 200).await.1, serde_json::json!({ "ready": true }));

    let before = scrape(&client, &base).await;
    assert_eq!(value(&before, "firebell_open_incidents", &[("team", "wmcs")]), 0.0);
    firebell.say("!incident declare the wiki is slow");
    firebell.expect("WMCS-1");
    firebell.say("!incident doing looking at the database");
    firebell.expect("noted");
    firebell.say("!incident doing");
    firebell.expect("usage");
    let after = scrape(&client, &base).await;
    let answered = [("plugin", "incident"), ("outcome", "answered")];
    assert_eq!(value(&after, "firebell_commands_total", &answered), 2.0);
    assert_eq!(value(&after, "firebell_commands_total", &[("plugin", "incident"), ("outcome", "refused")]), 1.0);
    assert!(value(&after, "firebell_command_latency_seconds_count", &[]) >= 2.0);
    assert!(value(&after, "firebell_store_round_trip_seconds_count", &[("call", "apply")]) >= 3.0);
    assert_eq!(value(&after, "firebell_open_incidents", &[("team", "wmcs")]), 1.0);
    assert_eq!(value(&after, "firebell_unacknowledged_pages", &[("team", "wmcs")]), 0.0);
    assert_eq!(value(&after, "firebell_adapter_connected", &[("transport", "console")]), 1.0);
    assert!(value(&after, "firebell_jobs_promoted_total", &[]) >= 0.0);

    redis.kill();
    let stopped = Instant::now();
    let (took, body) = ready_becomes(&client, &base, 503).await;
    assert!(took < Duration::from_secs(2), "/health/ready took {took:?} to see Redis gone");
    assert_eq!(body["ready"], false);
    assert!(body["reason"].as_str().is_some_and(|reason| reason.contains("store")), "{body}");
    let scraped = Instant::now();
    scrape(&client, &base).await;
    assert!(scraped.elapsed() < Duration::from_secs(3), "/metrics answers while Redis is down");
    // Long enough for the scheduler's calls to fail too.
    tokio::time::sleep(Duration::from_secs(3).saturating_sub(stopped.elapsed())).await;
    redis.restart();
    let (back, _) = ready_becomes(&client, &base, 200).await;
    println!("readiness: 503 {took:?} after Redis stopped, 200 again {back:?} after it restarted");
    let errors = value(&scrape(&client, &base).await, "firebell_store_errors_total", &[]);
    assert!(errors >= 1.0, "failed store calls counted: {errors}");
}

/// The lines `firebell` writes on stderr for a session of one command, started with `args`.
fn stderr_of_a_session(dir: &Path, args: &[&str]) -> String {
    let config = config(dir, free_port(), "memory://", "");
    let mut child = Command::new(env!("CARGO_BIN_EXE_firebell"))
        .arg("--config")
        .arg(&config)
        .args(args)
        .env("FIREBELL_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("firebell starts");
    use std::io::Write;
    writeln!(child.stdin.take().expect("stdin"), "!incident declare test").expect("written");
    let output = child.wait_with_output().expect("firebell ends");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stderr).expect("utf-8")
}

#[test]
fn logs_are_json_lines_or_plain_text_with_one_start_and_one_stop_line() {
    let dir = TestDir::new("logs");
    let json = stderr_of_a_session(dir.path(), &["--log-format", "json"]);
    let lines: Vec<serde_json::Value> =
        json.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"))).collect();
    let started: Vec<_> = lines.iter().filter(|line| line["message"] == "firebell started").collect();
    assert_eq!(started.len(), 1, "{json}");
    assert_eq!(started[0]["store"], "memory://");
    assert_eq!(started[0]["adapters"], "console");
    assert!(started[0]["version"].is_string() && started[0]["http"].is_string(), "{json}");
    assert_eq!(
        lines.iter().filter(|line| line["message"].as_str().is_some_and(|m| m.starts_with("firebell stopped"))).count(),
        1
    );

    let text = stderr_of_a_session(dir.path(), &[]);
    assert!(!text.contains('\u{1b}'), "no colour codes on a pipe: {text:?}");
    assert_eq!(text.lines().filter(|line| line.contains("firebell started")).count(), 1, "{text}");
}

/// A certificate authority and a server certificate for 127.0.0.1 signed by it, made with
/// `openssl` in `dir`; `name` prefixes the files. Returns the CA's file.
fn certificates(dir: &Path, name: &str) -> PathBuf {
    let run = |args: &[&str]| {
        let status = Command::new("openssl").args(args).current_dir(dir).stderr(Stdio::null()).status();
        assert!(status.is_ok_and(|s| s.success()), "openssl {args:?} (install openssl)");
    };
    let file = |suffix: &str| format!("{name}-{suffix}");
    let subject = format!("/CN={name} test CA");
    run(&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &file("ca.key"), "-out", &file("ca.crt")]
        .into_iter()
        .chain(["-days", "2", "-subj", &subject])
        .collect::<Vec<_>>());
    std::fs::write(dir.join(file("ext.cnf")), "subjectAltName=IP:127.0.0.1\n").expect("written");
    run(&["req", "-newkey", "rsa:2048", "-nodes", "-keyout", &file("server.key"), "-out", &file("server.csr")]
        .into_iter()
        .chain(["-subj", "/CN=127.0.0.1"])
        .collect::<Vec<_>>());
    run(&[
        "x509",
        "-req",
        "-in",
        &file("server.csr"),
        "-CA",
        &file("ca.crt"),
        "-CAkey",
        &file("ca.key"),
        "-CAcreateserial",
        "-out",
        &file("server.crt"),
        "-days",
        "2",
        "-extfile",
        &file("ext.cnf"),
    ]);
    dir.join(file("ca.crt"))
}

#[test]
fn redis_over_tls_with_an_acl_user_and_a_wrong_ca_or_password_refused_clearly() {
    let dir = TestDir::new("tls");
    let ca = certificates(dir.path(), "good");
    let stranger = certificates(dir.path(), "stranger");
    let tls_port = free_port();
    let file = |name: &str| dir.path().join(name).display().to_string();
    let (cert, key, tls_port_text) = (file("good-server.crt"), file("good-server.key"), tls_port.to_string());
    let _redis = RedisServer::start_with(&[
        "--save",
        "",
        "--tls-port",
        &tls_port_text,
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-ca-cert-file",
        &ca.display().to_string(),
        "--tls-auth-clients",
        "no",
        "--user",
        "firebell",
        "on",
        ">s3cret",
        "~*",
        "&*",
        "+@all",
    ]);
    let run = |url: &str, ca: &Path| {
        let extra = format!("ca_file = \"{}\"", ca.display());
        declare_on_console(&config(dir.path(), free_port(), url, &extra), |_| ())
    };
    let url = format!("rediss://firebell:s3cret@127.0.0.1:{tls_port}");
    let (ok, printed, errors) = run(&url, &ca);
    assert!(ok && printed.contains("WMCS-1"), "{printed}{errors}");

    let (ok, _, errors) = run(&url, &stranger);
    assert!(!ok, "{errors}");
    assert_eq!(errors.lines().count(), 1, "one line: {errors}");
    assert!(errors.contains("refuses the connection") && errors.contains("certificate"), "{errors}");
    assert!(!errors.contains("s3cret"), "no password in errors: {errors}");

    let (ok, _, errors) = run(&format!("rediss://firebell:wrong@127.0.0.1:{tls_port}"), &ca);
    assert!(!ok, "{errors}");
    assert_eq!(errors.lines().count(), 1, "one line: {errors}");
    assert!(errors.contains("refuses the connection"), "{errors}");
    assert!(!errors.contains("wrong@"), "no password in errors: {errors}");

    let (ok, _, errors) = run("redis+sentinel://127.0.0.1:1/mymaster", &ca);
    assert!(!ok && errors.contains("a CA file is for rediss:// URLs"), "{errors}");
}

/// How a scraped counter or gauge moves over the test's 40 minutes, so that every rule of
/// `deploy/firebell-rules.yml` has something to fire on: jobs keep falling due and none runs,
/// one is dead-lettered, `apply` keeps failing, and every adapter is down.
fn series_values(name: &str, labels: &prometheus_parse::Labels, scraped: f64) -> String {
    match name {
        "firebell_jobs_promoted_total" => format!("{scraped}+5x40"),
        "firebell_jobs_dead_lettered_total" => format!("{scraped}+1x40"),
        "firebell_store_errors_total" if labels.get("call") == Some("apply") => format!("{scraped}+60x40"),
        "firebell_adapter_connected" => "0x40".to_owned(),
        "firebell_pushes_total" if labels.get("outcome") == Some("failed") => format!("{scraped}+1x40"),
        _ => format!("{scraped}x40"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_alert_rule_fires_on_a_scrape_of_a_fresh_replica_whose_jobs_never_run() {
    let dir = TestDir::new("rules");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _firebell = Firebell::start(&config(dir.path(), port, "memory://", ""));
    let client = reqwest::Client::new();
    wait_until_ready(&client, &format!("{base}/health/live")).await;
    let samples = scrape(&client, &base).await;
    let scraped: Vec<&str> = samples.iter().map(|sample| sample.metric.as_str()).collect();
    for name in ["firebell_jobs_run_total", "firebell_jobs_promoted_total", "firebell_store_errors_total"] {
        assert!(scraped.contains(&name), "{name} exists from the start: {scraped:?}");
    }
    let mut series = vec![
        ("up{job=\"firebell\",instance=\"a\"}".to_owned(), "0x40".to_owned()),
        ("probe_success{job=\"firebell-ready\",instance=\"a\"}".to_owned(), "0x40".to_owned()),
    ];
    // No job ran, so the lateness histogram has no observation yet: its buckets as they would be.
    for le in firebell_runtime::metrics::LATENESS_BUCKETS.iter().map(f64::to_string).chain(["+Inf".to_owned()]) {
        let late = if le == "+Inf" || le.parse::<f64>().is_ok_and(|le| le > 30.0) { "0+10x40" } else { "0x40" };
        series.push((
            format!("firebell_job_lateness_seconds_bucket{{le=\"{le}\",instance=\"a\",job=\"firebell\"}}"),
            late.to_owned(),
        ));
    }
    let mut disconnected = Vec::new();
    for sample in &samples {
        let value = match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => continue,
        };
        let mut labels: Vec<String> = sample.labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        labels.extend(["instance=\"a\"".to_owned(), "job=\"firebell\"".to_owned()]);
        labels.sort();
        series.push((
            format!("{}{{{}}}", sample.metric, labels.join(",")),
            series_values(&sample.metric, &sample.labels, value),
        ));
        if sample.metric == "firebell_adapter_connected" {
            disconnected.push(sample.labels.get("transport").expect("transport").to_owned());
        }
    }
    assert!(disconnected.contains(&"console".to_owned()), "the console's connection is a series: {disconnected:?}");
    let input: String = series
        .iter()
        .map(|(series, values)| format!("      - series: '{series}'\n        values: '{values}'\n"))
        .collect();
    let alert = |name: &str, labels: &str, summary: &str| {
        format!(
            "      - eval_time: 40m\n        alertname: {name}\n        exp_alerts:\n          - exp_labels: {{{labels}}}\n            exp_annotations: {{summary: \"{summary}\"}}\n"
        )
    };
    let mut alerts = String::new();
    for (name, labels, summary) in [
        ("FirebellDown", "severity: page, job: firebell, instance: a", "Firebell replica a is not answering scrapes"),
        (
            "FirebellNotReady",
            "severity: page, job: firebell-ready, instance: a",
            "Firebell's /health/ready fails: its store or an adapter is down",
        ),
        (
            "FirebellNotRunningJobs",
            "severity: page",
            "Firebell is not running jobs: reminders and escalations are not going out",
        ),
        ("FirebellJobsLate", "severity: warning", "Firebell's jobs run more than 30 s late"),
        (
            "FirebellJobsDeadLettered",
            "severity: warning, job: firebell, instance: a",
            "Firebell gave up on a job after its last attempt",
        ),
        ("FirebellStoreErrors", "severity: warning", "Firebell's calls to Redis are failing"),
        (
            "FirebellPushesFailing",
            "severity: warning",
            "Firebell's pushes to people's phones fail: pages reach them only in chat",
        ),
    ] {
        alerts.push_str(&alert(name, labels, summary));
    }
    let adapters: String = disconnected
        .iter()
        .map(|transport| {
            format!(
                "          - exp_labels: {{severity: page, job: firebell, instance: a, transport: {transport}}}\n            exp_annotations: {{summary: \"Firebell's {transport} adapter is disconnected\"}}\n"
            )
        })
        .collect();
    alerts.push_str(&format!(
        "      - eval_time: 40m\n        alertname: FirebellAdapterDisconnected\n        exp_alerts:\n{adapters}"
    ));
    let rules = format!("{}/deploy/firebell-rules.yml", env!("CARGO_MANIFEST_DIR"));
    let tests = format!(
        "rule_files: ['{rules}']\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n{input}    alert_rule_test:\n{alerts}"
    );
    let file = dir.path().join("rules-test.yml");
    std::fs::write(&file, &tests).expect("written");
    let output = Command::new("promtool").args(["test", "rules"]).arg(&file).output().expect("promtool runs");
    let said = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "promtool test rules:\n{said}\n{tests}");
}
