//! The `k8saudit-eks` plugin entry of falco.yaml, read with the plugin's keys and defaults
//! (falcosecurity/plugins, plugins/k8saudit-eks): `open_params` is the cluster name, `init_config` holds
//! `region`, `profile`, `shift`, `polling_interval`, `buffer_size`, `use_async` and `max_event_size`.
//! Compiled in every build (see `crate::cloud`).

use crate::config::read::Reader;
use crate::config::sources::CloudPluginConfig;
use crate::config::ConfigError;
use std::time::Duration;

/// The plugin's name in `plugins[].name` and `load_plugins`.
pub const PLUGIN_NAME: &str = "k8saudit-eks";

/// The EKS control plane writes audit events to this stream-name prefix of the cluster's log group.
pub const STREAM_PREFIX: &str = "kube-apiserver-audit";

const KEYS: &[&str] = &[
    "region",
    "profile",
    "shift",
    "polling_interval",
    "buffer_size",
    "max_event_size",
];
/// Accepted for compatibility, meaningless here (kaudit has no asynchronous field extraction).
const IGNORED_KEYS: &[&str] = &["use_async"];

#[derive(Debug, Clone, PartialEq)]
pub struct EksConfig {
    /// Where this entry came from (`plugins[N]`), for messages.
    pub origin: String,
    pub cluster: String,
    /// `region`; unset = the SDK's chain (`AWS_REGION`, the profile's region, IMDS).
    pub region: Option<String>,
    /// `profile`; unset = `AWS_PROFILE` or `default`.
    pub profile: Option<String>,
    /// `shift` (seconds, default 1): how far before "now" the very first poll starts, and how far
    /// before the newest position every later poll starts again, so late-ingested events are seen.
    pub shift: Duration,
    /// `polling_interval` (seconds, default 5): the pause between polls that reached the end.
    pub polling_interval: Duration,
    /// `buffer_size` (default 200): the most events handed to the engines in one batch.
    pub buffer_size: usize,
    /// `max_event_size` (default 262144): larger log messages are dropped and counted.
    pub max_event_size: usize,
}

impl EksConfig {
    /// The CloudWatch log group EKS writes the control-plane logs of `cluster` to.
    pub fn log_group(&self) -> String {
        format!("/aws/eks/{}/cluster", self.cluster)
    }

    /// Reads one `plugins[N]` entry whose name is `k8saudit-eks`.
    pub fn from_entry(r: &mut Reader, c: &CloudPluginConfig) -> Result<EksConfig, ConfigError> {
        let at = &c.origin;
        let cluster = c.open_params.trim().to_string();
        if cluster.is_empty() {
            return Err(ConfigError(format!(
                "{at}.open_params: the EKS cluster name is required (e.g. open_params: \"my-cluster\")"
            )));
        }
        // A cluster name is 1-100 of [A-Za-z0-9_-]; anything else cannot name a log group.
        if cluster.len() > 100
            || !cluster
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ConfigError(format!(
                "{at}.open_params: '{cluster}' is not an EKS cluster name (letters, digits, '-' and '_')"
            )));
        }
        let at_init = format!("{at}.init_config");
        let init = &c.init_config;
        r.check_keys(init, &format!("{at_init}."), KEYS, IGNORED_KEYS);
        let key_err = |e: ConfigError| ConfigError(format!("{at_init}.{}", e.0));
        let text = |k: &str| -> Result<Option<String>, ConfigError> {
            let s = r.str_or(init, k, "").map_err(key_err)?;
            Ok((!s.trim().is_empty()).then(|| s.trim().to_string()))
        };
        // Zero means "default" in the plugin, as an unset key does.
        let nonzero = |k: &str, default: usize| -> Result<usize, ConfigError> {
            match r.usize_or(init, k, 0).map_err(key_err)? {
                0 => Ok(default),
                n => Ok(n),
            }
        };
        let seconds = |k: &str, default: u64| -> Result<Duration, ConfigError> {
            let n = nonzero(k, default as usize)? as u64;
            // Beyond a day is certainly a unit mistake (the values are seconds).
            if n > 86_400 {
                return Err(ConfigError(format!(
                    "{at_init}.{k}: {n} seconds is more than a day; the value is in seconds"
                )));
            }
            Ok(Duration::from_secs(n))
        };
        Ok(EksConfig {
            origin: at.clone(),
            cluster,
            region: text("region")?,
            profile: text("profile")?,
            shift: seconds("shift", 1)?,
            polling_interval: seconds("polling_interval", 5)?,
            buffer_size: nonzero("buffer_size", 200)?.min(10_000),
            max_event_size: nonzero("max_event_size", 262_144)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(yaml: &str) -> (Result<EksConfig, ConfigError>, Vec<String>) {
        crate::cloud::tests::read(yaml, EksConfig::from_entry)
    }

    #[test]
    fn the_plugin_defaults_apply() {
        let (c, w) = read("name: k8saudit-eks\nopen_params: prod-1\n");
        let c = c.unwrap();
        assert!(w.is_empty());
        assert_eq!(c.cluster, "prod-1");
        assert_eq!(c.log_group(), "/aws/eks/prod-1/cluster");
        assert_eq!(c.shift, Duration::from_secs(1));
        assert_eq!(c.polling_interval, Duration::from_secs(5));
        assert_eq!(c.buffer_size, 200);
        assert_eq!(c.max_event_size, 262_144);
        assert_eq!((c.region, c.profile), (None, None));
    }

    #[test]
    fn the_readme_example_reads() {
        let (c, w) = read(
            "name: k8saudit-eks\nlibrary_path: libk8saudit-eks.so\ninit_config:\n  region: \"us-east-1\"\n  profile: \"default\"\n  shift: 10\n  polling_interval: 10\n  use_async: false\n  buffer_size: 500\nopen_params: \"my-cluster\"\n",
        );
        let c = c.unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.region.as_deref(), Some("us-east-1"));
        assert_eq!(c.profile.as_deref(), Some("default"));
        assert_eq!(c.shift, Duration::from_secs(10));
        assert_eq!(c.polling_interval, Duration::from_secs(10));
        assert_eq!(c.buffer_size, 500);
    }

    #[test]
    fn init_config_may_be_a_json_string() {
        let (c, _) = read(
            "name: k8saudit-eks\nopen_params: c\ninit_config: '{\"region\":\"eu-west-1\",\"shift\":0}'\n",
        );
        let c = c.unwrap();
        assert_eq!(c.region.as_deref(), Some("eu-west-1"));
        assert_eq!(c.shift, Duration::from_secs(1), "0 means the default");
    }

    #[test]
    fn bad_entries_are_errors_naming_the_key() {
        let (c, _) = read("name: k8saudit-eks\n");
        assert!(c.unwrap_err().0.contains("plugins[0].open_params"));
        let (c, _) = read("name: k8saudit-eks\nopen_params: 'a/b'\n");
        assert!(c.unwrap_err().0.contains("not an EKS cluster name"));
        let (c, _) = read("name: k8saudit-eks\nopen_params: c\ninit_config: {shift: soon}\n");
        assert!(c.unwrap_err().0.contains("plugins[0].init_config.shift"));
        let (c, _) =
            read("name: k8saudit-eks\nopen_params: c\ninit_config: {polling_interval: 5000000}\n");
        assert!(c.unwrap_err().0.contains("in seconds"));
        let (_, w) = read("name: k8saudit-eks\nopen_params: c\ninit_config: {regoin: x}\n");
        assert_eq!(
            w,
            ["unknown configuration key 'plugins[0].init_config.regoin' (ignored)"]
        );
    }
}
