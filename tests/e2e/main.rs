//! End-to-end scenarios across crates: the `firebell` binary driven through its console, and
//! several replicas sharing one real `redis-server`.

mod alertmanager;
mod console;
mod matrix;
mod plugins;
mod replicas;
mod scheduler;
mod slack;
