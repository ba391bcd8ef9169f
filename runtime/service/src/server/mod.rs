//! `kaudit serve`: the Kubernetes audit webhook (spec §5.1-5.2) over HTTP/1.1 and HTTP/2, plain or TLS.
//!
//! `Server::start` binds every listener, starts the evaluation pipeline and returns; `Server::run` serves
//! until the shutdown trigger fires, then stops accepting, lets open requests finish (bounded by the
//! shutdown timeout), evaluates everything that was accepted and closes the outputs.

pub mod auth;
pub mod http;
pub mod idle;
pub mod metrics;
pub mod pipeline;
pub mod shutdown;
pub mod tls;

/// Re-exported so the binary logs through the same subscriber without its own dependency.
pub use tracing;

use crate::config::{ListenerConfig, ServeConfig};
use crate::outputs::Output;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use metrics::Metrics;
use pipeline::{EvalContext, Pipeline};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// Lower bound of the header and TLS-handshake timeout (slow clients are cut off after `read_timeout`).
const HEADER_TIMEOUT_MIN: Duration = Duration::from_millis(100);

struct BoundListener {
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    audit_paths: Arc<Vec<String>>,
    healthz_path: Arc<String>,
}

/// A started webhook server.
pub struct Server {
    listeners: Vec<BoundListener>,
    addrs: Vec<SocketAddr>,
    state: Arc<http::AppState>,
    client_auth: Option<tls::ClientAuth>,
    reopen: Arc<AtomicBool>,
    trigger: shutdown::Trigger,
    stop: tokio::sync::watch::Receiver<bool>,
    read_timeout: Duration,
    shutdown_timeout: Duration,
    max_connections: usize,
    idle_timeout: Duration,
    /// Pull sources feeding the pipeline (`add_source`).
    sources: Vec<tokio::task::JoinHandle<()>>,
}

/// Counts at the end of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub events_queued: u64,
    pub events_evaluated: u64,
    pub alerts: u64,
}

impl Server {
    /// Binds the listeners and starts the pipeline. Must run inside a multi-threaded tokio runtime.
    pub async fn start(
        cfg: &ServeConfig,
        ctx: EvalContext,
        outputs: Vec<Box<dyn Output>>,
    ) -> Result<Server, String> {
        Server::start_with_metrics(cfg, ctx, outputs, Arc::new(Metrics::default())).await
    }

    /// Like `start`, with metrics shared with outputs built beforehand (`outputs::build`).
    pub async fn start_with_metrics(
        cfg: &ServeConfig,
        ctx: EvalContext,
        outputs: Vec<Box<dyn Output>>,
        metrics: Arc<Metrics>,
    ) -> Result<Server, String> {
        let client_auth = match &cfg.auth.client_ca {
            Some(ca) => Some(
                tls::ClientAuth::from_ca_file(ca)
                    .map_err(|e| format!("kaudit.auth.client_ca: {e}"))?,
            ),
            None => None,
        };
        let mut listeners = Vec::new();
        let mut addrs = Vec::new();
        for l in &cfg.listeners {
            let bound = bind(l, client_auth.as_ref()).await?;
            addrs.push(
                bound
                    .listener
                    .local_addr()
                    .map_err(|e| format!("{}: {e}", l.origin))?,
            );
            listeners.push(bound);
        }
        let reopen = Arc::new(AtomicBool::new(false));
        let pipeline = Pipeline::start(
            ctx,
            outputs,
            &cfg.pipeline,
            cfg.outputs.buffered,
            reopen.clone(),
            metrics.clone(),
            cfg.shutdown_timeout,
        )
        .map_err(|e| format!("cannot start the evaluation workers: {e}"))?;
        let state = Arc::new(http::AppState {
            pipeline,
            metrics,
            token: auth::BearerToken::new(cfg.auth.bearer_token.as_deref()),
            limits: cfg.limits,
            retry_after_seconds: cfg.pipeline.retry_after_seconds,
            body_timeout: cfg.read_timeout,
            shutting_down: AtomicBool::new(false),
        });
        let (tx, stop) = tokio::sync::watch::channel(false);
        Ok(Server {
            listeners,
            addrs,
            state,
            client_auth,
            reopen,
            trigger: shutdown::Trigger(Arc::new(tx)),
            stop,
            read_timeout: cfg.read_timeout.max(HEADER_TIMEOUT_MIN),
            shutdown_timeout: cfg.shutdown_timeout,
            max_connections: cfg.pipeline.max_connections,
            idle_timeout: cfg.idle_timeout,
            sources: Vec::new(),
        })
    }

    /// Starts a pull source on this server's pipeline (see `crate::sources`); it stops with the server,
    /// which waits for its last acknowledgements before closing the outputs.
    pub fn add_source<S: crate::sources::Source>(&mut self, src: S) {
        let stats = self.state.metrics.sources.add(src.name());
        let run = crate::sources::driver::run(src, self.state.clone(), stats, self.stop.clone());
        self.sources.push(tokio::spawn(run));
    }

    /// The bound addresses, in configuration order (port 0 in the configuration = an ephemeral port).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.state.metrics.clone()
    }

    /// Fire it to start a graceful shutdown.
    pub fn trigger(&self) -> shutdown::Trigger {
        self.trigger.clone()
    }

    /// Set it to make file outputs reopen (what SIGHUP does).
    pub fn reopen_flag(&self) -> Arc<AtomicBool> {
        self.reopen.clone()
    }

    /// Serves until the trigger fires, then shuts down gracefully.
    pub async fn run(self) -> Summary {
        let graceful = Arc::new(GracefulShutdown::new());
        let slots = Arc::new(tokio::sync::Semaphore::new(self.max_connections));
        let mut accept_loops = JoinSet::new();
        for l in self.listeners {
            let ctx = AcceptCtx {
                state: self.state.clone(),
                client_auth: self.client_auth.clone(),
                graceful: graceful.clone(),
                slots: slots.clone(),
                read_timeout: self.read_timeout,
                idle_timeout: self.idle_timeout,
                stop: self.stop.clone(),
            };
            accept_loops.spawn(accept_loop(l, ctx));
        }
        let mut stop = self.stop.clone();
        while !*stop.borrow_and_update() {
            if stop.changed().await.is_err() {
                break;
            }
        }
        tracing::info!("shutting down: no new connections; finishing open requests");
        self.state.shutting_down.store(true, Ordering::SeqCst);
        accept_loops.shutdown().await;
        // The accept loops are gone, so this is the last reference.
        match Arc::try_unwrap(graceful) {
            Ok(g) => {
                if tokio::time::timeout(self.shutdown_timeout, g.shutdown())
                    .await
                    .is_err()
                {
                    tracing::warn!(
                        "open connections did not finish within the shutdown timeout; closing them"
                    );
                }
            }
            Err(_) => {
                tracing::warn!("connections still referenced at shutdown; not waiting for them")
            }
        }
        // Sources stop reading, wait for their queued batches and acknowledge them.
        for src in self.sources {
            if tokio::time::timeout(self.shutdown_timeout, src)
                .await
                .is_err()
            {
                tracing::warn!("a source did not finish within the shutdown timeout");
            }
        }
        tracing::info!(
            queued = self.state.pipeline.depth(),
            "evaluating the queued events and flushing outputs"
        );
        let state = self.state.clone();
        let _ = tokio::task::spawn_blocking(move || state.pipeline.close_and_wait()).await;
        let m = &self.state.metrics;
        Summary {
            events_queued: m.events_queued.load(Ordering::Relaxed),
            events_evaluated: m.events_evaluated.load(Ordering::Relaxed),
            alerts: m.alerts_total(),
        }
    }
}

async fn bind(
    l: &ListenerConfig,
    client_auth: Option<&tls::ClientAuth>,
) -> Result<BoundListener, String> {
    let tls = match &l.tls_pem {
        Some(pem) => {
            let cfg = tls::server_config(pem, client_auth)
                .map_err(|e| format!("{} TLS certificate: {e}", l.origin))?;
            Some(tokio_rustls::TlsAcceptor::from(cfg))
        }
        None => None,
    };
    let listener = TcpListener::bind(l.addr)
        .await
        .map_err(|e| format!("{}: cannot listen on {}: {e}", l.origin, l.addr))?;
    tracing::info!(
        addr = %listener.local_addr().map_or(l.addr, |a| a),
        paths = ?l.audit_paths,
        tls = l.tls_pem.is_some(),
        "listening for audit events"
    );
    Ok(BoundListener {
        listener,
        tls,
        audit_paths: Arc::new(l.audit_paths.clone()),
        healthz_path: Arc::new(l.healthz_path.clone()),
    })
}

struct AcceptCtx {
    state: Arc<http::AppState>,
    client_auth: Option<tls::ClientAuth>,
    graceful: Arc<GracefulShutdown>,
    /// One permit per open connection.
    slots: Arc<tokio::sync::Semaphore>,
    read_timeout: Duration,
    idle_timeout: Duration,
    stop: tokio::sync::watch::Receiver<bool>,
}

async fn accept_loop(l: BoundListener, ctx: AcceptCtx) {
    let mut stop = ctx.stop.clone();
    loop {
        let slot = tokio::select! {
            p = ctx.slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = stop.changed() => return,
        };
        let (tcp, peer) = tokio::select! {
            r = l.listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let _ = tcp.set_nodelay(true);
        let tcp = idle::IdleTimeout::new(tcp, ctx.idle_timeout);
        let conn = Connection {
            state: ctx.state.clone(),
            tls: l.tls.clone(),
            client_auth: ctx.client_auth.clone(),
            audit_paths: l.audit_paths.clone(),
            healthz_path: l.healthz_path.clone(),
            read_timeout: ctx.read_timeout,
        };
        let watcher = ctx.graceful.watcher();
        tokio::spawn(async move {
            if let Err(e) = conn.serve(tcp, watcher).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
}

struct Connection {
    state: Arc<http::AppState>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    client_auth: Option<tls::ClientAuth>,
    audit_paths: Arc<Vec<String>>,
    healthz_path: Arc<String>,
    read_timeout: Duration,
}

impl Connection {
    async fn serve(
        self,
        tcp: idle::IdleTimeout<TcpStream>,
        watcher: hyper_util::server::graceful::Watcher,
    ) -> Result<(), String> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.read_timeout)
            .keep_alive(true);
        builder.http2().timer(TokioTimer::new());
        match self.tls.clone() {
            None => {
                let info = self.info(None);
                let svc = self.service(info);
                let conn = builder.serve_connection(TokioIo::new(tcp), svc);
                watcher.watch(conn).await.map_err(|e| e.to_string())
            }
            Some(acceptor) => {
                let stream = tokio::time::timeout(self.read_timeout, acceptor.accept(tcp))
                    .await
                    .map_err(|_| "TLS handshake timed out".to_string())?
                    .map_err(|e| format!("TLS handshake failed: {e}"))?;
                let cert_ok = self
                    .client_auth
                    .as_ref()
                    .map(|ca| ca.verify(stream.get_ref().1.peer_certificates()));
                let info = self.info(cert_ok);
                let svc = self.service(info);
                let conn = builder.serve_connection(TokioIo::new(stream), svc);
                watcher.watch(conn).await.map_err(|e| e.to_string())
            }
        }
    }

    fn info(&self, client_cert_ok: Option<bool>) -> Arc<http::ConnInfo> {
        Arc::new(http::ConnInfo {
            audit_paths: self.audit_paths.clone(),
            healthz_path: self.healthz_path.clone(),
            client_cert_ok,
        })
    }

    fn service(
        &self,
        info: Arc<http::ConnInfo>,
    ) -> impl hyper::service::Service<
        hyper::Request<hyper::body::Incoming>,
        Response = http::Resp,
        Error = std::convert::Infallible,
        Future = impl std::future::Future<Output = Result<http::Resp, std::convert::Infallible>> + Send,
    > + Clone
           + Send {
        let state = self.state.clone();
        service_fn(move |req| http::handle(req, state.clone(), info.clone()))
    }
}

/// Runs the webhook until SIGTERM/SIGINT (SIGHUP reopens output files): builds the outputs, starts the
/// server on a multi-threaded runtime, and returns the end-of-run counts after a graceful shutdown.
pub fn serve_until_signal(cfg: &ServeConfig, ctx: EvalContext) -> Result<Summary, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("kaudit-io")
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    rt.block_on(async {
        let metrics = Arc::new(Metrics::default());
        let outs = crate::outputs::build(&cfg.outputs, cfg.settings.json_output, &metrics)?;
        let mut server = Server::start_with_metrics(cfg, ctx, outs, metrics).await?;
        crate::sources::start_configured(&mut server, cfg)?;
        if let Err(e) = shutdown::reopen_on_sighup(server.reopen_flag()) {
            tracing::warn!("SIGHUP handling unavailable: {e}");
        }
        let trigger = server.trigger();
        tokio::spawn(async move {
            match shutdown::termination().await {
                Ok(sig) => tracing::info!("{sig} received: shutting down"),
                Err(e) => tracing::error!("cannot watch for SIGTERM/SIGINT: {e}; shutting down"),
            }
            trigger.fire();
        });
        Ok(server.run().await)
    })
}

/// Structured logs on stderr (stdout carries alerts) at `level` (error, warn, info, debug, trace).
pub fn init_logging(level: &str) {
    let level = match level {
        "error" => tracing::Level::ERROR,
        "warn" => tracing::Level::WARN,
        "debug" => tracing::Level::DEBUG,
        "trace" => tracing::Level::TRACE,
        _ => tracing::Level::INFO,
    };
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_max_level(level)
        .with_target(false)
        .try_init();
}
