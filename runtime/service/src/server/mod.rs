//! `kaudit serve`: the Kubernetes audit webhook (docs/semantics.md#ingestion) over HTTP/1.1 and HTTP/2, plain or TLS.
//!
//! `Server::start` binds every listener, starts the evaluation pipeline and returns; `Server::run` serves
//! until the shutdown trigger fires, then, all within `kaudit.shutdown_timeout_ms`: stops accepting, lets
//! open requests finish (cut at half the budget), evaluates everything that was accepted and closes the
//! outputs (the rest of the budget). What could not be delivered in time is counted and logged once.
//!
//! Admission (README "Hardening"): a global connection cap (fitted to the open-files limit; beyond it
//! clients wait in the kernel queue), a per-address connection cap (beyond it connections are closed at
//! once), header and idle deadlines for both protocols, HTTP/2 stream and keep-alive limits, and a
//! body-byte budget checked before a body is read.

pub mod admission;
pub mod auth;
pub mod body;
pub mod deadline;
pub mod fd_limit;
pub mod http;
pub mod idle;
pub mod metrics;
pub mod pipeline;
pub mod reload;
pub mod shutdown;
pub mod split;
pub mod tls;

/// Re-exported so the binary logs through the same subscriber without its own dependency.
pub use tracing;

use crate::config::{ConnLimits, ListenerConfig, ServeConfig};
use crate::limited;
use crate::logging::LogGate;
use crate::outputs::Output;
use admission::Admission;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use metrics::Metrics;
use pipeline::{EvalContext, Pipeline};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// Lower bound of the header and TLS-handshake timeout.
const HEADER_TIMEOUT_MIN: Duration = Duration::from_millis(100);
/// HTTP/2: streams reset by the client before we saw them, and streams we reset for errors, tolerated on
/// one connection before it gets GOAWAY (rapid-reset defences; hyper's defaults, made explicit).
const HTTP2_MAX_PENDING_ACCEPT_RESET_STREAMS: usize = 20;
const HTTP2_MAX_LOCAL_ERROR_RESET_STREAMS: usize = 1024;
/// HTTP/2: largest header block accepted (HPACK-bomb defence).
const HTTP2_MAX_HEADER_LIST_SIZE: u32 = 64 * 1024;
/// HTTP/1: the connection's read buffer, which bounds a request head (hyper's default is ~400 KiB; audit
/// requests have small heads, and every open connection may hold a full buffer).
const HTTP1_MAX_BUF_SIZE: usize = 64 * 1024;

/// Log causes a client can trigger at will.
static ACCEPT_FAILED: LogGate = LogGate::new("accept_failed");
static CONN_REFUSED: LogGate = LogGate::new("connection_refused");

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
    shutdown_timeout: Duration,
    /// The configured limits, `max_connections` fitted to the open-files limit.
    conn: ConnLimits,
    /// Pull sources feeding the pipeline (`add_source`).
    sources: Vec<tokio::task::JoinHandle<()>>,
}

/// Counts at the end of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub events_queued: u64,
    pub events_evaluated: u64,
    pub alerts: u64,
    /// Accepted events not evaluated when the shutdown budget ran out.
    pub events_undelivered: u64,
    /// Alerts not handed to the outputs when the shutdown budget ran out.
    pub alerts_undelivered: u64,
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

    /// Like `start`, with metrics shared with the caller.
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
        let mut conn = cfg.conn;
        let fds = fd_limit::raise_nofile_limit();
        conn.max_connections = fd_limit::fit_connections(conn.max_connections, fds);
        conn.max_connections_per_address =
            conn.max_connections_per_address.min(conn.max_connections);
        if conn.max_connections < cfg.conn.max_connections {
            tracing::warn!(
                configured = cfg.conn.max_connections,
                fitted = conn.max_connections,
                open_files_limit = fds,
                "kaudit.max_connections lowered to fit the open-files limit"
            );
        }
        metrics
            .connections_max
            .store(conn.max_connections as u64, Ordering::Relaxed);
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
            cfg.outputs.queue_settings(),
            &cfg.outputs.queue_capacities(),
            reopen.clone(),
            metrics.clone(),
            // Outputs close within what the shutdown budget leaves after open requests (at most half).
            cfg.shutdown_timeout / 2,
        )
        .map_err(|e| format!("cannot start the evaluation workers: {e}"))?;
        let admission = Admission::new(
            admission::Budgets {
                max_connections: conn.max_connections,
                max_connections_per_address: conn.max_connections_per_address,
                max_body_bytes: conn.max_body_bytes,
                max_body_bytes_per_address: conn.max_body_bytes_per_address,
            },
            metrics.clone(),
        );
        let state = Arc::new(http::AppState {
            pipeline,
            metrics,
            admission,
            splitter: split::Splitter::new(cfg.pipeline.parse_concurrency),
            token: auth::BearerToken::new(cfg.auth.bearer_token.as_deref()),
            limits: cfg.limits,
            retry_after_seconds: cfg.pipeline.retry_after_seconds,
            body_timeout: conn.read_timeout,
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
            shutdown_timeout: cfg.shutdown_timeout,
            conn,
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

    /// The rule set in force, for hot reload (`reload::spawn`).
    pub fn rules_slot(&self) -> pipeline::RulesSlot {
        self.state.pipeline.rules_slot()
    }

    /// Set it to make file outputs reopen (what SIGHUP does).
    pub fn reopen_flag(&self) -> Arc<AtomicBool> {
        self.reopen.clone()
    }

    /// Serves until the trigger fires, then shuts down within `shutdown_timeout` in total.
    pub async fn run(self) -> Summary {
        let graceful = Arc::new(GracefulShutdown::new());
        let slots = Arc::new(tokio::sync::Semaphore::new(self.conn.max_connections));
        let (cut_tx, cut) = tokio::sync::watch::channel(false);
        let mut accept_loops = JoinSet::new();
        for l in self.listeners {
            let ctx = AcceptCtx {
                state: self.state.clone(),
                client_auth: self.client_auth.clone(),
                graceful: graceful.clone(),
                slots: slots.clone(),
                conn: self.conn,
                stop: self.stop.clone(),
                cut: cut.clone(),
            };
            accept_loops.spawn(accept_loop(l, ctx));
        }
        let mut stop = self.stop.clone();
        while !*stop.borrow_and_update() {
            if stop.changed().await.is_err() {
                break;
            }
        }
        let started = Instant::now();
        let deadline = started + self.shutdown_timeout;
        tracing::info!(
            budget_ms = self.shutdown_timeout.as_millis() as u64,
            "shutting down: no new connections; finishing open requests"
        );
        self.state.shutting_down.store(true, Ordering::SeqCst);
        accept_loops.shutdown().await;
        // Open requests get at most half the budget; then they are cut (their clients retry elsewhere).
        let requests_deadline = started + self.shutdown_timeout / 2;
        match Arc::try_unwrap(graceful) {
            Ok(g) => {
                let until = tokio::time::Instant::from_std(requests_deadline);
                if tokio::time::timeout_at(until, g.shutdown()).await.is_err() {
                    tracing::warn!(
                        "open requests did not finish in half the shutdown budget; cutting them"
                    );
                }
            }
            Err(_) => {
                tracing::warn!("connections still referenced at shutdown; cutting them")
            }
        }
        let _ = cut_tx.send(true);
        // Sources stop reading, wait for their queued batches and acknowledge them (within the budget).
        for src in self.sources {
            let until = tokio::time::Instant::from_std(deadline);
            if tokio::time::timeout_at(until, src).await.is_err() {
                tracing::warn!("a source did not finish within the shutdown budget");
            }
        }
        tracing::info!(
            queued = self.state.pipeline.depth(),
            "evaluating the queued events and flushing outputs"
        );
        // On a thread of its own: if an output never returns, the process still exits at the deadline.
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let state = self.state.clone();
        let drained = std::thread::Builder::new()
            .name("kaudit-drain".into())
            .spawn(move || {
                // Outputs get what is left of the budget; an output still busy then is abandoned and
                // its alerts counted.
                let lost = state.pipeline.close_and_wait_until(deadline);
                let _ = done_tx.send(lost);
            })
            .is_ok();
        let until = tokio::time::Instant::from_std(deadline);
        let lost = match drained {
            true => tokio::time::timeout_at(until, done_rx)
                .await
                .ok()
                .and_then(Result::ok),
            false => None,
        };
        let finished = lost.is_some();
        let m = &self.state.metrics;
        let mut summary = Summary {
            events_queued: m.events_queued.load(Ordering::Relaxed),
            events_evaluated: m.events_evaluated.load(Ordering::Relaxed),
            alerts: m.alerts_total(),
            events_undelivered: 0,
            alerts_undelivered: lost.unwrap_or(0),
        };
        if !finished {
            summary.events_undelivered = m.queue_depth.load(Ordering::Relaxed);
            summary.alerts_undelivered = m.output_queue_depth.load(Ordering::Relaxed);
            tracing::error!(
                events_not_evaluated = summary.events_undelivered,
                alerts_not_delivered = summary.alerts_undelivered,
                budget_ms = self.shutdown_timeout.as_millis() as u64,
                "shutdown budget spent: exiting with work undelivered"
            );
        }
        crate::logging::report_unreported();
        summary
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
    /// One permit per open connection (the global cap: beyond it, clients wait in the kernel queue).
    slots: Arc<tokio::sync::Semaphore>,
    conn: ConnLimits,
    stop: tokio::sync::watch::Receiver<bool>,
    /// Raised when the shutdown budget for open requests is spent: every connection is dropped.
    cut: tokio::sync::watch::Receiver<bool>,
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
                    limited!(ACCEPT_FAILED, warn, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        // Per-address cap: closed at once, so one address's excess never queues ahead of others.
        let addr_slot = match ctx.state.admission.connection(peer.ip()) {
            Ok(s) => s,
            Err(why) => {
                let (counter, limit) = match why {
                    admission::Denied::PerAddress => (
                        &ctx.state.metrics.connections_refused_per_address,
                        "kaudit.max_connections_per_address",
                    ),
                    _ => (
                        &ctx.state.metrics.connections_refused_share,
                        "its even share of the reserved last tenth of kaudit.max_connections",
                    ),
                };
                counter.fetch_add(1, Ordering::Relaxed);
                limited!(CONN_REFUSED, warn, peer = %peer.ip(), "connection closed: this address holds {limit}");
                drop(tcp);
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let tcp = idle::IdleTimeout::new(tcp, ctx.conn.idle_timeout);
        let conn = Connection {
            state: ctx.state.clone(),
            tls: l.tls.clone(),
            client_auth: ctx.client_auth.clone(),
            audit_paths: l.audit_paths.clone(),
            healthz_path: l.healthz_path.clone(),
            peer,
            limits: ctx.conn,
        };
        let watcher = ctx.graceful.watcher();
        let mut cut = ctx.cut.clone();
        tokio::spawn(async move {
            let activity = deadline::Activity::new();
            let header_timeout = ctx_header_timeout(&conn.limits);
            let idle_timeout = conn.limits.idle_timeout;
            let metrics = conn.state.metrics.clone();
            tokio::select! {
                r = conn.serve(tcp, watcher, activity.clone()) => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                }
                why = activity.expired(header_timeout, idle_timeout) => {
                    let c = match why {
                        deadline::Expired::Header => &metrics.connections_timed_out_header,
                        deadline::Expired::Idle => &metrics.connections_timed_out_idle,
                    };
                    c.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%peer, ?why, "connection closed by a deadline");
                }
                _ = cut.wait_for(|c| *c) => {}
            }
            drop(addr_slot);
            drop(slot);
        });
    }
}

fn ctx_header_timeout(l: &ConnLimits) -> Duration {
    l.header_timeout.max(HEADER_TIMEOUT_MIN)
}

struct Connection {
    state: Arc<http::AppState>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    client_auth: Option<tls::ClientAuth>,
    audit_paths: Arc<Vec<String>>,
    healthz_path: Arc<String>,
    peer: SocketAddr,
    limits: ConnLimits,
}

impl Connection {
    async fn serve(
        self,
        tcp: idle::IdleTimeout<TcpStream>,
        watcher: hyper_util::server::graceful::Watcher,
        activity: Arc<deadline::Activity>,
    ) -> Result<(), String> {
        let header_timeout = ctx_header_timeout(&self.limits);
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .max_buf_size(HTTP1_MAX_BUF_SIZE)
            .keep_alive(true);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(self.limits.http2_max_concurrent_streams)
            .keep_alive_interval(self.limits.http2_keep_alive_interval)
            .keep_alive_timeout(self.limits.http2_keep_alive_timeout)
            .max_pending_accept_reset_streams(HTTP2_MAX_PENDING_ACCEPT_RESET_STREAMS)
            .max_local_error_reset_streams(HTTP2_MAX_LOCAL_ERROR_RESET_STREAMS)
            .max_header_list_size(HTTP2_MAX_HEADER_LIST_SIZE);
        match self.tls.clone() {
            None => {
                let info = self.info(None);
                let svc = self.service(info, activity);
                let conn = builder.serve_connection(TokioIo::new(tcp), svc);
                watcher.watch(conn).await.map_err(|e| e.to_string())
            }
            Some(acceptor) => {
                let stream = tokio::time::timeout(header_timeout, acceptor.accept(tcp))
                    .await
                    .map_err(|_| "TLS handshake timed out".to_string())?
                    .map_err(|e| format!("TLS handshake failed: {e}"))?;
                let cert_ok = self
                    .client_auth
                    .as_ref()
                    .map(|ca| ca.verify(stream.get_ref().1.peer_certificates()));
                let info = self.info(cert_ok);
                let svc = self.service(info, activity);
                let conn = builder.serve_connection(TokioIo::new(stream), svc);
                watcher.watch(conn).await.map_err(|e| e.to_string())
            }
        }
    }

    fn info(&self, client_cert_ok: Option<bool>) -> Arc<http::ConnInfo> {
        Arc::new(http::ConnInfo {
            peer: self.peer.ip(),
            audit_paths: self.audit_paths.clone(),
            healthz_path: self.healthz_path.clone(),
            client_cert_ok,
        })
    }

    /// The request handler; each request holds the connection's activity while it runs.
    fn service(
        &self,
        info: Arc<http::ConnInfo>,
        activity: Arc<deadline::Activity>,
    ) -> impl hyper::service::Service<
        hyper::Request<hyper::body::Incoming>,
        Response = http::Resp,
        Error = std::convert::Infallible,
        Future = impl std::future::Future<Output = Result<http::Resp, std::convert::Infallible>> + Send,
    > + Clone
           + Send {
        let state = self.state.clone();
        service_fn(move |req| {
            let in_request = activity.request();
            let fut = http::handle(req, state.clone(), info.clone());
            async move {
                let r = fut.await;
                drop(in_request);
                r
            }
        })
    }
}

/// Runs the webhook until SIGTERM/SIGINT (SIGHUP reopens output files, and reloads the rules when `reload`
/// is given): builds the outputs, starts the server on a multi-threaded runtime, and returns the
/// end-of-run counts after a graceful shutdown.
pub fn serve_until_signal(
    cfg: &ServeConfig,
    ctx: EvalContext,
    reload: Option<reload::Watch>,
) -> Result<Summary, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("kaudit-io")
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let summary = rt.block_on(async {
        let metrics = Arc::new(Metrics::default());
        let outs = crate::outputs::build(&cfg.outputs, cfg.settings.json_output)?;
        let mut server = Server::start_with_metrics(cfg, ctx, outs, metrics).await?;
        let reload_flag = match reload {
            Some(watch) => {
                let flag = Arc::new(AtomicBool::new(false));
                let slot = server.rules_slot();
                reload::spawn(watch, &slot, server.metrics(), flag.clone())
                    .map_err(|e| format!("cannot start the rules reload thread: {e}"))?;
                Some(flag)
            }
            None => None,
        };
        if let Err(e) = shutdown::on_sighup(server.reopen_flag(), reload_flag) {
            tracing::warn!("SIGHUP handling unavailable: {e}");
        }
        let trigger = server.trigger();
        match shutdown::Termination::watch() {
            Ok(mut signals) => {
                tokio::spawn(async move {
                    let (sig, _) = signals.next().await;
                    tracing::info!("{sig} received: shutting down (send it again to exit at once)");
                    trigger.fire();
                    let (sig, status) = signals.next().await;
                    tracing::warn!("second {sig}: exiting at once, undelivered work is lost");
                    std::process::exit(status);
                });
            }
            Err(e) => {
                tracing::error!("cannot watch for SIGTERM/SIGINT: {e}; shutting down");
                trigger.fire();
            }
        }
        // After the signals are watched: a SIGTERM right after a source starts is a graceful stop.
        crate::sources::start_configured(&mut server, cfg)?;
        Ok(server.run().await)
    });
    // Connection tasks cut at the deadline and an output stuck in a write must not hold the exit.
    rt.shutdown_timeout(Duration::from_millis(200));
    summary
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
