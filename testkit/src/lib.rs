//! Test tools for Firebell and its plugins.
//!
//! - [`RedisServer`]: a real `redis-server` on a free loopback port, owned by one test.
//! - [`Synapse`]: a real Synapse homeserver, and [`MatrixUser`]s to talk to the bot with.
//! - [`FakeSlack`]: Slack's Web API and Socket Mode, speaking Slack's wire format.
//! - [`TcpProxy`]: a connection to a server that a test can cut, for network outages.
//! - [`TestDir`]: a folder for a test's files, removed when the test is done.
//! - [`conformance`]: the checks every store backend must pass, run against the memory store and
//!   Redis with [`store_conformance_suite!`].
//! - [`Harness`]: a bot on the console adapter with a manual clock, so that a plugin's test is a
//!   few lines: say things as users in rooms, read the bot's lines, move the clock.

pub mod conformance;
mod harness;
mod proxy;
mod redis_server;
mod slack;
mod synapse;
mod test_dir;

pub use harness::{
    Harness, HarnessBuilder, SRE_ADMIN, WEB_URL, WMCS_ADMIN, WMCS_PUBLIC, body, sample_teams, start_time, text,
};
pub use proxy::TcpProxy;
pub use redis_server::{RedisServer, free_port};
pub use slack::{Call, FakeSlack, FakeUser, Posted, Whisper, slack_signature, trigger_id, unix_now};
pub use synapse::{MatrixUser, Synapse};
pub use test_dir::TestDir;
