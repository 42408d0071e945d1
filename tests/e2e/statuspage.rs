//! The public status page through the binary's HTTP server, read by a real browser (Debian's
//! `chromium`, headless): the team's page and the root, the JSON API at the root, the per-replica
//! page cache, and the HTML's structure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use firebell_testkit::{TestDir, free_port};

use crate::Firebell;

/// A console bot with one team, its status page components, and an HTTP server on `port`
/// keeping pages `cache` long.
fn config(dir: &Path, port: u16, cache: &str) -> PathBuf {
    let text = format!(
        r##"
[console]
user = "alice"
room = "#wikimedia-cloud-admin"
[http]
listen = "127.0.0.1:{port}"
page_cache = "{cache}"
trusted_user_header = "X-Forwarded-User"
[[teams]]
id = "wmcs"
name = "WMCS"
admin_rooms = ["console:#wikimedia-cloud-admin"]
[teams.config.statuspage]
components = ["Toolforge", "ToolsDB"]
[[teams.members]]
name = "alice"
timezone = "Europe/Madrid"
ids = ["console:alice"]
admin = true
"##
    );
    let path = dir.join("statuspage.toml");
    std::fs::write(&path, text).expect("config written");
    path
}

async fn json(client: &reqwest::Client, url: &str) -> serde_json::Value {
    let body = client.get(url).send().await.expect("an answer").text().await.expect("a body");
    serde_json::from_str(&body).unwrap_or_else(|err| panic!("{url}: {err}: {body}"))
}

/// The page as a headless Chromium renders it: its DOM, and a phone-sized screenshot in `dir`.
fn in_chromium(url: &str, dir: &Path) -> String {
    let browser = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".to_owned());
    let headless = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage"];
    let dom = Command::new(&browser)
        .args(headless)
        .arg(format!("--user-data-dir={}", dir.join("chromium").display()))
        .args(["--dump-dom", url])
        .output()
        .expect("chromium runs (apt-get install chromium)");
    assert!(dom.status.success(), "chromium: {}", String::from_utf8_lossy(&dom.stderr));
    let shot = dir.join("status-phone.png");
    let taken = Command::new(&browser)
        .args(headless)
        .arg(format!("--user-data-dir={}", dir.join("chromium").display()))
        .args(["--window-size=412,915", &format!("--screenshot={}", shot.display()), url])
        .output()
        .expect("chromium runs");
    assert!(taken.status.success(), "chromium screenshot: {}", String::from_utf8_lossy(&taken.stderr));
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000, "a real screenshot ({} bytes)", png.len());
    String::from_utf8(dom.stdout).expect("utf-8")
}

/// Checks what every page must have: a language, a title, landmarks, and tags that close in
/// the order they opened (void elements aside).
fn assert_well_formed(html: &str) {
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"), "doctype and lang");
    for landmark in ["<title>", "<header>", "<main>", "<footer>", "<h1>"] {
        assert!(html.contains(landmark), "{landmark}");
    }
    const VOID: [&str; 6] = ["meta", "link", "br", "img", "input", "hr"];
    let mut open: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').expect("a tag closes") + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') {
            continue;
        }
        let name: String = tag.trim_start_matches('/').chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        if let Some(closed) = tag.strip_prefix('/') {
            let closed: String = closed.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
            assert_eq!(open.pop().as_deref(), Some(closed.as_str()), "tags close in order");
        } else if !VOID.contains(&name.as_str()) {
            open.push(name);
        }
        if open.last().is_some_and(|last| last == "style") {
            let close = rest.find("</style>").expect("style closes");
            rest = &rest[close..];
        }
    }
    assert!(open.is_empty(), "unclosed: {open:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_renders_in_a_real_browser_at_its_path_and_at_the_root() {
    let dir = TestDir::new("statuspage");
    let port = free_port();
    let mut bot = Firebell::start(&config(dir.path(), port, "0s"));
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    crate::wait_until_ready(&client, &format!("{base}/health/live")).await;
    bot.say("!incident declare Toolforge webservices down --user-facing --sev 2");
    bot.expect("WMCS-1 declared");
    bot.say("!incident status identified A broken proxy node; replacing it.");
    bot.expect("Draft public update of WMCS-1");
    bot.say("!incident status send");
    bot.expect("Published on");
    bot.say("!component toolsdb partial");
    bot.expect("ToolsDB is now partial outage");

    let html = client.get(format!("{base}/status/wmcs")).send().await.unwrap().text().await.unwrap();
    assert_well_formed(&html);
    let root = client.get(format!("{base}/")).send().await.unwrap().text().await.unwrap();
    assert_eq!(root, html, "one team: the root is its page");
    let summary = json(&client, &format!("{base}/api/v2/summary.json")).await;
    assert_eq!(summary["incidents"][0]["name"], "Toolforge webservices down");
    assert_eq!(summary["components"][1]["status"], "partial_outage");
    let atom = client.get(format!("{base}/status/wmcs/history.atom")).send().await.unwrap();
    assert_eq!(atom.headers()["content-type"], "application/atom+xml; charset=utf-8");

    let live = format!("{base}/incidents/WMCS-1");
    assert_eq!(client.get(&live).send().await.unwrap().status(), 403, "not public");
    let through_proxy = client.get(&live).header("X-Forwarded-User", "alice").send().await.unwrap();
    assert_eq!(through_proxy.status(), 200, "a team member named by the trusted proxy");
    let doc = through_proxy.text().await.unwrap();
    assert!(doc.contains("WMCS-1: Toolforge webservices down") && doc.contains("Timeline (UTC)"), "{doc}");
    let stranger = client.get(&live).header("X-Forwarded-User", "mallory").send().await.unwrap();
    assert_eq!(stranger.status(), 403, "someone off the roster");

    let dom = in_chromium(&format!("{base}/status/wmcs"), dir.path());
    for shown in
        ["Toolforge webservices down", "A broken proxy node; replacing it.", "Partial outage", "Partial System Outage"]
    {
        assert!(dom.contains(shown), "the browser shows {shown:?}");
    }
    assert!(!dom.contains("<script"), "no JavaScript");
    eprintln!("screenshot: {}", dir.path().join("status-phone.png").display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_replica_keeps_a_public_page_for_its_page_cache() {
    let dir = TestDir::new("statuspage-cache");
    let port = free_port();
    let mut bot = Firebell::start(&config(dir.path(), port, "3s"));
    let url = format!("http://127.0.0.1:{port}/status/wmcs/api/v2/summary.json");
    let client = reqwest::Client::new();
    crate::wait_until_ready(&client, &format!("http://127.0.0.1:{port}/health/live")).await;
    let incidents = |summary: serde_json::Value| summary["incidents"].as_array().map_or(0, Vec::len);
    assert_eq!(incidents(json(&client, &url).await), 0);
    bot.say("!incident declare ToolsDB slow --user-facing");
    bot.expect("WMCS-1 declared");
    assert_eq!(incidents(json(&client, &url).await), 0, "kept for 3 s");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let shown = incidents(json(&client, &url).await);
        if shown == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the page came back fresh after its 3 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
