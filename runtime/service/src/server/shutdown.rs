//! Process signals: the first SIGTERM/SIGINT starts a bounded graceful shutdown, a second one exits at
//! once; SIGHUP asks file outputs to reopen and the rules to reload.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// SIGTERM and SIGINT, watched from the start (so none is lost between the first and the second).
pub struct Termination {
    term: Signal,
    int: Signal,
}

impl Termination {
    pub fn watch() -> std::io::Result<Termination> {
        Ok(Termination {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Resolves with the signal's name and its exit status (128 + number) at the next SIGTERM or SIGINT.
    pub async fn next(&mut self) -> (&'static str, i32) {
        tokio::select! {
            _ = self.term.recv() => ("SIGTERM", 128 + 15),
            _ = self.int.recv() => ("SIGINT", 128 + 2),
        }
    }
}

/// At every SIGHUP raises `reopen` (the output dispatcher acts on it) and `reload` when hot reload is on
/// (the reload thread acts on it).
pub fn on_sighup(reopen: Arc<AtomicBool>, reload: Option<Arc<AtomicBool>>) -> std::io::Result<()> {
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match reload {
                Some(_) => tracing::info!("SIGHUP: reopening output files and reloading rules"),
                None => tracing::info!("SIGHUP: reopening output files"),
            }
            reopen.store(true, Ordering::SeqCst);
            if let Some(r) = &reload {
                r.store(true, Ordering::SeqCst);
            }
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
