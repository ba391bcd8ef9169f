//! The CloudWatch Logs client: the official AWS SDK with its standard configuration chain (credentials
//! from the environment, the shared profile files, `credential_process`, web identity / IRSA, container
//! and instance metadata; region likewise; `AWS_ENDPOINT_URL` to point it at another endpoint) and one
//! call, a page of `FilterLogEvents`.
//!
//! TLS: the SDK's default HTTPS client links aws-lc (a C library with its own build tooling). kaudit
//! builds the smithy hyper client with rustls on `ring` instead, the provider the webhook already
//! uses, so the static build and the dependency tree stay free of a second crypto library.

use crate::cloud::eks_config::{EksConfig, STREAM_PREFIX};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_cloudwatchlogs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatchlogs::Client;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use std::time::Duration;

/// One log event as `FilterLogEvents` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    pub stream: String,
    /// Milliseconds since the epoch (the time the API server wrote the line).
    pub timestamp: i64,
    pub id: String,
    pub message: String,
}

/// One page of results.
#[derive(Debug, Default)]
pub struct Page {
    pub events: Vec<LogEvent>,
    /// Present when more results may follow (a page may be empty and still have one).
    pub next_token: Option<String>,
}

/// A failed call (after the SDK's own retries), as a message that says what to do about it.
#[derive(Debug)]
pub struct CallError(pub String);

/// Builds the client. The SDK itself retries throttled and transient calls (standard mode: exponential
/// back-off with jitter and a retry quota); the source driver adds its own slower back-off on top.
pub async fn connect(cfg: &EksConfig) -> Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        // Short SDK retries: the source driver backs off further between failed polls, and a call
        // that waits long holds back the acknowledgement of finished batches.
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_max_backoff(Duration::from_secs(5)),
        )
        // A hung connection must not stall the source.
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(Duration::from_secs(30))
                .build(),
        );
    if let Some(region) = &cfg.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &cfg.profile {
        loader = loader.profile_name(profile);
    }
    Client::new(&loader.load().await)
}

/// Fetches one page of the cluster's audit streams from `start` (ms) on.
pub async fn fetch_page(
    client: &Client,
    log_group: &str,
    start: i64,
    next_token: Option<String>,
    limit: i32,
) -> Result<Page, CallError> {
    // `interleaved` is deprecated because AWS always interleaves (sorts all streams by timestamp) since
    // 2019; kaudit's checkpoints rely on that order, so it is asked for explicitly for endpoints that
    // still honour the flag (emulators).
    #[allow(deprecated)]
    let request = client
        .filter_log_events()
        .log_group_name(log_group)
        .log_stream_name_prefix(STREAM_PREFIX)
        .interleaved(true)
        .start_time(start)
        .limit(limit)
        .set_next_token(next_token);
    let out = request.send().await.map_err(classify)?;
    let events = out
        .events()
        .iter()
        // The group also holds the other control-plane logs (authenticator, scheduler, ...): an
        // endpoint that ignores the prefix must not feed them to the rules.
        .filter(|e| {
            e.log_stream_name()
                .is_some_and(|s| s.starts_with(STREAM_PREFIX))
        })
        .filter_map(|e| {
            Some(LogEvent {
                stream: e.log_stream_name()?.to_string(),
                timestamp: e.timestamp()?,
                id: e.event_id()?.to_string(),
                message: e.message().unwrap_or_default().to_string(),
            })
        })
        .collect();
    Ok(Page {
        events,
        next_token: out.next_token().map(str::to_string),
    })
}

fn classify<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    e: SdkError<E, R>,
) -> CallError {
    let hint = match e.code() {
        Some("ResourceNotFoundException") => {
            " (is the `audit` log type enabled in the cluster's control-plane logging?)"
        }
        Some("AccessDeniedException") => " (the role needs logs:FilterLogEvents on the log group)",
        _ => "",
    };
    let detail = match e.code() {
        Some(code) => format!("{code}: {}", e.message().unwrap_or("(no message)")),
        None => aws_sdk_cloudwatchlogs::error::DisplayErrorContext(&e).to_string(),
    };
    CallError(format!("FilterLogEvents failed: {detail}{hint}"))
}
