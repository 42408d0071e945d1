//! Where a command's time goes: the CPU time this process and the Redis server spent.

use std::time::Duration;

/// The CPU time every thread of this process has run for so far (from `/proc/self/task`), or
/// zero where the kernel does not say.
pub fn this_process() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Duration::ZERO };
    let nanos: u64 = tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

/// The CPU time the Redis server at `url` has used so far (`used_cpu_user` and `used_cpu_sys`).
pub async fn redis_server(url: &str) -> Duration {
    let client = redis::Client::open(url).expect("redis URL");
    let mut connection = client.get_multiplexed_async_connection().await.expect("redis reachable");
    let info: String = redis::cmd("INFO").arg("cpu").query_async(&mut connection).await.expect("INFO");
    let seconds: f64 = info
        .lines()
        .filter_map(|line| line.strip_prefix("used_cpu_user:").or_else(|| line.strip_prefix("used_cpu_sys:")))
        .filter_map(|value| value.trim().parse::<f64>().ok())
        .sum();
    Duration::from_secs_f64(seconds)
}

/// The CPU time of this process and of the Redis server at `url`, together.
pub async fn both(url: &str) -> (Duration, Duration) {
    (this_process(), redis_server(url).await)
}
