//! A TCP proxy that a test can cut, to play a network outage between the bot and a server.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

/// Forwards a loopback port to a target address until dropped.
pub struct TcpProxy {
    port: u16,
    state: Arc<State>,
    accepting: JoinHandle<()>,
}

#[derive(Default)]
struct State {
    cut: AtomicBool,
    connections: Mutex<Vec<AbortHandle>>,
}

impl TcpProxy {
    /// Forwards a free loopback port to `target` (`host:port`).
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start(target: &str) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free loopback port");
        let port = listener.local_addr().expect("bound").port();
        let state = Arc::new(State::default());
        let accepting = tokio::spawn(accept(listener, target.to_owned(), state.clone()));
        TcpProxy { port, state, accepting }
    }

    /// The loopback port that forwards to the target.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Closes every open connection and closes new ones at once, until [`TcpProxy::restore`].
    pub fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
        for connection in self.state.connections.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            connection.abort();
        }
    }

    /// Forwards again.
    pub fn restore(&self) {
        self.state.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accepting.abort();
        self.cut();
    }
}

async fn accept(listener: TcpListener, target: String, state: Arc<State>) {
    while let Ok((mut inbound, _)) = listener.accept().await {
        if state.cut.load(Ordering::SeqCst) {
            continue; // dropped: the client sees the connection closed
        }
        let target = target.clone();
        let forwarding = tokio::spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(&target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
        let mut connections = state.connections.lock().unwrap_or_else(|p| p.into_inner());
        connections.retain(|connection| !connection.is_finished());
        connections.push(forwarding.abort_handle());
    }
}
