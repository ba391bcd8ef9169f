//! The `k8saudit-gke` plugin entry of falco.yaml, read with the plugin's keys and defaults
//! (falcosecurity/plugins, plugins/k8saudit-gke): `open_params` is the Pub/Sub subscription, `init_config`
//! holds `project_id`, `credentials_file`, `max_outstanding_messages`, `fetch_cluster_metadata`,
//! `cache_expiration` (minutes), `max_event_size`, and the Go client's `num_goroutines` and `use_async`
//! (accepted, meaningless here). Two keys are kaudit's own: `ack_extension` and `max_ack_extension`
//! (seconds), the lease management the plugin gets from Google's Go client (see `gke::lease`).
//! Compiled in every build (see `crate::cloud`).

use crate::config::read::Reader;
use crate::config::sources::CloudPluginConfig;
use crate::config::ConfigError;
use std::path::PathBuf;
use std::time::Duration;

pub const PLUGIN_NAME: &str = "k8saudit-gke";

const KEYS: &[&str] = &[
    "project_id",
    "credentials_file",
    "max_outstanding_messages",
    "fetch_cluster_metadata",
    "cache_expiration",
    "max_event_size",
    "ack_extension",
    "max_ack_extension",
];
const IGNORED_KEYS: &[&str] = &["num_goroutines", "use_async"];

#[derive(Debug, Clone, PartialEq)]
pub struct GkeConfig {
    pub origin: String,
    /// The full subscription name, `projects/<project>/subscriptions/<id>`.
    pub subscription: String,
    /// `credentials_file`; unset = `GOOGLE_APPLICATION_CREDENTIALS`, then the metadata server.
    pub credentials_file: Option<PathBuf>,
    /// Messages asked for per pull (`max_outstanding_messages`, default 1000, at most 1000).
    pub max_messages: usize,
    pub fetch_cluster_metadata: bool,
    /// How long fetched cluster labels are reused (`cache_expiration` minutes, default 10).
    pub cache_expiration: Duration,
    pub max_event_size: usize,
    pub lease: LeaseSettings,
}

/// How messages in flight are leased (`gke::lease`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseSettings {
    /// The deadline each `modifyAckDeadline` asks for (`ack_extension` seconds, 1 to 600, default 10,
    /// the shortest Google's client libraries use). After a crash, messages in flight are delivered
    /// again at most this long later.
    pub extension: Duration,
    /// How long a message is leased in total before it is let go (`max_ack_extension` seconds, default
    /// 3600 like Google's client libraries); zero turns lease management off (the subscription's own ack
    /// deadline applies).
    pub max_total: Duration,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        LeaseSettings {
            extension: Duration::from_secs(10),
            max_total: Duration::from_secs(3600),
        }
    }
}

impl GkeConfig {
    /// Reads one `plugins[N]` entry whose name is `k8saudit-gke`.
    pub fn from_entry(r: &mut Reader, c: &CloudPluginConfig) -> Result<GkeConfig, ConfigError> {
        let at = &c.origin;
        let at_init = format!("{at}.init_config");
        let init = &c.init_config;
        r.check_keys(init, &format!("{at_init}."), KEYS, IGNORED_KEYS);
        let key_err = |e: ConfigError| ConfigError(format!("{at_init}.{}", e.0));
        let project = r.str_or(init, "project_id", "").map_err(key_err)?;
        let project = project.trim();
        let open = c.open_params.trim().to_string();
        let subscription = if open.starts_with("projects/") {
            open.clone()
        } else if open.is_empty() {
            return Err(ConfigError(format!(
                "{at}.open_params: the Pub/Sub subscription is required (its ID, with init_config.project_id)"
            )));
        } else if project.is_empty() {
            return Err(ConfigError(format!(
                "{at_init}.project_id: required with a subscription ID ('{open}'); or give open_params as projects/<project>/subscriptions/<id>"
            )));
        } else {
            format!("projects/{project}/subscriptions/{open}")
        };
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 255
                && s.bytes().all(|b| {
                    b.is_ascii_alphanumeric()
                        || matches!(b, b'-' | b'_' | b'.' | b'~' | b'+' | b'%')
                })
        };
        let parts: Vec<&str> = subscription.split('/').collect();
        let valid = matches!(parts.as_slice(), ["projects", project, "subscriptions", id]
            if name_ok(project) && name_ok(id) && *id != ".." && *project != "..");
        if !valid {
            return Err(ConfigError(format!(
                "{at}.open_params: '{subscription}' is not a subscription name (projects/<project>/subscriptions/<id>)"
            )));
        }
        let credentials = r.str_or(init, "credentials_file", "").map_err(key_err)?;
        let nonzero = |k: &str, default: usize| -> Result<usize, ConfigError> {
            match r.usize_or(init, k, 0).map_err(key_err)? {
                0 => Ok(default),
                n => Ok(n),
            }
        };
        Ok(GkeConfig {
            origin: at.clone(),
            subscription,
            credentials_file: (!credentials.trim().is_empty())
                .then(|| PathBuf::from(credentials.trim())),
            // Pub/Sub returns at most 1000 messages per pull.
            max_messages: nonzero("max_outstanding_messages", 1000)?.min(1000),
            fetch_cluster_metadata: r
                .bool_or(init, "fetch_cluster_metadata", false)
                .map_err(key_err)?,
            cache_expiration: Duration::from_secs(
                60 * nonzero("cache_expiration", 10)?.min(7 * 24 * 60) as u64,
            ),
            max_event_size: nonzero("max_event_size", 262_144)?,
            lease: LeaseSettings {
                // Pub/Sub accepts ack deadlines up to 600 s.
                extension: Duration::from_secs(nonzero("ack_extension", 10)?.min(600) as u64),
                // A week at most, so the sum with the current time cannot overflow.
                max_total: Duration::from_secs(
                    r.usize_or(init, "max_ack_extension", 3600)
                        .map_err(key_err)?
                        .min(7 * 24 * 3600) as u64,
                ),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(yaml: &str) -> (Result<GkeConfig, ConfigError>, Vec<String>) {
        crate::cloud::tests::read(yaml, GkeConfig::from_entry)
    }

    #[test]
    fn the_readme_example_reads_with_defaults() {
        let (c, w) = read(
            "name: k8saudit-gke\nlibrary_path: libk8saudit-gke.so\ninit_config:\n  project_id: \"my-project\"\n  maxEventSize: 8000000\nopen_params: \"falco-audit-sub\"\n",
        );
        let c = c.unwrap();
        assert_eq!(
            c.subscription,
            "projects/my-project/subscriptions/falco-audit-sub"
        );
        assert_eq!(c.max_messages, 1000);
        assert!(!c.fetch_cluster_metadata);
        assert_eq!(c.cache_expiration, Duration::from_secs(600));
        assert_eq!(c.max_event_size, 262_144);
        assert_eq!(
            w,
            ["unknown configuration key 'plugins[0].init_config.maxEventSize' (ignored)"]
        );
    }

    #[test]
    fn keys_and_full_subscription_names() {
        let (c, w) = read(
            "name: k8saudit-gke\nopen_params: projects/p1/subscriptions/s1\ninit_config: {credentials_file: /k/sa.json, fetch_cluster_metadata: true, cache_expiration: 1, num_goroutines: 4, max_outstanding_messages: 50}\n",
        );
        let c = c.unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.subscription, "projects/p1/subscriptions/s1");
        assert_eq!(c.credentials_file, Some(PathBuf::from("/k/sa.json")));
        assert!(c.fetch_cluster_metadata);
        assert_eq!(c.cache_expiration, Duration::from_secs(60));
        assert_eq!(c.max_messages, 50);
        assert_eq!(c.lease, LeaseSettings::default());
    }

    #[test]
    fn lease_keys_are_seconds_within_pub_sub_limits() {
        let (c, w) = read(
            "name: k8saudit-gke\nopen_params: projects/p1/subscriptions/s1\ninit_config: {ack_extension: 900, max_ack_extension: 0}\n",
        );
        assert!(w.is_empty(), "{w:?}");
        let c = c.unwrap();
        assert_eq!(c.lease.extension, Duration::from_secs(600));
        assert!(c.lease.max_total.is_zero(), "0 turns leasing off");
        let (c, _) = read(
            "name: k8saudit-gke\nopen_params: projects/p1/subscriptions/s1\ninit_config: {ack_extension: 5, max_ack_extension: 30}\n",
        );
        let c = c.unwrap();
        assert_eq!(c.lease.extension, Duration::from_secs(5));
        assert_eq!(c.lease.max_total, Duration::from_secs(30));
    }

    #[test]
    fn bad_entries_are_errors() {
        let (c, _) = read("name: k8saudit-gke\nopen_params: s1\n");
        assert!(c.unwrap_err().0.contains("project_id"));
        let (c, _) = read("name: k8saudit-gke\n");
        assert!(c.unwrap_err().0.contains("subscription is required"));
        let (c, _) = read("name: k8saudit-gke\nopen_params: projects/p/topics/t\n");
        assert!(c.unwrap_err().0.contains("not a subscription name"));
        let (c, _) =
            read("name: k8saudit-gke\nopen_params: 'a/../b'\ninit_config: {project_id: p}\n");
        assert!(c.unwrap_err().0.contains("not a subscription name"));
    }
}
