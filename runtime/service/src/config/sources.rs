//! Configuration of the pull sources: Falco-style plugin entries that are not webhook listeners
//! (`k8saudit` with a `file://` open_params, the cloud plugins `k8saudit-eks`, `k8saudit-gke`,
//! `k8saudit-aks`), and `kaudit.state_dir` / `kaudit.source_unhealthy_after_ms`.

use super::read::{self, Reader};
use super::tree::{ConfigError, Node};
use std::path::PathBuf;
use std::time::Duration;

/// The cloud plugins kaudit reads the configuration of (their sources live in `crate::sources`).
pub const CLOUD_PLUGINS: &[&str] = &["k8saudit-eks", "k8saudit-gke", "k8saudit-aks"];

/// Pull sources and where they keep their positions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourcesConfig {
    /// `kaudit.state_dir`: where sources save checkpoints; `None` = positions are not saved.
    pub state_dir: Option<PathBuf>,
    /// `/healthz` answers 503 while a source has been failing for longer than this.
    pub unhealthy_after: Duration,
    /// Files to follow (`k8saudit` with `open_params: file://PATH`).
    pub files: Vec<FileSourceConfig>,
    /// Cloud plugin entries, as written (read by their sources).
    pub cloud: Vec<CloudPluginConfig>,
}

impl SourcesConfig {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.cloud.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FileSourceConfig {
    pub path: PathBuf,
    /// `plugins[N]`, for messages.
    pub origin: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CloudPluginConfig {
    /// `k8saudit-eks`, `k8saudit-gke` or `k8saudit-aks`.
    pub name: String,
    pub open_params: String,
    /// `init_config` as a map (a JSON-string init_config is converted), `Node::Null` when absent.
    pub init_config: Node,
    /// `plugins[N]`, for messages.
    pub origin: String,
}

/// Default of `kaudit.source_unhealthy_after_ms`.
const UNHEALTHY_AFTER_MS: usize = 300_000;

/// The path of a `file://` open_params (`file:///var/log/audit.log` → `/var/log/audit.log`).
pub fn file_path(open_params: &str) -> Option<&str> {
    open_params
        .trim()
        .strip_prefix("file://")
        .filter(|p| !p.is_empty())
}

/// Reads the plugin entries that are sources (those in `load_plugins`, when it is set).
pub fn read_sources(r: &mut Reader, root: &Node) -> Result<SourcesConfig, ConfigError> {
    let state_dir = r.str_or(root, "kaudit.state_dir", "")?;
    let unhealthy_ms = r.usize_or(root, "kaudit.source_unhealthy_after_ms", UNHEALTHY_AFTER_MS)?;
    let mut out = SourcesConfig {
        state_dir: (!state_dir.trim().is_empty()).then(|| PathBuf::from(state_dir.trim())),
        unhealthy_after: Duration::from_millis(unhealthy_ms as u64),
        ..SourcesConfig::default()
    };
    let load_plugins = r.str_list(root, "load_plugins")?;
    let Some(Node::Seq(plugins)) = root.child("plugins") else {
        return Ok(out);
    };
    for (i, p) in plugins.iter().enumerate() {
        let origin = format!("plugins[{i}]");
        let Some(Node::Scalar(name)) = p.child("name") else {
            continue;
        };
        if !load_plugins.is_empty() && !load_plugins.contains(name) {
            continue;
        }
        let open = match p.child("open_params") {
            Some(Node::Scalar(s)) => s.trim().to_string(),
            _ => String::new(),
        };
        if name == "k8saudit" {
            if let Some(path) = file_path(&open) {
                out.files.push(FileSourceConfig {
                    path: PathBuf::from(path),
                    origin,
                });
            } else if open.starts_with("file://") {
                return Err(ConfigError(format!(
                    "{origin}.open_params: 'file://' without a path"
                )));
            }
        } else if CLOUD_PLUGINS.contains(&name.as_str()) {
            let init_config =
                read::init_config_node(p.child("init_config"), &format!("{origin}.init_config"))?;
            out.cloud.push(CloudPluginConfig {
                name: name.clone(),
                open_params: open,
                init_config,
                origin,
            });
        }
    }
    Ok(out)
}
