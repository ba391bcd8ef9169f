//! The output keys: Falco's `*_output` sections, `buffered_outputs`, `outputs_queue`, and kaudit's
//! `kaudit.output_queue_*` (one queue and thread per output, see `outputs::fanout`).

use super::read::Reader;
use super::tree::{ConfigError, Node};
use crate::outputs::fanout::QueueSettings;
use crate::outputs::queue::FullPolicy;
use std::path::PathBuf;
use std::time::Duration;

/// Alerts each output may hold when neither `outputs_queue.capacity` nor
/// `kaudit.output_queue_capacity` says otherwise.
pub const DEFAULT_OUTPUT_QUEUE_CAPACITY: usize = 4096;

/// Keys of each output section (unknown ones are warned about).
pub const OUTPUT_SECTIONS: &[(&str, &[&str])] = &[
    ("stdout_output", &["enabled"]),
    ("syslog_output", &["enabled"]),
    ("file_output", &["enabled", "keep_alive", "filename"]),
    ("program_output", &["enabled", "keep_alive", "program"]),
    (
        "http_output",
        &[
            "enabled",
            "url",
            "user_agent",
            "insecure",
            "ca_cert",
            "ca_bundle",
            "ca_path",
            "mtls",
            "client_cert",
            "client_key",
            "compress_uploads",
            "keep_alive",
            "max_consecutive_timeouts",
            "timeout_ms",
            "max_retries",
            "buffer_size",
        ],
    ),
    ("outputs_queue", &["capacity"]),
];

/// Falco output keys kaudit accepts and does not use.
pub const IGNORED_OUTPUT_KEYS: &[&str] = &["echo"];

#[derive(Debug, Clone, PartialEq)]
pub struct OutputsConfig {
    /// `buffered_outputs`: when false every alert is flushed as it is written.
    pub buffered: bool,
    pub stdout: bool,
    /// `syslog_output.enabled`: alerts to the local syslog socket.
    pub syslog: bool,
    pub file: Option<FileOutputConfig>,
    pub program: Option<ProgramOutputConfig>,
    pub http: Option<HttpOutputConfig>,
    /// Per-output queue capacity: `outputs_queue.capacity` when not 0, else
    /// `kaudit.output_queue_capacity`.
    pub queue_capacity: usize,
    /// `kaudit.output_queue_policy`: `drop` (default) or `block`.
    pub queue_policy: FullPolicy,
}

impl Default for OutputsConfig {
    fn default() -> Self {
        OutputsConfig {
            buffered: false,
            stdout: true,
            syslog: false,
            file: None,
            program: None,
            http: None,
            queue_capacity: DEFAULT_OUTPUT_QUEUE_CAPACITY,
            queue_policy: FullPolicy::Drop,
        }
    }
}

impl OutputsConfig {
    pub fn queue_settings(&self) -> QueueSettings {
        QueueSettings {
            capacity: self.queue_capacity,
            policy: self.queue_policy,
            buffered: self.buffered,
        }
    }

    /// Outputs whose queue capacity is set by their own key (`http_output.buffer_size`).
    pub fn queue_capacities(&self) -> Vec<(&'static str, usize)> {
        self.http
            .iter()
            .filter_map(|h| h.buffer_size.map(|n| ("http", n)))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FileOutputConfig {
    pub filename: PathBuf,
    pub keep_alive: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProgramOutputConfig {
    /// Run with `sh -c`.
    pub program: String,
    pub keep_alive: bool,
}

/// Where the roots that verify an https receiver come from (libcurl's order in Falco).
#[derive(Debug, Clone, PartialEq)]
pub enum HttpCa {
    /// `ca_cert` or `ca_bundle` (the key's name, for messages): one PEM file.
    File { key: &'static str, path: PathBuf },
    /// `ca_path`: a directory of PEM files.
    Dir(PathBuf),
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpOutputConfig {
    pub url: String,
    pub user_agent: String,
    /// kaudit: per-POST timeout.
    pub timeout: Duration,
    /// kaudit: retries after a connection error, 5xx, 408 or 429.
    pub max_retries: u32,
    /// Falco: retries after a timed-out POST.
    pub max_consecutive_timeouts: u32,
    /// kaudit: this output's queue capacity (default: the common one).
    pub buffer_size: Option<usize>,
    /// `insecure`: skip server certificate verification (https only).
    pub insecure: bool,
    pub ca: HttpCa,
    /// `mtls`: the client certificate and key files.
    pub mtls: Option<(PathBuf, PathBuf)>,
    /// `keep_alive`: TCP keep-alive probes on the connections.
    pub keep_alive: bool,
    /// `compress_uploads`: accepted; see `outputs::http` for why it changes nothing.
    pub compress_uploads: bool,
}

impl HttpOutputConfig {
    /// Falco's defaults for `url`.
    pub fn for_url(url: &str) -> HttpOutputConfig {
        HttpOutputConfig {
            url: url.to_string(),
            user_agent: "falcosecurity/falco".into(),
            timeout: Duration::from_millis(5000),
            max_retries: 3,
            max_consecutive_timeouts: 5,
            buffer_size: None,
            insecure: false,
            ca: HttpCa::Dir(PathBuf::from("/etc/ssl/certs")),
            mtls: None,
            keep_alive: false,
            compress_uploads: false,
        }
    }
}

pub fn read_outputs(r: &mut Reader, root: &Node) -> Result<OutputsConfig, ConfigError> {
    for (section, keys) in OUTPUT_SECTIONS {
        if let Some(n) = root.child(section) {
            r.check_keys(n, &format!("{section}."), keys, IGNORED_OUTPUT_KEYS);
        }
    }
    let file = if r.bool_or(root, "file_output.enabled", false)? {
        Some(FileOutputConfig {
            filename: PathBuf::from(r.str_or(root, "file_output.filename", "./events.txt")?),
            keep_alive: r.bool_or(root, "file_output.keep_alive", false)?,
        })
    } else {
        None
    };
    let program = if r.bool_or(root, "program_output.enabled", false)? {
        Some(ProgramOutputConfig {
            program: r.str_or(root, "program_output.program", "cat")?,
            keep_alive: r.bool_or(root, "program_output.keep_alive", false)?,
        })
    } else {
        None
    };
    let http = if r.bool_or(root, "http_output.enabled", false)? {
        Some(read_http(r, root)?)
    } else {
        None
    };
    let queue_capacity = match r.usize_or(root, "outputs_queue.capacity", 0)? {
        // Falco's 0 means unbounded; kaudit always bounds the queues.
        0 => r
            .usize_or(
                root,
                "kaudit.output_queue_capacity",
                DEFAULT_OUTPUT_QUEUE_CAPACITY,
            )?
            .max(1),
        n => n,
    };
    let queue_policy = match r
        .str_or(root, "kaudit.output_queue_policy", "drop")?
        .as_str()
    {
        "drop" => FullPolicy::Drop,
        "block" => FullPolicy::Block,
        other => {
            return Err(ConfigError(format!(
                "kaudit.output_queue_policy: expected drop or block, found '{other}'"
            )))
        }
    };
    Ok(OutputsConfig {
        buffered: r.bool_or(root, "buffered_outputs", false)?,
        stdout: r.bool_or(root, "stdout_output.enabled", true)?,
        syslog: r.bool_or(root, "syslog_output.enabled", false)?,
        file,
        program,
        http,
        queue_capacity,
        queue_policy,
    })
}

fn read_http(r: &mut Reader, root: &Node) -> Result<HttpOutputConfig, ConfigError> {
    let d = HttpOutputConfig::for_url("");
    let url = r.str_or(root, "http_output.url", "")?;
    let unquoted = url.trim_matches(|c| c == '"' || c == '\'');
    if !(unquoted.starts_with("http://") || unquoted.starts_with("https://")) {
        return Err(ConfigError(format!(
            "http_output.url: expected an http:// or https:// URL, found '{url}'"
        )));
    }
    let path = |r: &mut Reader, key: &str, default: &str| -> Result<PathBuf, ConfigError> {
        Ok(PathBuf::from(r.str_or(root, key, default)?))
    };
    let ca_cert = r.str_or(root, "http_output.ca_cert", "")?;
    let ca_bundle = r.str_or(root, "http_output.ca_bundle", "")?;
    let ca = if !ca_cert.is_empty() {
        HttpCa::File {
            key: "ca_cert",
            path: ca_cert.into(),
        }
    } else if !ca_bundle.is_empty() {
        HttpCa::File {
            key: "ca_bundle",
            path: ca_bundle.into(),
        }
    } else {
        HttpCa::Dir(path(r, "http_output.ca_path", "/etc/ssl/certs")?)
    };
    let mtls = if r.bool_or(root, "http_output.mtls", false)? {
        Some((
            path(r, "http_output.client_cert", "/etc/ssl/certs/client.crt")?,
            path(r, "http_output.client_key", "/etc/ssl/certs/client.key")?,
        ))
    } else {
        None
    };
    let buffer_size = match root.get("http_output.buffer_size") {
        None | Some(Node::Null) => None,
        Some(_) => Some(r.usize_or(root, "http_output.buffer_size", 1)?.max(1)),
    };
    let n = |r: &mut Reader, key: &str, default: u32| -> Result<u32, ConfigError> {
        Ok(u32::try_from(r.usize_or(root, key, default as usize)?).unwrap_or(u32::MAX))
    };
    Ok(HttpOutputConfig {
        url,
        user_agent: r.str_or(root, "http_output.user_agent", &d.user_agent)?,
        timeout: Duration::from_millis(
            r.usize_or(root, "http_output.timeout_ms", 5000)?.max(1) as u64
        ),
        max_retries: n(r, "http_output.max_retries", d.max_retries)?,
        max_consecutive_timeouts: n(
            r,
            "http_output.max_consecutive_timeouts",
            d.max_consecutive_timeouts,
        )?,
        buffer_size,
        insecure: r.bool_or(root, "http_output.insecure", false)?,
        ca,
        mtls,
        keep_alive: r.bool_or(root, "http_output.keep_alive", false)?,
        compress_uploads: r.bool_or(root, "http_output.compress_uploads", false)?,
    })
}
