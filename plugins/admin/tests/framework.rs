//! What the framework promises a plugin author: jobs that wait while their plugin is disabled,
//! retries a job asks for, and namespaces that other plugins cannot write into.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use firebell_core::async_trait;
use firebell_core::clock::after;
use firebell_core::declare::{Command, Commands, PluginInfo};
use firebell_core::job::{Job, JobData};
use firebell_core::message::{Action, Message};
use firebell_core::plugin::{Context, Invocation, Outcome, Plugin, PluginError, TeamContext};
use firebell_core::state::Record;
use firebell_plugin_admin::AdminPlugin;
use firebell_testkit::{Harness, WMCS_ADMIN, text};
use serde::{Deserialize, Serialize};

/// Posts a text later.
#[derive(PluginInfo)]
#[plugin(name = "nudge", commands = NudgeCommand, shared_streams = ["notes:"])]
struct NudgePlugin {
    /// How many more runs ask to be retried.
    failures_left: AtomicU32,
}

/// Posts the text in the admin rooms after the wait.
#[derive(Command)]
#[command(word = "nudge", permission = TeamMembers)]
struct Nudge {
    #[arg(duration)]
    wait: Duration,
    #[arg(text)]
    text: String,
}

#[derive(Commands)]
enum NudgeCommand {
    Nudge(Nudge),
}

#[derive(Serialize, Deserialize)]
struct Due {
    text: String,
}

impl JobData for Due {
    const KIND: &'static str = "due";
}

#[derive(Serialize, Deserialize)]
struct Note {
    id: String,
}

impl Record for Note {
    const KIND: &'static str = "note";
    fn id(&self) -> String {
        self.id.clone()
    }
}

#[async_trait]
impl Plugin for NudgePlugin {
    async fn run(&self, ctx: &Context<'_>, command: &Invocation) -> Result<Outcome, PluginError> {
        let NudgeCommand::Nudge(Nudge { wait, text }) = command.parse()?;
        let job = ctx.schedule("once", after(ctx.now, wait), &Due { text });
        Ok(Outcome::act(ctx.reply(Message::text("Noted."))).write(job))
    }

    async fn run_job(&self, ctx: &TeamContext<'_>, job: &Job) -> Result<Outcome, PluginError> {
        let Some(Due { text }) = job.data::<Due>()? else { return Ok(Outcome::default()) };
        if self.failures_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(PluginError::Retry { reason: "the pager service is away".into(), after: None });
        }
        let post = |room: &firebell_core::ids::RoomRef| Action::Send {
            room: room.clone(),
            message: Message::text(format!("Nudge: {text}")),
            thread: None,
        };
        Ok(Outcome { writes: Vec::new(), actions: ctx.team.admin_rooms.iter().map(post).collect() })
    }
}

/// Reaches into the nudge plugin's state.
#[derive(PluginInfo)]
#[plugin(name = "rogue", commands = RogueCommand)]
struct RoguePlugin;

/// Writes something of another plugin's.
#[derive(Command)]
#[command(word = "rogue", permission = TeamMembers)]
struct Rogue {
    #[arg(word)]
    what: String,
}

#[derive(Commands)]
enum RogueCommand {
    Rogue(Rogue),
}

#[async_trait]
impl Plugin for RoguePlugin {
    async fn run(&self, ctx: &Context<'_>, command: &Invocation) -> Result<Outcome, PluginError> {
        let RogueCommand::Rogue(Rogue { what }) = command.parse()?;
        let nudge = ctx.state_of("nudge");
        let change = match what.as_str() {
            "put" => nudge.put(&Note { id: "forged".into() }),
            "cancel" => nudge.cancel::<Due>("once"),
            "append" => nudge.append("notes:shared", &"allowed"),
            "trim" => nudge.trim("private", 0),
            _ => ctx.state.put(&Note { id: "own".into() }),
        };
        Ok(Outcome::act(ctx.reply(Message::text(format!("did {what}")))).write(change))
    }
}

fn bot(failures: u32) -> Harness {
    Harness::builder()
        .trusted_plugin(Arc::new(AdminPlugin))
        .plugin(Arc::new(NudgePlugin { failures_left: AtomicU32::new(failures) }))
        .plugin(Arc::new(RoguePlugin))
        .build()
}

fn minutes(n: u64) -> Duration {
    Duration::from_secs(60 * n)
}

#[tokio::test]
async fn a_job_due_while_its_plugin_is_disabled_runs_once_it_is_enabled_again() {
    let bot = bot(0);
    assert_eq!(text(&bot.say("bob", WMCS_ADMIN, "!nudge 10m check the backups").await), "Noted.");
    assert_eq!(
        text(&bot.say("alice", WMCS_ADMIN, "!plugins disable nudge").await),
        "Plugin nudge disabled for team wmcs. Its 1 waiting jobs (reminders, escalations) wait until it is \
         enabled again; !plugins drop-jobs nudge drops them."
    );
    assert!(bot.advance(minutes(120)).await.is_empty(), "nothing runs while disabled");
    assert_eq!(
        text(&bot.say("alice", WMCS_ADMIN, "!plugins enable nudge").await),
        "Plugin nudge enabled for team wmcs."
    );
    assert_eq!(text(&bot.advance(minutes(1)).await), "Nudge: check the backups", "runs within a minute, once");
    assert!(bot.advance(minutes(120)).await.is_empty(), "once");
}

#[tokio::test]
async fn an_admin_drops_a_disabled_plugins_jobs_for_good_and_it_is_audited() {
    let bot = bot(0);
    bot.say("bob", WMCS_ADMIN, "!nudge 10m check the backups").await;
    let refused = text(&bot.say("alice", WMCS_ADMIN, "!plugins drop-jobs nudge").await);
    assert!(refused.starts_with("plugin nudge is enabled for team wmcs: its jobs run when due"), "{refused}");
    bot.say("alice", WMCS_ADMIN, "!plugins disable nudge").await;
    bot.advance(minutes(30)).await;
    assert_eq!(
        text(&bot.say("alice", WMCS_ADMIN, "!plugins drop-jobs nudge").await),
        "Dropped 1 waiting jobs of plugin nudge for team wmcs."
    );
    bot.say("alice", WMCS_ADMIN, "!plugins enable nudge").await;
    assert!(bot.advance(minutes(120)).await.is_empty(), "the dropped job never runs");
    let audit = text(&bot.say("alice", WMCS_ADMIN, "!plugins audit").await);
    assert!(audit.contains("alice: drop-jobs nudge (1 jobs waiting → none)"), "{audit}");
}

#[tokio::test]
async fn a_job_that_asks_for_a_retry_runs_again_after_a_growing_pause() {
    let bot = bot(2);
    bot.say("bob", WMCS_ADMIN, "!nudge 10m check the backups").await;
    assert!(bot.advance(minutes(10)).await.is_empty(), "the first run asks for a retry");
    assert!(bot.advance(Duration::from_secs(30)).await.is_empty(), "so does the second, 30 s later");
    assert!(bot.advance(Duration::from_secs(59)).await.is_empty(), "the third waits a minute");
    assert_eq!(text(&bot.advance(Duration::from_secs(1)).await), "Nudge: check the backups");
    assert!(bot.advance(minutes(120)).await.is_empty(), "once");
}

#[tokio::test]
async fn a_plugin_cannot_write_into_another_plugins_namespace() {
    let bot = bot(0);
    bot.say("bob", WMCS_ADMIN, "!nudge 10m check the backups").await;
    for (what, refusal) in [
        ("put", "write record nudge/note/\"forged\""),
        ("cancel", "cancel job nudge:once:due"),
        ("trim", "write to stream nudge/private"),
    ] {
        assert_eq!(
            text(&bot.say("bob", WMCS_ADMIN, &format!("!rogue {what}")).await),
            format!(
                "error: plugin rogue may not {refusal}; nothing was changed (a bug in that plugin: tell its authors)"
            )
        );
    }
    assert_eq!(text(&bot.say("bob", WMCS_ADMIN, "!rogue append").await), "did append", "a shared stream");
    assert_eq!(text(&bot.say("bob", WMCS_ADMIN, "!rogue own").await), "did own", "its own namespace");
    assert_eq!(text(&bot.advance(minutes(10)).await), "Nudge: check the backups", "the job was not cancelled");
}

/// The state a component is in.
#[derive(Debug, firebell_core::declare::Choice)]
enum Health {
    Operational,
    PartialOutage,
    #[choice(name = "down")]
    MajorOutage,
}

/// Reports what it read, typed.
#[derive(PluginInfo)]
#[plugin(name = "typed", commands = TypedCommand, settings = TypedSettings)]
struct TypedPlugin;

/// Sets a component's state for a while.
#[derive(Command)]
#[command(word = "component", permission = TeamMembers)]
struct Component {
    /// The component, e.g. db.
    name: String,
    /// Its state now.
    #[arg(choice)]
    health: Health,
    /// How long it lasts, e.g. 1h 30m.
    lasting: Duration,
    /// How many people work on it.
    people: Option<u8>,
    /// Whether to tell the public rooms too.
    loud: bool,
}

/// Says hello; takes nothing.
#[derive(Command)]
#[command(word = "hello", permission = TeamRooms)]
struct Hello;

#[derive(Commands)]
enum TypedCommand {
    Component(Component),
    Hello(Hello),
}

/// The plugin's settings.
#[derive(firebell_core::declare::Settings)]
struct TypedSettings {
    /// How many pages an hour at most.
    #[setting(default = 5, min = 1)]
    pages_per_hour: u32,
    /// Where the probe runs.
    #[setting(default = "127.0.0.1", expected = "an IPv4 address like 10.0.0.1")]
    probe: std::net::Ipv4Addr,
}

#[async_trait]
impl Plugin for TypedPlugin {
    async fn run(&self, ctx: &Context<'_>, command: &Invocation) -> Result<Outcome, PluginError> {
        let settings: TypedSettings = ctx.settings.read();
        let text = match command.parse()? {
            TypedCommand::Component(Component { name, health, lasting, people, loud }) => {
                let health = firebell_core::declare::Choice::as_choice(&health);
                format!("{name} {health} for {}s, {people:?} people, loud {loud}", lasting.as_secs())
            }
            TypedCommand::Hello(Hello) => {
                format!("hello; {} pages an hour, probe {}", settings.pages_per_hour, settings.probe)
            }
        };
        Ok(Outcome::act(ctx.reply(Message::text(text))))
    }
}

fn typed() -> Harness {
    Harness::builder().trusted_plugin(Arc::new(AdminPlugin)).plugin(Arc::new(TypedPlugin)).build()
}

#[tokio::test]
async fn arguments_are_read_by_their_types_with_one_line_errors() {
    let bot = typed();
    let say = |line: &'static str| async { text(&bot.say("bob", WMCS_ADMIN, line).await) };
    assert_eq!(
        say("!component db Partial-Outage 1h 30m 3 --loud").await,
        "db partial-outage for 5400s, Some(3) people, loud true"
    );
    assert_eq!(say("!component db down 2days").await, "db down for 172800s, None people, loud false");
    let usage = "usage: !component <name> <operational|partial-outage|down> <lasting> [people] [--loud]";
    assert_eq!(
        say("!component db sideways 1h").await,
        format!("error: expected one of operational, partial-outage, down, got \"sideways\"; {usage}")
    );
    assert_eq!(
        say("!component db down 1h 300").await,
        format!("error: people: number too large to fit in target type (got \"300\"); {usage}")
    );
    assert_eq!(say("!component db down soon").await, format!("error: expected <lasting>, got \"soon\"; {usage}"));
    assert_eq!(say("!hello").await, "hello; 5 pages an hour, probe 127.0.0.1");
    let help = say("!help component").await;
    assert!(help.ends_with("\n  name: The component, e.g. db.\n  operational|partial-outage|down: Its state now.\n  lasting: How long it lasts, e.g. 1h 30m.\n  people: How many people work on it.\n  --loud: Whether to tell the public rooms too."), "{help}");
}

#[tokio::test]
async fn settings_keep_to_their_types_bounds() {
    let bot = typed();
    let say = |line: &'static str| async { text(&bot.say("alice", WMCS_ADMIN, line).await) };
    let usage = "usage: !plugins config <name> [key] [value]";
    assert_eq!(
        say("!plugins config typed pages_per_hour -1").await,
        format!("error: typed pages_per_hour: expected a whole number from 1 to 4294967295, got \"-1\"; {usage}")
    );
    assert_eq!(
        say("!plugins config typed pages_per_hour 4294967296").await,
        format!(
            "error: typed pages_per_hour: expected a whole number from 1 to 4294967295, got \"4294967296\"; {usage}"
        )
    );
    assert_eq!(
        say("!plugins config typed probe 300.1.1.1").await,
        format!("error: typed probe: expected an IPv4 address like 10.0.0.1, got \"300.1.1.1\"; {usage}")
    );
    assert_eq!(say("!hello").await, "hello; 5 pages an hour, probe 127.0.0.1", "nothing changed");
    say("!plugins config typed probe 10.0.0.1").await;
    say("!plugins config typed pages_per_hour 4294967295").await;
    assert_eq!(say("!hello").await, "hello; 4294967295 pages an hour, probe 10.0.0.1");
}

/// Keeps books by the room they are in; version 1 kept them by shelf.
#[derive(PluginInfo)]
#[plugin(name = "library", commands = LibraryCommand, records = [Book])]
struct LibraryPlugin;

/// Lists the books in a room.
#[derive(Command)]
#[command(word = "books", permission = TeamRooms)]
struct Books {
    room: String,
}

/// Shows a book.
#[derive(Command)]
#[command(word = "book", permission = TeamRooms)]
struct ShowBook {
    title: String,
}

#[derive(Commands)]
enum LibraryCommand {
    Books(Books),
    ShowBook(ShowBook),
}

/// A book; schema 1 had `shelf: "a"` where schema 2 has `room: "A-1"`.
#[derive(Serialize, Deserialize)]
struct Book {
    title: String,
    room: String,
}

impl Record for Book {
    const KIND: &'static str = "book";
    const SCHEMA: u32 = 2;
    fn id(&self) -> String {
        self.title.clone()
    }
    fn indexes(&self) -> Vec<(&'static str, String)> {
        vec![("room", self.room.clone())]
    }
    fn migrate(schema: u32, mut data: serde_json::Value) -> Result<serde_json::Value, String> {
        let shelf = data.get("shelf").and_then(|shelf| shelf.as_str()).ok_or(format!("schema {schema}: no shelf"))?;
        data["room"] = format!("{}-1", shelf.to_uppercase()).into();
        Ok(data)
    }
}

#[async_trait]
impl Plugin for LibraryPlugin {
    async fn run(&self, ctx: &Context<'_>, command: &Invocation) -> Result<Outcome, PluginError> {
        let text = match command.parse()? {
            LibraryCommand::Books(Books { room }) => {
                let mut titles: Vec<String> =
                    ctx.state.find::<Book>("room", &room).await?.into_iter().map(|b| b.title).collect();
                titles.sort();
                format!("in {room}: {}", titles.join(", "))
            }
            LibraryCommand::ShowBook(ShowBook { title }) => match ctx.state.get::<Book>(&title).await? {
                Some(book) => format!("{} is in {}", book.title, book.room),
                None => format!("no book {title}"),
            },
        };
        Ok(Outcome::act(ctx.reply(Message::text(text))))
    }
}

#[tokio::test]
async fn migrated_records_are_found_under_their_new_index_keys() {
    use firebell_core::store::{Guard, IndexEntry, StoredRecord, Write};
    let bot = Harness::builder().plugin(Arc::new(LibraryPlugin)).build();
    let team = firebell_core::ids::TeamId::new("wmcs").unwrap();
    let old = |title: &str| Write::Put {
        namespace: "library".into(),
        record: StoredRecord {
            kind: "book".into(),
            id: title.into(),
            version: 0,
            schema: 1,
            data: format!(r#"{{"title":"{title}","shelf":"a"}}"#),
            indexes: vec![IndexEntry::new("shelf", "a")],
        },
    };
    bot.store().apply(Some(&team), Guard::NONE, &[old("dune"), old("emma"), old("ulysses")]).await.unwrap();
    let say = |line: &'static str| async { text(&bot.say("bob", WMCS_ADMIN, line).await) };
    assert_eq!(say("!books A-1").await, "in A-1: ", "written in the old shape, under the old keys");
    assert_eq!(say("!book dune").await, "dune is in A-1", "migrated on reading");
    assert_eq!(say("!books A-1").await, "in A-1: dune", "and written back under its new key");
    let dispatcher = bot.bot().dispatcher();
    let migrate =
        || firebell_runtime::migrate::migrate(bot.store().as_ref(), dispatcher.registry(), dispatcher.teams(), 1);
    let done = migrate().await.unwrap();
    assert_eq!((done.read, done.rewritten, done.unreadable), (3, 2, 0));
    dispatcher.cache().forget_team(&team);
    assert_eq!(say("!books A-1").await, "in A-1: dune, emma, ulysses");
    assert_eq!(migrate().await.unwrap().rewritten, 0, "nothing left to do");
}
