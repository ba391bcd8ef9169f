//! Request handling for the audit webhook, `/healthz` and `/metrics`.
//!
//! An audit request is answered only after its body has been read, split into events and queued, so the
//! status tells the API server the truth: 200 = every valid event will be evaluated; 503 + Retry-After =
//! nothing was taken, send it again; 400/413/415/405/401/404 = this request is wrong as it is.

use super::admission::{Admission, Denied};
use super::auth::BearerToken;
use super::body::{self, BodyError};
use super::metrics::{EventDrop, Metrics, Refusal};
use super::pipeline::Pipeline;
use super::split::Splitter;
use crate::config::IngestLimits;
use crate::limited;
use crate::logging::LogGate;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE,
};
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// Log causes a client can trigger at will (README "Hardening": rate-limited log lines).
static UNAUTHORIZED: LogGate = LogGate::new("unauthorized");
static OVER_BUDGET: LogGate = LogGate::new("body_budget");

/// State shared by every connection.
pub struct AppState {
    pub pipeline: Pipeline,
    pub metrics: Arc<Metrics>,
    pub token: BearerToken,
    pub limits: IngestLimits,
    pub retry_after_seconds: u64,
    /// Time allowed to receive a whole request body.
    pub body_timeout: Duration,
    /// Connection and body-byte budgets.
    pub admission: Arc<Admission>,
    /// Where bodies are parsed.
    pub splitter: Splitter,
    pub shutting_down: AtomicBool,
}

/// What a request handler knows about its listener and connection.
pub struct ConnInfo {
    /// The client's address (its body-byte budget).
    pub peer: IpAddr,
    pub audit_paths: Arc<Vec<String>>,
    pub healthz_path: Arc<String>,
    /// `None` when client certificates are not required; else whether the presented chain verified.
    pub client_cert_ok: Option<bool>,
}

pub type Resp = Response<Full<Bytes>>;

fn text(status: StatusCode, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

pub async fn handle(
    req: Request<Incoming>,
    state: Arc<AppState>,
    conn: Arc<ConnInfo>,
) -> Result<Resp, Infallible> {
    let path = req.uri().path();
    if conn.audit_paths.iter().any(|p| p == path) {
        return Ok(audit(req, &state, &conn).await);
    }
    let is_get = req.method() == Method::GET || req.method() == Method::HEAD;
    let resp = if path == conn.healthz_path.as_str() && is_get {
        healthz(&state)
    } else if path == "/metrics" && is_get {
        let mut r = text(StatusCode::OK, state.metrics.render());
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        r
    } else if path == conn.healthz_path.as_str() || path == "/metrics" {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{} method not allowed\n", req.method()),
        );
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        r
    } else {
        state.metrics.refused(Refusal::NotFound);
        text(StatusCode::NOT_FOUND, "404 page not found\n")
    };
    Ok(resp)
}

/// 503 while a pull source is failing; a failed rules reload adds a line but keeps 200 by itself: the
/// previous rules keep running, and a restart would not load the broken files either.
fn healthz(state: &AppState) -> Resp {
    let reload = state
        .metrics
        .reload_error()
        .map(|why| format!("rules reload failed (the previous rules are still in force): {why}\n"))
        .unwrap_or_default();
    match state.metrics.sources.unhealthy() {
        None => text(StatusCode::OK, format!("ok\n{reload}")),
        Some((source, d)) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("source {source} failing for {}s\n{reload}", d.as_secs()),
        ),
    }
}

fn refuse(state: &AppState, why: Refusal, status: StatusCode, msg: String) -> Resp {
    state.metrics.refused(why);
    tracing::debug!(
        reason = why.label(),
        status = status.as_u16(),
        "audit request refused: {msg}"
    );
    text(status, msg + "\n")
}

async fn audit(req: Request<Incoming>, state: &AppState, conn: &ConnInfo) -> Resp {
    if req.method() != Method::POST {
        let mut r = refuse(
            state,
            Refusal::Method,
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{} method not allowed", req.method()),
        );
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    let cert_ok = conn.client_cert_ok.unwrap_or(true);
    let token_ok = state.token.check(
        req.headers()
            .get(hyper::header::AUTHORIZATION)
            .map(|v| v.as_bytes()),
    );
    if !cert_ok || !token_ok {
        let why = if cert_ok {
            "missing or wrong bearer token"
        } else {
            "missing or untrusted client certificate"
        };
        limited!(UNAUTHORIZED, warn, peer = %conn.peer, "unauthorized audit request: {why}");
        let mut r = refuse(
            state,
            Refusal::Unauthorized,
            StatusCode::UNAUTHORIZED,
            format!("unauthorized: {why}"),
        );
        if state.token.required() {
            r.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        return r;
    }
    // Like the k8saudit plugin: the media type must mention application/json (parameters allowed).
    let json_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("application/json"));
    if !json_type {
        return refuse(
            state,
            Refusal::ContentType,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "wrong Content Type: expected application/json".into(),
        );
    }
    if state.shutting_down.load(Relaxed) {
        return unavailable(state, Refusal::ShuttingDown, "shutting down", true);
    }
    let max = state.limits.max_batch_size;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // The body's bytes are reserved before they are read (and held until its events are evaluated).
    let mut budget = state.admission.body(conn.peer);
    let read = body::read(req.into_body(), declared, max, &mut budget);
    let body = match tokio::time::timeout(state.body_timeout, read).await {
        Err(_) => {
            let mut r = refuse(
                state,
                Refusal::ReadError,
                StatusCode::REQUEST_TIMEOUT,
                "request body not received in time".into(),
            );
            r.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            return r;
        }
        Ok(Err(BodyError::TooLarge | BodyError::Busy(Denied::Never))) => {
            return too_large(state, max)
        }
        Ok(Err(BodyError::Busy(why))) => return over_budget(state, conn, why),
        Ok(Err(BodyError::Read(e))) => {
            return refuse(
                state,
                Refusal::ReadError,
                StatusCode::BAD_REQUEST,
                format!("bad request: {e}"),
            )
        }
        Ok(Ok(b)) => b,
    };
    let max_event = state.limits.max_event_size;
    let split = match state.splitter.split(&body, max_event).await {
        Ok(x) => x,
        Err(msg) => {
            return refuse(
                state,
                Refusal::Malformed,
                StatusCode::BAD_REQUEST,
                format!("bad request: {msg}"),
            )
        }
    };
    // The parse (tape) is held with the body until evaluation: it counts against the same budget.
    if let Err(why) = budget.grow(std::mem::size_of_val(split.tape.as_slice())) {
        if why == Denied::Never {
            return too_large(state, max);
        }
        return over_budget(state, conn, why);
    }
    let (n, oversized, invalid) = (split.index.len() as u64, split.oversized, split.invalid);
    state
        .metrics
        .events_received
        .fetch_add(n + oversized + invalid, Relaxed);
    for _ in 0..oversized {
        state.metrics.event_dropped(EventDrop::Oversized);
    }
    for _ in 0..invalid {
        state.metrics.event_dropped(EventDrop::Invalid);
    }
    match state
        .pipeline
        .submit(body, split.tape, split.index, Some(budget))
    {
        Ok(()) => {
            state.metrics.requests_accepted.fetch_add(1, Relaxed);
            // Dropped events are reported to the sender too: resending would not help them.
            let mut r = text(
                StatusCode::OK,
                format!("{{\"accepted\":{n},\"dropped_oversized\":{oversized},\"dropped_invalid\":{invalid}}}\n"),
            );
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        Err(why) => {
            state.metrics.events_refused.fetch_add(n, Relaxed);
            let close = why == Refusal::ShuttingDown;
            unavailable(
                state,
                why,
                if close {
                    "shutting down"
                } else {
                    "event queue full, retry later"
                },
                close,
            )
        }
    }
}

fn too_large(state: &AppState, max: usize) -> Resp {
    let mut r = refuse(
        state,
        Refusal::TooLarge,
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body larger than webhookMaxBatchSize ({max} bytes)"),
    );
    // The unread rest of the body makes the connection unusable.
    r.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    r
}

/// 503 + Retry-After without reading the body; the connection is closed (its unread body is in the way).
fn over_budget(state: &AppState, conn: &ConnInfo, why: Denied) -> Resp {
    let scope = match why {
        Denied::PerAddress => "this client's",
        _ => "the server's",
    };
    limited!(OVER_BUDGET, warn, peer = %conn.peer, "request refused before reading its body: {scope} body-byte budget is in use");
    unavailable(
        state,
        Refusal::OverBudget,
        &format!("{scope} request-body budget is in use, retry later"),
        true,
    )
}

fn unavailable(state: &AppState, why: Refusal, msg: &str, close: bool) -> Resp {
    let mut r = refuse(state, why, StatusCode::SERVICE_UNAVAILABLE, msg.to_string());
    if let Ok(v) = HeaderValue::from_str(&state.retry_after_seconds.to_string()) {
        r.headers_mut().insert(RETRY_AFTER, v);
    }
    if close {
        r.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    r
}
