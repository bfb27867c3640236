//! The sidecar process: configuration from the environment (see [`Config`]), stopped
//! gracefully by SIGTERM or Ctrl-C.

use anyhow::Context;
use ticketbuster_sidecar::Config;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    raise_open_file_limit();
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    eprintln!("[sidecar] WebSockets on ws://{}/ws", config.listen);
    let shutdown = CancellationToken::new();
    let mut terminate = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let stop = shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        eprintln!("[sidecar] stopping: closing connections");
        stop.cancel();
    });
    ticketbuster_sidecar::run(config, listener, shutdown).await
}

/// Each WebSocket is a file descriptor: take the hard limit, not the default soft one.
fn raise_open_file_limit() {
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("[sidecar] could not raise the open file limit: {e}");
    }
}
