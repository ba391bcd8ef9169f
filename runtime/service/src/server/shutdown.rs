//! Process signals: SIGTERM/SIGINT start a graceful shutdown, SIGHUP asks file outputs to reopen.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::signal::unix::{signal, SignalKind};

/// Watches SIGTERM and SIGINT from now on (so a signal that comes before the returned future is first
/// polled still counts); the future resolves with the signal's name at the first one.
pub fn termination() -> std::io::Result<impl std::future::Future<Output = &'static str>> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
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
