//! Typed reads of configuration keys (errors name the key) and the lists of keys kaudit knows.

use super::tree::{ConfigError, Node};
use kaudit_engine::settings::parse_bool;

/// Top-level scalar keys that `Settings` owns (set through its own setter).
pub const SETTINGS_KEYS: &[&str] = &[
    "priority",
    "rule_matching",
    "json_output",
    "json_include_output_property",
    "json_include_tags_property",
    "json_include_message_property",
    "json_include_output_fields_property",
    "time_format_iso_8601",
];

/// The other top-level keys kaudit reads.
pub const OTHER_TOP_LEVEL_KEYS: &[&str] = &[
    "rules_files",
    "rules",
    "watch_config_files",
    "buffered_outputs",
    "stdout_output",
    "file_output",
    "program_output",
    "http_output",
    "syslog_output",
    "outputs_queue",
    "webserver",
    "plugins",
    "load_plugins",
    "kaudit",
];

/// Falco keys that exist but mean nothing for a Kubernetes-audit webhook: accepted without a warning so
/// an existing falco.yaml can be used as is.
pub const IGNORED_FALCO_KEYS: &[&str] = &[
    "rules_file",
    "config_files",
    "engine",
    "log_stderr",
    "log_syslog",
    "log_level",
    "libs_logger",
    "grpc",
    "grpc_output",
    "metrics",
    "base_syscalls",
    "falco_libs",
    "syscall_event_drops",
    "syscall_event_timeouts",
    "syscall_buf_size_preset",
    "syscall_drop_failed_exit",
    "modern_bpf",
    "output_timeout",
    "outputs",
    "static_fields",
    "append_output",
    "container_engines",
    "container",
    "capture",
    "plugins_hostinfo",
];

pub const KAUDIT_KEYS: &[&str] = &[
    "workers",
    "parse_concurrency",
    "queue_capacity",
    "output_queue_capacity",
    "output_queue_policy",
    "raw_text_output",
    "retry_after_seconds",
    "max_event_size",
    "max_batch_size",
    "shutdown_timeout_ms",
    "log_level",
    "auth",
    "state_dir",
    "source_unhealthy_after_ms",
];

pub const WEBSERVER_KEYS: &[&str] = &[
    "enabled",
    "listen_address",
    "listen_port",
    "k8s_audit_endpoint",
    "k8s_healthz_endpoint",
    "ssl_enabled",
    "ssl_certificate",
];

pub const IGNORED_WEBSERVER_KEYS: &[&str] = &["threadiness", "prometheus_metrics_enabled"];

/// Collects warnings while reading.
#[derive(Default)]
pub struct Reader {
    pub warnings: Vec<String>,
}

impl Reader {
    pub fn warn(&mut self, w: String) {
        self.warnings.push(w);
    }

    /// Warns about map keys that are neither `known` nor `ignored`.
    pub fn check_keys(&mut self, node: &Node, prefix: &str, known: &[&str], ignored: &[&str]) {
        for (k, _) in node.entries() {
            if !known.contains(&k.as_str()) && !ignored.contains(&k.as_str()) {
                self.warn(format!("unknown configuration key '{prefix}{k}' (ignored)"));
            }
        }
    }

    fn scalar<'n>(
        &self,
        root: &'n Node,
        key: &str,
        want: &str,
    ) -> Result<Option<&'n str>, ConfigError> {
        match root.get(key) {
            None | Some(Node::Null) => Ok(None),
            Some(Node::Scalar(s)) => Ok(Some(s)),
            Some(_) => Err(ConfigError(format!(
                "{key}: expected {want}, found a map or sequence"
            ))),
        }
    }

    pub fn bool_or(&self, root: &Node, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.scalar(root, key, "a boolean")? {
            None => Ok(default),
            Some(s) => parse_bool(s)
                .ok_or_else(|| ConfigError(format!("{key}: expected a boolean, found '{s}'"))),
        }
    }

    pub fn usize_or(&self, root: &Node, key: &str, default: usize) -> Result<usize, ConfigError> {
        match self.scalar(root, key, "a non-negative integer")? {
            None => Ok(default),
            Some(s) => s.trim().parse::<usize>().map_err(|_| {
                ConfigError(format!(
                    "{key}: expected a non-negative integer, found '{s}'"
                ))
            }),
        }
    }

    pub fn port(&self, root: &Node, key: &str, default: u16) -> Result<u16, ConfigError> {
        match self.scalar(root, key, "a port number")? {
            None => Ok(default),
            Some(s) => s
                .trim()
                .parse::<u16>()
                .map_err(|_| ConfigError(format!("{key}: expected a port number, found '{s}'"))),
        }
    }

    pub fn str_or(&self, root: &Node, key: &str, default: &str) -> Result<String, ConfigError> {
        Ok(self
            .scalar(root, key, "a string")?
            .unwrap_or(default)
            .to_string())
    }

    pub fn str_list(&self, root: &Node, key: &str) -> Result<Vec<String>, ConfigError> {
        match root.get(key) {
            None | Some(Node::Null) => Ok(Vec::new()),
            Some(Node::Scalar(s)) => Ok(vec![s.clone()]),
            Some(Node::Seq(items)) => items
                .iter()
                .enumerate()
                .map(|(i, n)| match n {
                    Node::Scalar(s) => Ok(s.clone()),
                    _ => Err(ConfigError(format!("{key}[{i}]: expected a string"))),
                })
                .collect(),
            Some(Node::Map(_)) => Err(ConfigError(format!(
                "{key}: expected a sequence of strings, found a map"
            ))),
        }
    }
}

/// The k8saudit `init_config` keys kaudit uses.
#[derive(Debug, Default)]
pub struct InitConfig {
    pub max_event_size: Option<usize>,
    pub max_batch_size: Option<usize>,
    pub ssl_certificate: Option<String>,
}

/// `init_config` as a map node: a YAML map, or a JSON string holding an object
/// (docs/semantics.md#plugin-configuration); `Node::Null` when absent or empty.
pub fn init_config_node(node: Option<&Node>, at: &str) -> Result<Node, ConfigError> {
    let map = match node {
        None | Some(Node::Null) => return Ok(Node::Null),
        Some(Node::Map(_)) => node.cloned().unwrap_or_default(),
        Some(Node::Scalar(s)) if s.trim().is_empty() => return Ok(Node::Null),
        Some(Node::Scalar(s)) => json_to_node(
            &serde_json::from_str::<serde_json::Value>(s)
                .map_err(|e| ConfigError(format!("{at}: not a JSON object: {e}")))?,
        ),
        Some(Node::Seq(_)) => {
            return Err(ConfigError(format!(
                "{at}: expected a map or a JSON string"
            )))
        }
    };
    if !matches!(map, Node::Map(_)) {
        return Err(ConfigError(format!(
            "{at}: expected a map or a JSON object"
        )));
    }
    Ok(map)
}

/// `init_config` is a YAML map or a JSON string (docs/semantics.md#plugin-configuration); unknown keys
/// are allowed.
pub fn init_config(node: Option<&Node>, at: &str) -> Result<InitConfig, ConfigError> {
    let map = init_config_node(node, at)?;
    if map == Node::Null {
        return Ok(InitConfig::default());
    }
    let r = Reader::default();
    let size = |k: &str| -> Result<Option<usize>, ConfigError> {
        match map.child(k) {
            None => Ok(None),
            Some(_) => r
                .usize_or(&map, k, 0)
                .map(Some)
                .map_err(|e| ConfigError(format!("{at}.{}", e.0))),
        }
    };
    Ok(InitConfig {
        max_event_size: size("maxEventSize")?,
        max_batch_size: size("webhookMaxBatchSize")?,
        ssl_certificate: match map.child("sslCertificate") {
            None | Some(Node::Null) => None,
            Some(Node::Scalar(s)) => Some(s.clone()),
            Some(_) => {
                return Err(ConfigError(format!(
                    "{at}.sslCertificate: expected a string"
                )))
            }
        },
    })
}

fn json_to_node(v: &serde_json::Value) -> Node {
    use serde_json::Value;
    match v {
        Value::Null => Node::Null,
        Value::Bool(b) => Node::Scalar(b.to_string()),
        Value::Number(n) => Node::Scalar(n.to_string()),
        Value::String(s) => Node::Scalar(s.clone()),
        Value::Array(a) => Node::Seq(a.iter().map(json_to_node).collect()),
        Value::Object(o) => Node::Map(
            o.iter()
                .map(|(k, v)| (k.clone(), json_to_node(v)))
                .collect(),
        ),
    }
}
