//! `kaudit serve` configuration: Falco's falco.yaml keys that apply to a Kubernetes-audit webhook
//! (docs/semantics.md#plugin-configuration, #configuration), plus kaudit's own keys under `kaudit:`.
//!
//! Loading order: the embedded `default.yaml`, then the `-c FILE` document merged over it key by key, then
//! each `-o key=value` in order. The rule-run keys (`priority`, `rule_matching`, `json_*`, `rules:`) are
//! handed to `settings::Settings`; everything else becomes the typed server/output configuration below.
//! Unknown keys produce warnings; a known key with a value of the wrong type is an error naming the key.

pub mod limits;
pub mod outputs;
pub(crate) mod read;
pub mod sources;
pub mod tree;

use kaudit_engine::settings::Settings;
pub use limits::ConnLimits;
pub use outputs::{FileOutputConfig, HttpCa, HttpOutputConfig, OutputsConfig, ProgramOutputConfig};
pub use sources::SourcesConfig;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;
pub use tree::{ConfigError, Node};

/// The built-in configuration (used as is when no file is given).
pub const DEFAULT_YAML: &str = include_str!("default.yaml");

/// Everything `kaudit serve` needs besides the rules.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Rule selection and alert format.
    pub settings: Settings,
    /// `rules_files`; empty = the rules compiled into the binary.
    pub rules_files: Vec<String>,
    /// `watch_config_files`: reload run-time rules and settings when their files change (README "Hot reload").
    pub watch_config_files: bool,
    pub listeners: Vec<ListenerConfig>,
    pub limits: IngestLimits,
    pub outputs: OutputsConfig,
    pub auth: AuthConfig,
    pub pipeline: PipelineConfig,
    /// Total time from SIGTERM/SIGINT to exit: finish requests, drain the queue, flush the outputs.
    pub shutdown_timeout: Duration,
    /// Connection budgets, deadlines and the body-byte budget (`kaudit.*`, README "Hardening").
    pub conn: ConnLimits,
    pub log_level: String,
    /// Pull sources (files to follow, cloud plugins) and `kaudit.state_dir`.
    pub sources: SourcesConfig,
    /// Unknown keys and ignored Falco features, to be logged by the caller.
    pub warnings: Vec<String>,
}

/// One listening socket and the audit paths it accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerConfig {
    pub addr: SocketAddr,
    /// Paths that accept audit events (POST).
    pub audit_paths: Vec<String>,
    pub healthz_path: String,
    /// PEM file holding the certificate chain and the private key.
    pub tls_pem: Option<PathBuf>,
    /// Where this listener came from (for messages): `webserver` or `plugins[N]`.
    pub origin: String,
}

/// Size limits of the k8saudit plugin (its `init_config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestLimits {
    /// `maxEventSize`: larger events are dropped and counted.
    pub max_event_size: usize,
    /// `webhookMaxBatchSize`: larger bodies get 413.
    pub max_batch_size: usize,
}

impl Default for IngestLimits {
    fn default() -> Self {
        IngestLimits {
            max_event_size: 262_144,
            max_batch_size: 12_582_912,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuthConfig {
    pub bearer_token: Option<String>,
    /// PEM CA bundle for client certificates (mTLS).
    pub client_ca: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineConfig {
    /// Evaluation threads (at least 1).
    pub workers: usize,
    /// Large bodies parsed at once (at least 1; `server::split`).
    pub parse_concurrency: usize,
    /// Events accepted and not yet evaluated.
    pub queue_capacity: usize,
    pub retry_after_seconds: u64,
}

impl ServeConfig {
    /// Loads `file` (or only the built-in defaults) and applies `overrides` (`-o key=value`).
    pub fn load(file: Option<&Path>, overrides: &[String]) -> Result<ServeConfig, ConfigError> {
        let user = match file {
            None => None,
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError(format!("{}: cannot read: {e}", p.display())))?;
                Some((text, p.display().to_string()))
            }
        };
        ServeConfig::from_sources(
            user.as_ref().map(|(t, o)| (t.as_str(), o.as_str())),
            overrides,
        )
    }

    /// Like `load`, with the file's text given directly (`origin` names it in messages).
    pub fn from_sources(
        user: Option<(&str, &str)>,
        overrides: &[String],
    ) -> Result<ServeConfig, ConfigError> {
        let mut root = Node::parse_yaml(DEFAULT_YAML, "built-in default configuration")?;
        if let Some((text, origin)) = user {
            let doc = Node::parse_yaml(text, origin)?;
            if !matches!(doc, Node::Map(_)) {
                return Err(ConfigError(format!(
                    "{origin}: the configuration must be a YAML map"
                )));
            }
            merge(&mut root, doc);
        }
        for o in overrides {
            root.apply_override(o)?;
        }
        ServeConfig::from_tree(&root)
    }

    /// Builds the typed configuration from a merged document.
    pub fn from_tree(root: &Node) -> Result<ServeConfig, ConfigError> {
        let mut r = read::Reader::default();
        let top_level_keys = [read::SETTINGS_KEYS, read::OTHER_TOP_LEVEL_KEYS].concat();
        r.check_keys(root, "", &top_level_keys, read::IGNORED_FALCO_KEYS);
        let mut settings = read_settings(root)?;
        settings.raw_text_output = r.bool_or(root, "kaudit.raw_text_output", false)?;
        let rules_files = r.str_list(root, "rules_files")?;
        let watch_config_files = r.bool_or(root, "watch_config_files", true)?;

        let kaudit = root.child("kaudit").cloned().unwrap_or_default();
        let kaudit_keys = [read::KAUDIT_KEYS, limits::KEYS].concat();
        r.check_keys(&kaudit, "kaudit.", &kaudit_keys, &[]);
        let auth_node = kaudit.child("auth").cloned().unwrap_or_default();
        r.check_keys(
            &auth_node,
            "kaudit.auth.",
            &["bearer_token", "bearer_token_file", "client_ca"],
            &[],
        );

        let mut limits = IngestLimits {
            max_event_size: r.usize_or(
                root,
                "kaudit.max_event_size",
                IngestLimits::default().max_event_size,
            )?,
            max_batch_size: r.usize_or(
                root,
                "kaudit.max_batch_size",
                IngestLimits::default().max_batch_size,
            )?,
        };
        let sources = sources::read_sources(&mut r, root)?;
        crate::cloud::check_config(&mut r, &sources)?;
        let listeners = read_listeners(&mut r, root, &mut limits, !sources.is_empty())?;

        let auth = read_auth(&mut r, root)?;
        if auth.client_ca.is_some() {
            if let Some(l) = listeners.iter().find(|l| l.tls_pem.is_none()) {
                return Err(ConfigError(format!(
                    "kaudit.auth.client_ca: client certificates need TLS, but the listener from {} on {} is plain HTTP",
                    l.origin, l.addr
                )));
            }
        }

        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = match r.usize_or(root, "kaudit.workers", 0)? {
            0 => cores,
            n => n,
        };
        // Half the cores by default: parsing is about 40% of an event's cost, so more parses at once than
        // the workers can take only fill the queue (memory, 503s) and take cores from evaluation
        // (bench/README.md, "issue 14, sixth pass").
        let parse_concurrency = match r.usize_or(root, "kaudit.parse_concurrency", 0)? {
            0 => (cores / 2).max(1),
            n => n,
        };
        let pipeline = PipelineConfig {
            workers,
            parse_concurrency,
            queue_capacity: r.usize_or(root, "kaudit.queue_capacity", 4_096)?.max(1),
            retry_after_seconds: r.usize_or(root, "kaudit.retry_after_seconds", 1)? as u64,
        };
        let conn = limits::read(&mut r, root)?;
        if limits.max_batch_size > conn.max_body_bytes_per_address {
            r.warn(format!(
                "kaudit.max_body_bytes_per_address ({}) is smaller than the largest request body ({}): larger bodies get 413",
                conn.max_body_bytes_per_address, limits.max_batch_size
            ));
        }
        let outputs = outputs::read_outputs(&mut r, root)?;
        let shutdown_timeout =
            Duration::from_millis(r.usize_or(root, "kaudit.shutdown_timeout_ms", 30_000)? as u64);
        let log_level = r.str_or(root, "kaudit.log_level", "info")?;
        if !["error", "warn", "info", "debug", "trace"].contains(&log_level.as_str()) {
            return Err(ConfigError(format!(
                "kaudit.log_level: expected error, warn, info, debug or trace, found '{log_level}'"
            )));
        }
        Ok(ServeConfig {
            settings,
            rules_files,
            watch_config_files,
            listeners,
            limits,
            outputs,
            auth,
            pipeline,
            shutdown_timeout,
            conn,
            log_level,
            sources,
            warnings: r.warnings,
        })
    }
}

/// Deep merge: maps merge key by key, anything else is replaced.
fn merge(base: &mut Node, over: Node) {
    match (base, over) {
        (Node::Map(be), Node::Map(oe)) => {
            for (k, v) in oe {
                match be.iter_mut().rev().find(|(bk, _)| *bk == k) {
                    Some((_, bv)) => merge(bv, v),
                    None => be.push((k, v)),
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// The keys `Settings` owns, fed through its own setter so both `replay -o` and falco.yaml agree.
fn read_settings(root: &Node) -> Result<Settings, ConfigError> {
    use kaudit_engine::settings::{PathSeg, RuleSelection};
    let mut s = Settings::default();
    for &key in read::SETTINGS_KEYS {
        match root.child(key) {
            None | Some(Node::Null) => {}
            Some(Node::Scalar(v)) => {
                s.set(&[PathSeg::Key(key.to_string())], v)
                    .map_err(|m| ConfigError(format!("{key}: {m}")))?;
            }
            Some(_) => return Err(ConfigError(format!("{key}: expected a scalar value"))),
        }
    }
    match root.child("rules") {
        None | Some(Node::Null) => {}
        Some(Node::Seq(items)) => {
            for (i, item) in items.iter().enumerate() {
                let at = format!("rules[{i}]");
                let (op, body) = match item.entries() {
                    [(op, body)] => (op.as_str(), body),
                    _ => {
                        return Err(ConfigError(format!(
                            "{at}: expected one 'enable:' or 'disable:' key"
                        )))
                    }
                };
                let enable = match op {
                    "enable" => true,
                    "disable" => false,
                    _ => {
                        return Err(ConfigError(format!(
                            "{at}: expected 'enable' or 'disable', found '{op}'"
                        )))
                    }
                };
                let text = |k: &str| match body.child(k) {
                    Some(Node::Scalar(v)) => Ok(Some(v.clone())),
                    None | Some(Node::Null) => Ok(None),
                    Some(_) => Err(ConfigError(format!("{at}.{op}.{k}: expected a string"))),
                };
                let sel = RuleSelection {
                    enable,
                    rule: text("rule")?,
                    tag: text("tag")?,
                };
                if sel.rule.is_none() && sel.tag.is_none() {
                    return Err(ConfigError(format!("{at}.{op}: expected 'rule' or 'tag'")));
                }
                s.push_selection(sel);
            }
        }
        Some(_) => return Err(ConfigError("rules: expected a sequence".into())),
    }
    Ok(s)
}

/// The webhook listeners. `has_sources`: pull sources are configured, so no listener is needed.
fn read_listeners(
    r: &mut read::Reader,
    root: &Node,
    limits: &mut IngestLimits,
    has_sources: bool,
) -> Result<Vec<ListenerConfig>, ConfigError> {
    let mut listeners: Vec<ListenerConfig> = Vec::new();
    let ws = root.child("webserver").cloned().unwrap_or_default();
    r.check_keys(
        &ws,
        "webserver.",
        read::WEBSERVER_KEYS,
        read::IGNORED_WEBSERVER_KEYS,
    );
    let healthz = r.str_or(root, "webserver.k8s_healthz_endpoint", "/healthz")?;
    if r.bool_or(root, "webserver.enabled", true)? {
        let ip = r.str_or(root, "webserver.listen_address", "0.0.0.0")?;
        let ip: IpAddr = ip.parse().map_err(|_| {
            ConfigError(format!(
                "webserver.listen_address: '{ip}' is not an IP address"
            ))
        })?;
        let port = r.port(root, "webserver.listen_port", 8765)?;
        let endpoint = r.str_or(root, "webserver.k8s_audit_endpoint", "")?;
        let audit_paths = if endpoint.is_empty() {
            vec!["/k8s_audit".to_string(), "/k8s-audit".to_string()]
        } else if endpoint.starts_with('/') {
            vec![endpoint]
        } else {
            return Err(ConfigError(format!(
                "webserver.k8s_audit_endpoint: '{endpoint}' must start with '/'"
            )));
        };
        let tls_pem = if r.bool_or(root, "webserver.ssl_enabled", false)? {
            Some(PathBuf::from(r.str_or(
                root,
                "webserver.ssl_certificate",
                "/etc/falco/falco.pem",
            )?))
        } else {
            None
        };
        listeners.push(ListenerConfig {
            addr: SocketAddr::new(ip, port),
            audit_paths,
            healthz_path: healthz.clone(),
            tls_pem,
            origin: "webserver".into(),
        });
    }

    let load_plugins = r.str_list(root, "load_plugins")?;
    let plugins = match root.child("plugins") {
        None | Some(Node::Null) => Vec::new(),
        Some(Node::Seq(items)) => items.clone(),
        Some(_) => return Err(ConfigError("plugins: expected a sequence".into())),
    };
    for (i, p) in plugins.iter().enumerate() {
        let at = format!("plugins[{i}]");
        r.check_keys(
            p,
            &format!("{at}."),
            &["name", "library_path", "init_config", "open_params"],
            &[],
        );
        let name = match p.child("name") {
            Some(Node::Scalar(n)) => n.clone(),
            _ => return Err(ConfigError(format!("{at}.name: expected a string"))),
        };
        if !load_plugins.is_empty() && !load_plugins.contains(&name) {
            continue;
        }
        match name.as_str() {
            "k8saudit" => {}
            "json" => continue,
            // Pull sources: read by `sources::read_sources`.
            cloud if sources::CLOUD_PLUGINS.contains(&cloud) => continue,
            other => {
                r.warn(format!(
                    "{at}: plugin '{other}' is not supported by kaudit and is ignored"
                ));
                continue;
            }
        }
        let init = read::init_config(p.child("init_config"), &format!("{at}.init_config"))?;
        if let Some(n) = init.max_event_size {
            limits.max_event_size = n;
        }
        if let Some(n) = init.max_batch_size {
            limits.max_batch_size = n;
        }
        let open = match p.child("open_params") {
            Some(Node::Scalar(s)) => s.trim().to_string(),
            None | Some(Node::Null) => String::new(),
            Some(_) => return Err(ConfigError(format!("{at}.open_params: expected a string"))),
        };
        if sources::file_path(&open).is_some() {
            // A file to follow: a pull source, not a listener.
            continue;
        }
        let (tls, addr, path) =
            parse_open_params(&open).map_err(|m| ConfigError(format!("{at}.open_params: {m}")))?;
        let tls_pem = tls.then(|| {
            PathBuf::from(
                init.ssl_certificate
                    .clone()
                    .unwrap_or("/etc/falco/falco.pem".into()),
            )
        });
        match listeners.iter_mut().find(|l| l.addr == addr) {
            Some(l) if l.tls_pem == tls_pem => {
                if !l.audit_paths.contains(&path) {
                    l.audit_paths.push(path);
                }
            }
            Some(l) => {
                return Err(ConfigError(format!(
                    "{at}.open_params: {addr} is also used by {} with different TLS settings",
                    l.origin
                )))
            }
            None => listeners.push(ListenerConfig {
                addr,
                audit_paths: vec![path],
                healthz_path: healthz.clone(),
                tls_pem,
                origin: at,
            }),
        }
    }
    if listeners.is_empty() && !has_sources {
        return Err(ConfigError(
            "no audit endpoint: enable webserver, or configure a k8saudit plugin with an http(s) or file:// open_params, or a cloud plugin".into(),
        ));
    }
    Ok(listeners)
}

/// `http://<host>:<port>/<path>` or `https://...`; an empty host means all interfaces.
pub fn parse_open_params(open: &str) -> Result<(bool, SocketAddr, String), String> {
    let (tls, rest) = if let Some(r) = open.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = open.strip_prefix("https://") {
        (true, r)
    } else {
        return Err(format!(
            "'{open}': kaudit serve takes an http:// or https:// webhook address, or file:///path/to/audit.log to follow a file"
        ));
    };
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = hostport
        .rsplit_once(':')
        .ok_or_else(|| format!("'{open}': missing port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("'{open}': bad port '{port}'"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = if host.is_empty() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else if host == "localhost" {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.parse().map_err(|_| {
            format!("'{open}': host '{host}' must be an IP address, 'localhost' or empty")
        })?
    };
    Ok((tls, SocketAddr::new(ip, port), path.to_string()))
}

fn read_auth(r: &mut read::Reader, root: &Node) -> Result<AuthConfig, ConfigError> {
    let inline = r.str_or(root, "kaudit.auth.bearer_token", "")?;
    let file = r.str_or(root, "kaudit.auth.bearer_token_file", "")?;
    let bearer_token = match (inline.is_empty(), file.is_empty()) {
        (true, true) => None,
        (false, true) => Some(inline),
        (true, false) => {
            let t = std::fs::read_to_string(&file).map_err(|e| {
                ConfigError(format!(
                    "kaudit.auth.bearer_token_file: cannot read {file}: {e}"
                ))
            })?;
            let t = t.trim().to_string();
            if t.is_empty() {
                return Err(ConfigError(format!(
                    "kaudit.auth.bearer_token_file: {file} is empty"
                )));
            }
            Some(t)
        }
        (false, false) => {
            return Err(ConfigError(
                "kaudit.auth: set bearer_token or bearer_token_file, not both".into(),
            ))
        }
    };
    let ca = r.str_or(root, "kaudit.auth.client_ca", "")?;
    Ok(AuthConfig {
        bearer_token,
        client_ca: (!ca.is_empty()).then(|| PathBuf::from(ca)),
    })
}

#[cfg(test)]
mod tests;
