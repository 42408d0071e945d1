//! A plugin with a timed job and a typed setting: `!remind 10m check the backups` posts the text
//! in the team's admin rooms when the time comes, once, whichever replica is alive then.
//! Try it: `cargo run --example reminder`, then `!remind 1m hello` and `/wait 1m`.
use std::time::Duration;

use firebell_core::prelude::*;
use serde::{Deserialize, Serialize};

/// Reminds the team of something later.
#[derive(PluginInfo)]
#[plugin(name = "reminder", commands = Remind, settings = ReminderSettings)]
struct ReminderPlugin;
/// Posts the text in the team's admin rooms after the time given, e.g. 30m.
#[derive(Command)]
#[command(word = "remind", permission = TeamMembers)]
struct Remind {
    #[arg(name = "in")]
    wait: Duration,
    #[arg(text)]
    text: String,
}
/// The job: who asked, and what to say.
#[derive(Serialize, Deserialize, JobData)]
#[job(kind = "due")]
struct Due {
    by: String,
    text: String,
}
/// How far ahead reminders may be set.
#[derive(Settings)]
struct ReminderSettings {
    /// The longest wait a reminder may have.
    #[setting(default = "1day", min = "1m", max = "30days")]
    longest: Duration,
}

#[async_trait]
impl Plugin for ReminderPlugin {
    async fn run(&self, ctx: &Context<'_>, command: &Invocation) -> Result<Outcome, PluginError> {
        let (Remind { wait, text }, longest) = (command.parse()?, ctx.settings.read::<ReminderSettings>().longest);
        if wait.is_zero() || wait > longest {
            return Err(PluginError::Usage(format!("remind in at most {}", humantime::format_duration(longest))));
        }
        let job = ctx.schedule(ctx.cause, after(ctx.now, wait), &Due { by: ctx.sender.to_string(), text });
        Ok(Outcome::act(ctx.reply(Message::text("Noted."))).write(job))
    }

    async fn run_job(&self, ctx: &TeamContext<'_>, job: &Job) -> Result<Outcome, PluginError> {
        let Some(Due { by, text }) = job.data::<Due>()? else {
            return Ok(Outcome::default());
        };
        let message = Message::text(format!("Reminder from {by}: {text}"));
        Ok(Outcome::default().and_all(ctx.tell_admin_rooms(&message)))
    }
}
#[tokio::main]
async fn main() {
    firebell_testkit::Harness::builder().plugin(std::sync::Arc::new(ReminderPlugin)).build().chat().await;
}
#[tokio::test]
async fn the_reminder_comes_once_when_due() {
    use firebell_testkit::{Harness, WMCS_ADMIN, text};
    let bot = Harness::builder().plugin(std::sync::Arc::new(ReminderPlugin)).build();
    assert_eq!(text(&bot.say("bob", WMCS_ADMIN, "!remind 10m check the backups").await), "Noted.");
    assert!(bot.advance(Duration::from_secs(9 * 60)).await.is_empty(), "not yet");
    assert_eq!(text(&bot.advance(Duration::from_secs(60)).await), "Reminder from bob: check the backups");
    assert!(bot.advance(Duration::from_secs(3600)).await.is_empty(), "once");
    let refused = text(&bot.say("bob", WMCS_ADMIN, "!remind 2days later").await);
    assert_eq!(refused, "error: remind in at most 1day; usage: !remind <in> <text>");
}
