//! Process signals: SIGTERM/SIGINT start a graceful shutdown, SIGHUP asks file outputs to reopen.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::signal::unix::{signal, SignalKind};

/// Resolves with the signal's name at the first SIGTERM or SIGINT.
pub async fn termination() -> std::io::Result<&'static str> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

/// Raises `reopen` at every SIGHUP (the output dispatcher acts on it).
pub fn reopen_on_sighup(reopen: Arc<AtomicBool>) -> std::io::Result<()> {
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reopening output files");
            reopen.store(true, Ordering::SeqCst);
        }
    });
    Ok(())
}

/// A cloneable trigger for a graceful shutdown (signals, tests).
#[derive(Clone)]
pub struct Trigger(pub(crate) Arc<tokio::sync::watch::Sender<bool>>);

impl Trigger {
    pub fn fire(&self) {
        self.0.send_replace(true);
    }
}
