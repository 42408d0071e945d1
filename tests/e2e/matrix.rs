//! The whole workflow in Matrix rooms on a real Synapse homeserver, with people driven through
//! the client-server API: invites, declare, IC claim and handoff, `!log`, `!status`, resolve and
//! report; no answers to the backlog after a restart (and the same device); replicas on one
//! account and one Redis answering once; threads, room admins, encrypted rooms.

use std::path::PathBuf;
use std::time::Duration;

use firebell_testkit::{MatrixUser, RedisServer, Synapse, TcpProxy, TestDir};

/// A `firebell` process on Matrix only, killed on drop.
type Bot = crate::Daemon;

/// A test's world: a bot account, two people on the team roster, an admin and a public room.
struct World {
    bot: MatrixUser,
    alice: MatrixUser,
    bob: MatrixUser,
    admin: String,
    public: String,
    dir: TestDir,
    /// Where the bot reaches the homeserver (directly, or through a proxy).
    homeserver: String,
}

impl World {
    async fn new(name: &str) -> Self {
        let synapse = Synapse::shared();
        let bot = synapse.register("firebell").await;
        let alice = synapse.register("alice").await;
        let bob = synapse.register("bob").await;
        let invite = [bot.user_id.as_str(), bob.user_id.as_str()];
        let admin = alice.create_room("WMCS admin", &invite, false).await;
        let public = alice.create_room("WMCS", &invite, false).await;
        bob.join(&admin).await;
        bob.join(&public).await;
        alice.set_power_level(&public, &bot.user_id, 50).await;
        let dir = TestDir::new(&format!("matrix-{name}"));
        Self { bot, alice, bob, admin, public, dir, homeserver: synapse.url() }
    }

    /// Writes a config for replica `replica` and returns its path.
    fn config(&self, replica: &str, store: &str, extra_admin_room: Option<&str>) -> PathBuf {
        self.config_with(replica, store, extra_admin_room, "")
    }

    /// A config with `extra` TOML at the end (in the team's table).
    fn config_with(&self, replica: &str, store: &str, extra_admin_room: Option<&str>, extra: &str) -> PathBuf {
        let mut admin_rooms = vec![format!("matrix:{}", self.admin)];
        admin_rooms.extend(extra_admin_room.map(|room| format!("matrix:{room}")));
        let team = crate::team_toml(
            &admin_rooms,
            &format!("matrix:{}", self.public),
            &format!("matrix:{}", self.alice.user_id),
            &format!("matrix:{}", self.bob.user_id),
        );
        let config = format!(
            r##"
[store]
url = "{store}"
namespace = "matrix-test"
[console]
enabled = false
[scheduler]
tick = "200ms"
[matrix]
enabled = true
homeserver = "{homeserver}"
user_id = "{bot}"
password = "{password}"
store = "{dir}/{replica}"
{team}
{extra}
"##,
            homeserver = self.homeserver,
            bot = self.bot.user_id,
            password = self.bot.password,
            dir = self.dir.path().display(),
        );
        let path = self.dir.join(format!("{replica}.toml"));
        std::fs::write(&path, config).expect("config written");
        path
    }

    /// A config for `replica` that logs in with the bot's access token instead of its password.
    fn config_with_token(&self, replica: &str, store: &str) -> PathBuf {
        let path = self.config(replica, store, None);
        let text = std::fs::read_to_string(&path).expect("config");
        let password = format!("password = \"{}\"", self.bot.password);
        let token = format!("access_token = \"{}\"", self.bot.access_token());
        std::fs::write(&path, text.replace(&password, &token)).expect("config written");
        path
    }

    async fn start(&self, replica: &str, store: &str) -> Bot {
        let bot = Bot::start(&self.config(replica, store, None));
        self.alice.wait_for_member(&self.admin, &self.bot.user_id).await;
        self.alice.wait_for_member(&self.public, &self.bot.user_id).await;
        bot
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_incident_workflow_runs_in_matrix_rooms() {
    let world = World::new("workflow").await;
    let _bot = world.start("a", "memory://").await;
    let (alice, bob, admin, me) = (&world.alice, &world.bob, world.admin.as_str(), world.bot.user_id.as_str());

    let declared = alice.ask(admin, me, "!incident declare Ceph cluster down --user-facing --sev 2", 1).await;
    assert!(declared[0].contains("WMCS-1 declared: \"") && declared[0].contains("alice is the IC."), "{declared:?}");
    alice.wait_for_topic(&world.public, "Ongoing incident: Ceph cluster down").await;
    assert_eq!(bob.ask(admin, me, "!ic", 1).await, ["alice is the IC of WMCS-1."]);

    let offer = alice.ask(admin, me, &format!("!ic handoff {}", bob.user_id), 1).await;
    assert!(offer[0].starts_with(&format!("{}: alice offers you the IC role for WMCS-1.", bob.user_id)), "{offer:?}");
    let notice = world.alice.messages_from(admin, me).await.pop().expect("the offer");
    assert_eq!(notice["content"]["msgtype"], "m.notice");
    assert_eq!(notice["content"]["m.mentions"]["user_ids"][0], bob.user_id.as_str(), "a real mention");
    let html = notice["content"]["formatted_body"].as_str().expect("an HTML body");
    assert!(html.starts_with(&format!("<a href=\"https://matrix.to/#/{}\">bob</a>", bob.user_id)), "a pill: {html}");

    assert_eq!(
        bob.ask(admin, me, "!ic accept", 1).await,
        [format!("bob is now the IC of WMCS-1, taking over from {}.", alice.user_id)]
    );
    assert_eq!(
        alice.ask(admin, me, "!log admin restarted ceph-osd@12", 1).await,
        ["Logged in the server admin log for admin; also in the timeline of WMCS-1."]
    );
    alice.ask(admin, me, "!status ongoing incident: Ceph is degraded", 1).await;
    alice.wait_for_topic(&world.public, "ongoing incident: Ceph is degraded").await;
    let usage = bob.ask(admin, me, "!incident declare", 1).await;
    assert_eq!(
        usage,
        ["error: missing <title>; usage: !incident declare <title> [--user-facing] [--security] [--sev N]"]
    );

    let resolved = bob.ask(admin, me, "!incident resolve journal disk failed; replaced", 2).await;
    assert!(resolved[0].starts_with("WMCS-1 resolved by bob after"), "{resolved:?}");
    let report = &resolved[1];
    assert!(report.starts_with("# Incident report (draft): "), "{report}");
    assert!(report.contains("[admin] restarted ceph-osd@12"), "the log entry is in the report: {report}");
    assert!(
        report.contains("bob: accepted the IC role from alice and became the IC"),
        "the handoff is in the report: {report}"
    );
    let report_html =
        world.alice.messages_from(admin, me).await.pop().expect("the report")["content"]["formatted_body"].clone();
    assert!(report_html.as_str().expect("HTML").starts_with("<h1>Incident report (draft): "), "rendered markdown");
    alice.wait_for_topic(&world.public, "Wikimedia Cloud Services").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_the_backlog_is_not_answered_and_the_device_is_kept() {
    let world = World::new("restart").await;
    let (alice, admin, me) = (&world.alice, world.admin.as_str(), world.bot.user_id.as_str());
    let bot = world.start("a", "memory://").await;
    assert_eq!(alice.ask(admin, me, "!incident list", 1).await, ["Team WMCS has no open incident."]);
    let devices = world.bot.devices().await.len();
    drop(bot);

    alice.say(admin, "!incident declare sent while the bot was down").await;
    let session = world.dir.join("a/session.json");
    let before = std::fs::read_to_string(&session).expect("the session was kept");
    let _bot = Bot::start(&world.config("a", "memory://", None));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(&session).expect("session") == before {
        assert!(std::time::Instant::now() < deadline, "the restarted bot never synced");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answers = alice.ask(admin, me, "!incident list", 1).await;
    assert_eq!(answers, ["Team WMCS has no open incident."], "the backlog declare was not handled");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(alice.messages_from(admin, me).await.len(), 2, "nothing else was answered");
    assert_eq!(world.bot.devices().await.len(), devices, "the restart reused the device");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_account_and_one_redis_answer_once() {
    let redis = RedisServer::start();
    let world = World::new("replicas").await;
    let (alice, bob, admin, me) = (&world.alice, &world.bob, world.admin.as_str(), world.bot.user_id.as_str());
    let a = world.start("a", &redis.url()).await;
    let _b = Bot::start(&world.config_with_token("b", &redis.url()));
    tokio::time::sleep(Duration::from_secs(3)).await;
    alice.ask(admin, me, "!incident declare NFS stuck", 1).await;
    bob.ask(admin, me, "!ic", 1).await;
    alice.ask(admin, me, "!incident update restarting nfsd", 1).await;
    bob.ask(admin, me, "!incident doing checking the clients", 1).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(alice.messages_from(admin, me).await.len(), 4, "each command answered once by two replicas");

    drop(a);
    assert_eq!(
        alice.ask(admin, me, "!ic", 1).await,
        ["You are the IC of WMCS-1."],
        "the other replica, logged in with an access token, goes on"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(alice.messages_from(admin, me).await.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_rides_out_a_homeserver_outage() {
    let mut world = World::new("outage").await;
    let synapse = Synapse::shared().url();
    let proxy = TcpProxy::start(synapse.trim_start_matches("http://")).await;
    world.homeserver = format!("http://127.0.0.1:{}", proxy.port());
    // With a password login, Synapse's answer names its own URL and the client would follow it
    // around the proxy; a token login keeps the configured URL.
    let _bot = Bot::start(&world.config_with_token("a", "memory://"));
    let (alice, admin, me) = (&world.alice, world.admin.as_str(), world.bot.user_id.as_str());
    alice.wait_for_member(admin, me).await;
    assert_eq!(alice.ask(admin, me, "!incident list", 1).await, ["Team WMCS has no open incident."]);

    proxy.cut();
    tokio::time::sleep(Duration::from_secs(4)).await; // syncs fail and back off
    alice.say(admin, "!incident declare the switch is down").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(alice.messages_from(admin, me).await.len(), 1, "the bot cannot reach the homeserver");
    proxy.restore();
    let answers = alice.wait_for_messages(admin, me, 1).await;
    let declared = answers[1]["content"]["body"].as_str().unwrap_or_default();
    assert!(declared.starts_with("WMCS-1 declared:"), "the command sent during the outage is answered: {declared}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(alice.messages_from(admin, me).await.len(), 2, "answered once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_room_admins_and_encrypted_rooms() {
    let world = World::new("rooms").await;
    let (alice, bob, admin, me) = (&world.alice, &world.bob, world.admin.as_str(), world.bot.user_id.as_str());
    let secret = alice.create_room("WMCS secret", &[me], true).await;
    let _bot = Bot::start(&world.config("a", "memory://", Some(&secret)));
    alice.wait_for_member(admin, me).await;
    alice.wait_for_member(&secret, me).await;

    let root = alice.say(admin, "thread about the switch").await;
    alice.say_in_thread(admin, &root, "!incident list").await;
    let reply = alice.wait_for_messages(admin, me, 0).await.pop().expect("a reply");
    assert_eq!(reply["content"]["m.relates_to"]["rel_type"], "m.thread", "{reply}");
    assert_eq!(reply["content"]["m.relates_to"]["event_id"], root.as_str());

    assert_eq!(
        bob.ask(admin, me, "!plugins disable sal", 1).await,
        ["only team admins may run !plugins disable"],
        "bob has no power in the room and no admin flag on the roster"
    );
    assert_eq!(
        alice.ask(admin, me, "!plugins disable sal", 1).await,
        ["Plugin sal disabled for team wmcs."],
        "alice created the room: her power level makes her an admin"
    );

    let stray = alice.create_room("not a team room", &[me], false).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while alice.membership(&stray, me).await.as_deref() != Some("leave") {
        assert!(std::time::Instant::now() < deadline, "the bot did not decline the invite");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    alice.ask(admin, me, &format!("!page {} the switch is down", bob.user_id), 1).await;
    let direct = bob.wait_for_invite(me).await;
    bob.join(&direct).await;
    let paged = bob.wait_for_messages(&direct, me, 0).await;
    assert_eq!(paged[0]["content"]["body"], "alice pages you from WMCS admin: the switch is down", "by its name");
    let html = paged[0]["content"]["formatted_body"].as_str().unwrap_or_default();
    assert!(html.contains(&format!("<a href=\"https://matrix.to/#/{admin}\">WMCS admin</a>")), "with its link: {html}");

    let notices = alice.wait_for_messages(&secret, me, 0).await;
    assert!(
        notices[0]["content"]["body"].as_str().unwrap().starts_with("This room is end-to-end encrypted"),
        "{notices:?}"
    );
    alice.say(&secret, "anyone?").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(alice.messages_from(&secret, me).await.len(), 1, "said once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_bot_waits_and_answers_everything_once() {
    let world = World::new("limits").await;
    let (alice, admin, me) = (&world.alice, world.admin.as_str(), world.bot.user_id.as_str());
    let _bot = world.start("a", "memory://").await;
    let server_admin = Synapse::shared().register_admin("root").await;
    server_admin.limit_messages(me, 1, 1).await;
    let started = std::time::Instant::now();
    for n in 1..=4 {
        alice.say(admin, &format!("!incident declare outage {n}")).await;
    }
    let deadline = started + Duration::from_secs(60);
    while alice.messages_from(admin, me).await.len() < 4 {
        assert!(std::time::Instant::now() < deadline, "not every command was answered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let waited = started.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let answers: Vec<String> = alice
        .messages_from(admin, me)
        .await
        .iter()
        .map(|event| {
            event["content"]["body"].as_str().unwrap_or_default().split(':').next().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(
        answers,
        ["WMCS-1 declared", "WMCS-2 declared", "WMCS-3 declared", "WMCS-4 declared"],
        "each once, in order"
    );
    assert!(waited >= Duration::from_millis(2500), "the homeserver's rate limit was in force ({waited:?})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_incident_gets_its_own_matrix_room() {
    let world = World::new("incident-room").await;
    let (alice, bob, admin, me) = (&world.alice, &world.bob, world.admin.as_str(), world.bot.user_id.as_str());
    let rooms_on = "[teams.settings.incident]\nincident_rooms = true\n";
    let _bot = Bot::start(&world.config_with("a", "memory://", None, rooms_on));
    alice.wait_for_member(admin, me).await;
    let answers = alice.ask(admin, me, "!incident declare Ceph down", 2).await;
    let name = answers[1].strip_prefix("WMCS-1 has its own room: ").expect("the room");
    assert!(name.ends_with("[WMCS] Ceph down"), "named after the status doc: {name}");
    let invited = alice.wait_for_invite(me).await;
    let link = invited.as_str();
    alice.join(link).await;
    let welcome = alice.wait_for_messages(link, me, 0).await;
    assert!(welcome[0]["content"]["body"].as_str().unwrap().starts_with("This room is for WMCS-1"), "{welcome:?}");
    assert_eq!(alice.ask(link, me, "!incident update OSDs recovering", 1).await, ["WMCS-1 status doc updated."]);
    alice.ask(admin, me, &format!("!ic handoff {}", bob.user_id), 1).await;
    bob.ask(admin, me, "!ic accept", 1).await;
    assert_eq!(bob.wait_for_invite(me).await, link, "the new IC is invited to the incident room");
    bob.join(link).await;
    assert_eq!(bob.ask(link, me, "!ic", 1).await, ["You are the IC of WMCS-1."]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_bot_answers_every_command_that_arrived_meanwhile() {
    let world = World::new("stall").await;
    let (alice, admin, me) = (&world.alice, world.admin.as_str(), world.bot.user_id.as_str());
    let bot = world.start("a", "memory://").await;
    assert_eq!(alice.ask(admin, me, "!incident declare Ceph down", 1).await.len(), 1);
    bot.signal("STOP");
    for round in 1..=3 {
        for line in 0..25 {
            alice.say(admin, &format!("chatter {round}.{line} while the bot is stalled")).await;
        }
        alice.say(admin, &format!("!incident doing stalled-{round}")).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    bot.signal("CONT");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let count =
        |bodies: &[String], round: usize| bodies.iter().filter(|b| b.ends_with(&format!("stalled-{round}"))).count();
    loop {
        let bodies = bodies_from(alice, admin, me).await;
        if (1..=3).all(|round| count(&bodies, round) >= 1) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "every command answered: {bodies:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let bodies = bodies_from(alice, admin, me).await;
    assert!((1..=3).all(|round| count(&bodies, round) == 1), "each once, past 75 lines of chatter: {bodies:?}");
}

/// The bodies of `sender`'s messages in `room`.
async fn bodies_from(user: &MatrixUser, room: &str, sender: &str) -> Vec<String> {
    user.messages_from(room, sender)
        .await
        .iter()
        .map(|m| m["content"]["body"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_rooms_and_room_admins_are_known_at_once() {
    let world = World::new("remember").await;
    let synapse = Synapse::shared();
    let moderator = synapse.register("moderator").await;
    let (alice, bob, admin, me) = (&world.alice, &world.bob, world.admin.as_str(), world.bot.user_id.as_str());
    let public = world.public.as_str();
    for room in [admin, public] {
        alice.invite(room, &moderator.user_id).await;
        moderator.join(room).await;
        alice.set_power_level(room, &moderator.user_id, 50).await;
    }
    let bot = world.start("a", "memory://").await;
    assert_eq!(alice.ask(admin, me, "!incident list", 1).await, ["Team WMCS has no open incident."]);
    alice.ask(admin, me, &format!("!page {} first", bob.user_id), 1).await;
    let direct = bob.wait_for_invite(me).await;
    bob.join(&direct).await;
    bob.wait_for_messages(&direct, me, 0).await;
    drop(bot);
    let session = world.dir.join("a/session.json");
    let before = std::fs::read_to_string(&session).expect("the session was kept");
    let _bot = Bot::start(&world.config("a", "memory://", None));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(&session).expect("session") == before {
        assert!(std::time::Instant::now() < deadline, "the restarted bot never synced");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    alice.ask(admin, me, "!incident declare Toolforge down --user-facing", 1).await;
    alice.wait_for_topic(&world.public, "Ongoing incident: Toolforge down").await;
    assert_eq!(
        moderator.ask(admin, me, "!plugins disable sal", 1).await,
        ["Plugin sal disabled for team wmcs."],
        "the admin room's moderator is a team admin at once"
    );
    let refused = moderator.ask(public, me, "!plugins enable sal", 1).await;
    assert!(refused[0].starts_with("only team admins may run"), "a public room's moderator is not: {refused:?}");
    alice.ask(admin, me, &format!("!page {} second", bob.user_id), 1).await;
    let again = bob.wait_for_messages(&direct, me, 1).await;
    assert_eq!(again.len(), 2, "the same direct room, not a new one after the restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_entry_report_reaches_a_matrix_reader_in_parts() {
    let redis = RedisServer::start();
    let world = World::new("long-report").await;
    let (alice, admin, me) = (&world.alice, world.admin.as_str(), world.bot.user_id.as_str());
    let _bot = world.start("a", &redis.url()).await;
    alice.ask(admin, me, "!incident declare Ceph down", 1).await;
    crate::delivery::add_timeline(&redis, "matrix-test", 1000).await;
    alice.say(admin, "!incident report").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let report: String = bodies_from(alice, admin, me).await.concat();
        if (0..1000).all(|n| report.contains(&format!("entry {n:04} of the long night"))) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the whole report arrived");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_from_two_people_with_a_replica_killed_in_it_is_answered_once() {
    let redis = RedisServer::start();
    let world = World::new("burst").await;
    let (alice, bob, admin, me) = (&world.alice, &world.bob, world.admin.as_str(), world.bot.user_id.as_str());
    let short_grace = |config: PathBuf| {
        let text = std::fs::read_to_string(&config).expect("config");
        std::fs::write(&config, text.replace("tick = \"200ms\"", "tick = \"200ms\"\ndelivery_grace = \"4s\""))
            .expect("written");
        config
    };
    let a = Bot::start(&short_grace(world.config("a", &redis.url(), None)));
    alice.wait_for_member(admin, me).await;
    let _b = Bot::start(&short_grace(world.config_with_token("b", &redis.url())));
    tokio::time::sleep(Duration::from_secs(3)).await;
    alice.ask(admin, me, "!incident declare burst", 1).await;
    let mut a = Some(a);
    for n in 0..30 {
        let (from_alice, from_bob) = (format!("!incident doing a-{n}"), format!("!incident doing b-{n}"));
        tokio::join!(alice.say(admin, &from_alice), bob.say(admin, &from_bob));
        if n == 12 {
            drop(a.take()); // SIGKILL in the middle of the burst
        }
    }
    let wanted: Vec<String> = (0..30).flat_map(|n| [format!("doing: a-{n}"), format!("doing: b-{n}")]).collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let bodies = bodies_from(alice, admin, me).await;
        if wanted.iter().all(|w| bodies.iter().any(|b| b.ends_with(w.as_str()))) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "every command answered");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    let bodies = bodies_from(alice, admin, me).await;
    for w in &wanted {
        let times = bodies.iter().filter(|b| b.ends_with(w.as_str())).count();
        assert_eq!(times, 1, "{w} answered once: {bodies:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ics_file_sent_with_oncall_import_as_its_caption_becomes_overrides() {
    let world = World::new("upload").await;
    let _bot = world.start("a", "memory://").await;
    let (alice, admin, me) = (&world.alice, world.admin.as_str(), world.bot.user_id.as_str());
    let start = chrono::Utc::now() + chrono::Duration::hours(2);
    let at = |hours: i64| (start + chrono::Duration::hours(hours)).format("%Y%m%dT%H%M%SZ").to_string();
    let export = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Grafana Labs//Grafana OnCall//EN\r\nBEGIN:VEVENT\r\nUID:oncall-1\r\n\
         DTSTART:{}\r\nDTEND:{}\r\nSUMMARY:[L1] bob\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        at(0),
        at(8)
    );
    let mxc = alice.upload("rota.ics", "text/calendar", export.as_bytes()).await;
    let seen = alice.messages_from(admin, me).await.len();
    alice.send_file(admin, "rota.ics", &mxc, export.len(), "!oncall import").await;
    let answers = alice.wait_for_messages(admin, me, seen + 2).await;
    let bodies: Vec<&str> = answers.iter().filter_map(|m| m["content"]["body"].as_str()).collect();
    assert!(bodies.contains(&"Reading rota.ics; I will say what it holds."), "{bodies:?}");
    assert!(
        bodies.iter().any(|b| b.starts_with("Imported 1 shifts of the next 90 days as overrides (bob)")),
        "{bodies:?}"
    );
}
