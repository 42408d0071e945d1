//! Firebell's runtime: what turns the core's rules into a running bot.
//!
//! The [`Bot`](bot::Bot) takes messages from the adapters and hands them to the
//! [`Dispatcher`](dispatcher::Dispatcher), which lets the plugin decide and applies its writes
//! through the store, deciding again when what it read changed meanwhile; the bot then performs
//! the actions through the adapters, once, even when a replica dies on the way. The
//! [`Scheduler`](scheduler::Scheduler) runs the jobs that fall due. Everything here may wait,
//! sleep and retry; nothing here decides what an incident or a page is.

pub mod bot;
pub mod dispatcher;
pub mod metered;
pub mod metrics;
pub mod migrate;
pub mod scheduler;
