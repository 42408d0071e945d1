//! The public status page through the harness: chat drives it, the web pages show it, and a
//! security incident never reaches a public byte until disclosed.

use std::sync::Arc;

use firebell_plugin_incident::IncidentPlugin;
use firebell_plugin_statuspage::StatuspagePlugin;
use firebell_testkit::{Harness, WEB_URL, WMCS_ADMIN, sample_teams, text};
use serde_json::{Value, json};

fn bot() -> Harness {
    let mut teams = sample_teams();
    teams[0].config.insert("statuspage".into(), json!({ "components": ["Toolforge", "Cloud-VPS", "ToolsDB"] }));
    Harness::builder().teams(teams).plugin(Arc::new(IncidentPlugin)).plugin(Arc::new(StatuspagePlugin)).build()
}

async fn page(bot: &Harness, path: &str) -> String {
    let answer = bot.get(&format!("/status/wmcs{path}")).await;
    assert_eq!(answer.status, 200, "{path}");
    String::from_utf8(answer.body).expect("utf-8")
}

async fn every_public_byte(bot: &Harness) -> String {
    let mut all = String::new();
    for path in ["", "/history.atom", "/api/v2/summary.json", "/api/v2/status.json", "/api/v2/incidents.json"] {
        all.push_str(&page(bot, path).await);
    }
    all
}

#[tokio::test]
async fn chat_drives_the_public_page_its_feed_and_its_json_api() {
    let bot = bot();
    let quiet: Value = serde_json::from_str(&page(&bot, "/api/v2/status.json").await).unwrap();
    assert_eq!(quiet["status"], json!({ "indicator": "none", "description": "All Systems Operational" }));

    let declared =
        text(&bot.say("alice", WMCS_ADMIN, "!incident declare Toolforge webservices down --user-facing --sev 2").await);
    assert!(declared.contains("WMCS-1 declared"), "{declared}");
    let html = page(&bot, "").await;
    assert!(
        html.contains("<h3>Toolforge webservices down</h3>") && html.contains("We are investigating this issue."),
        "{html}"
    );

    let steps = [
        ("investigating", "We are looking into failing webservices."),
        ("identified", "A broken proxy node; replacing it."),
        ("monitoring", "A fix is in; watching."),
    ];
    for (state, words) in steps {
        let drafted = text(&bot.say("alice", WMCS_ADMIN, &format!("!incident status {state} {words}")).await);
        assert_eq!(
            drafted,
            format!(
                "Draft public update of WMCS-1 ({state}): \"{words}\". Users will read it on {WEB_URL}/status/wmcs. Publish it: !incident status send"
            )
        );
        assert!(!page(&bot, "").await.contains(words), "a draft is not public");
        let sent = text(&bot.say("alice", WMCS_ADMIN, "!incident status send").await);
        assert!(
            sent.starts_with(&format!("Published on {WEB_URL}/status/wmcs#wmcs-1: ")) && sent.ends_with(words),
            "{sent}"
        );
    }
    let html = page(&bot, "").await;
    let positions: Vec<usize> = steps.iter().map(|(_, words)| html.find(words).expect("shown")).collect();
    assert!(positions[2] < positions[1] && positions[1] < positions[0], "newest first: {positions:?}");

    assert_eq!(
        text(&bot.say("bob", WMCS_ADMIN, "!component toolsdb degraded").await),
        format!("ToolsDB is now degraded performance on {WEB_URL}/status/wmcs")
    );
    let summary: Value = serde_json::from_str(&page(&bot, "/api/v2/summary.json").await).unwrap();
    assert_eq!(summary["status"]["indicator"], "major", "a sev 2 incident is open");
    assert_eq!(summary["page"]["id"], "wmcs");
    assert_eq!(summary["page"]["url"], format!("{WEB_URL}/status/wmcs"));
    let components = summary["components"].as_array().unwrap();
    assert_eq!(components.len(), 3);
    assert_eq!(components[2]["name"], "ToolsDB");
    assert_eq!(components[2]["status"], "degraded_performance");
    assert_eq!(components[0]["status"], "operational");
    for field in ["id", "name", "status", "created_at", "updated_at", "page_id"] {
        assert!(components[0][field].is_string(), "components[].{field}");
    }
    assert!(
        components[0]["position"].is_u64()
            && components[0]["showcase"].is_boolean()
            && components[0]["group"].is_boolean()
    );
    let incident = &summary["incidents"][0];
    assert_eq!(incident["name"], "Toolforge webservices down");
    assert_eq!(incident["status"], "monitoring");
    assert_eq!(incident["impact"], "major");
    assert!(incident["resolved_at"].is_null() && incident["monitoring_at"].is_string());
    let updates = incident["incident_updates"].as_array().unwrap();
    assert_eq!(
        updates.iter().map(|u| u["status"].as_str().unwrap()).collect::<Vec<_>>(),
        ["monitoring", "identified", "investigating"]
    );
    for field in ["id", "status", "body", "incident_id", "created_at", "updated_at", "display_at"] {
        assert!(updates[0][field].is_string(), "incident_updates[].{field}");
    }
    assert!(summary["scheduled_maintenances"].as_array().unwrap().is_empty());

    assert!(text(&bot.say("bob", WMCS_ADMIN, "!component toolsdb operational").await).contains("operational"));
    bot.say("alice", WMCS_ADMIN, "!incident resolve proxy replaced").await;
    let summary: Value = serde_json::from_str(&page(&bot, "/api/v2/summary.json").await).unwrap();
    assert!(summary["incidents"].as_array().unwrap().is_empty(), "resolved incidents leave the summary");
    assert_eq!(summary["status"]["indicator"], "none");
    let history: Value = serde_json::from_str(&page(&bot, "/api/v2/incidents.json").await).unwrap();
    assert_eq!(history["incidents"][0]["status"], "resolved");
    let html = page(&bot, "").await;
    let past = html.find("Past incidents").unwrap();
    assert!(
        html[past..].contains("Toolforge webservices down")
            && html[past..].contains("This incident has been resolved.")
    );
    let atom = page(&bot, "/history.atom").await;
    assert!(atom.starts_with("<?xml") && atom.matches("<entry>").count() == 4, "{atom}");
}

#[tokio::test]
async fn a_security_incident_never_reaches_a_public_byte_until_disclosed() {
    let bot = bot();
    const CANARY: &str = "Canary-7f3e credential leak";
    bot.say("alice", WMCS_ADMIN, &format!("!incident declare {CANARY} --user-facing --security --sev 1")).await;
    let refused = text(&bot.say("alice", WMCS_ADMIN, "!incident status investigating looking").await);
    assert!(refused.contains("is a security incident: nothing about it goes public"), "{refused}");
    assert_eq!(
        text(&bot.say("alice", WMCS_ADMIN, "!incident disclose").await),
        "WMCS-1 is still open: disclose a security incident once it is resolved"
    );
    let public = every_public_byte(&bot).await;
    assert!(!public.contains("Canary") && !public.contains("wmcs-1") && !public.contains("WMCS-1"), "{public}");
    let status: Value = serde_json::from_str(&page(&bot, "/api/v2/status.json").await).unwrap();
    assert_eq!(status["status"]["indicator"], "none", "not even the indicator tells");
    bot.say("alice", WMCS_ADMIN, "!incident resolve rotated").await;
    assert!(!every_public_byte(&bot).await.contains("Canary"), "resolved but not disclosed");
    assert_eq!(
        text(&bot.say("alice", WMCS_ADMIN, "!incident disclose WMCS-1").await),
        format!("WMCS-1 disclosed: it now shows on {WEB_URL}/status/wmcs.")
    );
    let page = every_public_byte(&bot).await;
    assert!(page.contains(CANARY), "disclosed");
}

#[tokio::test]
async fn bad_input_is_refused_in_one_line_and_changes_nothing() {
    let bot = bot();
    for (line, expected) in [
        ("!component toolsdb broken", "expected a state: operational, degraded, partial, major or maintenance"),
        (
            "!component nfs major",
            "expected a component of the status page (Toolforge, Cloud-VPS, ToolsDB), got \"nfs\"",
        ),
        ("!incident status monitoring fixed", "there is no open incident"),
        ("!incident status send", "there is no open incident"),
    ] {
        let answer = text(&bot.say("bob", WMCS_ADMIN, line).await);
        assert!(answer.contains(expected) && !answer.contains('\n'), "{line}: {answer}");
    }
    bot.say("alice", WMCS_ADMIN, "!incident declare Internal only").await;
    let answer = text(&bot.say("alice", WMCS_ADMIN, "!incident status monitoring fine").await);
    assert_eq!(answer, "WMCS-1 is not user-facing, so it has no public page entry");
    assert_eq!(bot.get("/status/wmcs/nope").await.status, 404);
    assert_eq!(bot.get("/status/nope").await.status, 404);
    assert!(!every_public_byte(&bot).await.contains("Internal only"), "not user-facing, not public");
}
