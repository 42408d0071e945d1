//! A plugin with records of its own: drills (practice incidents), numbered from a sequence, the planned
//! ones under an index. Try it: `cargo run --example drills`, then `!drill plan Ceph loses a rack`, `!drill done 1`.
use firebell_core::prelude::*;
use serde::{Deserialize, Serialize};

/// Plan practice incidents and record when they are run.
#[derive(PluginInfo)]
#[plugin(name = "drills", commands = DrillCommand, records = [Drill])]
struct DrillsPlugin;
/// Plans a drill.
#[derive(Command)]
#[command(word = "drill", sub = "plan", permission = TeamMembers)]
struct Plan {
    #[arg(text)]
    scenario: String,
}
/// Marks a drill as run.
#[derive(Command)]
#[command(word = "drill", sub = "done", permission = TeamMembers)]
struct Done {
    number: u64,
}
#[derive(Commands)]
enum DrillCommand {
    Plan(Plan),
    Done(Done),
}

#[derive(Serialize, Deserialize)]
struct Drill {
    number: u64,
    scenario: String,
    done: bool,
}
/// The drills still to run, all under the empty key.
const PLANNED: Index<Drill, str> = Index::new("planned");
impl Record for Drill {
    const KIND: &'static str = "drill";
    fn id(&self) -> String {
        self.number.to_string()
    }
    fn indexes(&self) -> Vec<(&'static str, String)> {
        if self.done { vec![] } else { vec![PLANNED.entry("")] }
    }
}
#[async_trait]
impl Plugin for DrillsPlugin {
    async fn run(&self, ctx: &Context<'_>, command: &Invocation) -> Result<Outcome, PluginError> {
        let (state, say) = (&ctx.state, |text: String| Outcome::act(ctx.reply(Message::text(text))));
        match command.parse()? {
            DrillCommand::Plan(Plan { scenario }) => {
                let waiting: Vec<Drill> = state.find_by(&PLANNED, "").await?;
                let drill = Drill { number: state.next_number("drill", ctx.cause).await?, scenario, done: false };
                Ok(say(format!("Drill {} planned; {} waiting.", drill.number, waiting.len())).write(state.put(&drill)))
            }
            DrillCommand::Done(Done { number }) => match state.get::<Drill>(&number.to_string()).await? {
                Some(drill) if !drill.done => Ok(say(format!("Drill {number} done: {}.", drill.scenario))
                    .write(state.put(&Drill { done: true, ..drill }))),
                _ => Err(PluginError::Refused(format!("no drill {number} is planned"))),
            },
        }
    }
}
#[tokio::main]
async fn main() {
    firebell_testkit::Harness::builder().plugin(std::sync::Arc::new(DrillsPlugin)).build().chat().await;
}
#[tokio::test]
async fn drills_are_planned_until_done() {
    let bot = firebell_testkit::Harness::builder().plugin(std::sync::Arc::new(DrillsPlugin)).build();
    let say =
        |line: &'static str| async { firebell_testkit::text(&bot.say("bob", "#wikimedia-cloud-admin", line).await) };
    assert_eq!(say("!drill plan Ceph loses a rack").await, "Drill 1 planned; 0 waiting.");
    assert_eq!(say("!drill plan DNS is slow").await, "Drill 2 planned; 1 waiting.");
    assert_eq!(say("!drill done 1").await, "Drill 1 done: Ceph loses a rack.");
    assert_eq!(say("!drill done 1").await, "no drill 1 is planned");
}
