//! The `k8saudit-aks` plugin entry of falco.yaml, read with the plugin's keys and defaults
//! (falcosecurity/plugins, plugins/k8saudit-aks): `init_config` holds the Event Hubs namespace connection
//! string and hub name, the blob storage connection string and container of the checkpoint store,
//! `rate_limit_events_per_second` (default 100), `rate_limit_burst` (default 200) and `maxEventSize`
//! (default 262144). `open_params` names the cluster in the plugin and is not used by it; kaudit keeps it
//! for the source's name. Compiled in every build (see `crate::cloud`).

use crate::config::read::Reader;
use crate::config::sources::CloudPluginConfig;
use crate::config::ConfigError;
use std::fmt;

pub const PLUGIN_NAME: &str = "k8saudit-aks";

const KEYS: &[&str] = &[
    "event_hub_namespace_connection_string",
    "event_hub_name",
    "blob_storage_connection_string",
    "blob_storage_container_name",
    "rate_limit_events_per_second",
    "rate_limit_burst",
    "maxEventSize",
];
/// kaudit's own key: the consumer group (the plugin always reads `$Default`).
const KAUDIT_KEYS: &[&str] = &["consumer_group"];

/// A connection string: a secret, never printed.
#[derive(Clone, PartialEq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AksConfig {
    pub origin: String,
    /// `open_params` (the plugin's default: `default`); names the source only.
    pub cluster: String,
    pub hub_connection_string: Secret,
    pub hub_name: String,
    pub consumer_group: String,
    pub blob_connection_string: Secret,
    pub blob_container: String,
    /// Records per second (`rate_limit_events_per_second`).
    pub rate_per_second: u32,
    /// Records that may pass at once after a quiet spell (`rate_limit_burst`).
    pub rate_burst: u32,
    /// Largest audit event (`properties.log`) passed on; larger ones are dropped and counted.
    pub max_event_size: usize,
}

impl AksConfig {
    /// Reads one `plugins[N]` entry whose name is `k8saudit-aks`.
    pub fn from_entry(r: &mut Reader, c: &CloudPluginConfig) -> Result<AksConfig, ConfigError> {
        let at = &c.origin;
        let at_init = format!("{at}.init_config");
        let init = &c.init_config;
        let known: Vec<&str> = KEYS.iter().chain(KAUDIT_KEYS).copied().collect();
        r.check_keys(init, &format!("{at_init}."), &known, &[]);
        let key_err = |e: ConfigError| ConfigError(format!("{at_init}.{}", e.0));
        let required = |k: &str| -> Result<String, ConfigError> {
            let s = r.str_or(init, k, "").map_err(key_err)?;
            let s = s.trim();
            if s.is_empty() {
                return Err(ConfigError(format!("{at_init}.{k}: required")));
            }
            Ok(s.to_string())
        };
        let hub_cs = required("event_hub_namespace_connection_string")?;
        let hub_name = required("event_hub_name")?;
        let blob_cs = required("blob_storage_connection_string")?;
        let container = required("blob_storage_container_name")?;
        if !container_name_ok(&container) {
            return Err(ConfigError(format!(
                "{at_init}.blob_storage_container_name: '{container}' is not a container name (3-63 of a-z, 0-9 and '-')"
            )));
        }
        // An Event Hub name: letters, digits, '.', '-', '_' (1-256).
        if hub_name.len() > 256
            || !hub_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        {
            return Err(ConfigError(format!(
                "{at_init}.event_hub_name: '{hub_name}' is not an Event Hub name"
            )));
        }
        let group = r
            .str_or(init, "consumer_group", "$Default")
            .map_err(key_err)?;
        let group = group.trim();
        if group.is_empty() || group.len() > 256 || group.contains('/') {
            return Err(ConfigError(format!(
                "{at_init}.consumer_group: '{group}' is not a consumer group name"
            )));
        }
        // Zero means "default", as in the plugin (an unset Go int is 0 before the defaults apply).
        let nonzero = |k: &str, default: usize| -> Result<usize, ConfigError> {
            match r.usize_or(init, k, 0).map_err(key_err)? {
                0 => Ok(default),
                n => Ok(n),
            }
        };
        let cluster = c.open_params.trim();
        Ok(AksConfig {
            origin: at.clone(),
            cluster: if cluster.is_empty() {
                "default"
            } else {
                cluster
            }
            .to_string(),
            hub_connection_string: Secret(hub_cs),
            hub_name,
            consumer_group: group.to_string(),
            blob_connection_string: Secret(blob_cs),
            blob_container: container,
            rate_per_second: nonzero("rate_limit_events_per_second", 100)?.min(1_000_000) as u32,
            rate_burst: nonzero("rate_limit_burst", 200)?.min(1_000_000) as u32,
            max_event_size: nonzero("maxEventSize", 262_144)?,
        })
    }
}

/// Blob container names: 3-63 lowercase letters, digits and single dashes, starting and ending with a
/// letter or digit.
fn container_name_ok(s: &str) -> bool {
    (3..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A valid entry, for the source's tests.
    #[cfg(feature = "aks")]
    pub fn sample() -> AksConfig {
        read(MINIMAL).0.unwrap()
    }

    fn read(yaml: &str) -> (Result<AksConfig, ConfigError>, Vec<String>) {
        crate::cloud::tests::read(yaml, AksConfig::from_entry)
    }

    const MINIMAL: &str = "name: k8saudit-aks\ninit_config:\n  event_hub_namespace_connection_string: \"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=s\"\n  event_hub_name: hub1\n  blob_storage_connection_string: UseDevelopmentStorage=true\n  blob_storage_container_name: ckpt\n";

    #[test]
    fn the_plugin_defaults_apply() {
        let (c, w) = read(MINIMAL);
        let c = c.unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.cluster, "default");
        assert_eq!(c.hub_name, "hub1");
        assert_eq!(c.consumer_group, "$Default");
        assert_eq!(c.blob_container, "ckpt");
        assert_eq!((c.rate_per_second, c.rate_burst), (100, 200));
        assert_eq!(c.max_event_size, 262_144);
        assert!(
            !format!("{c:?}").contains("SharedAccessKey=s"),
            "secrets stay out of debug output"
        );
    }

    #[test]
    fn keys_override_and_unknown_keys_warn() {
        let yaml = format!(
            "{MINIMAL}  rate_limit_events_per_second: 5\n  rate_limit_burst: 7\n  maxEventSize: 1000\n  consumer_group: kaudit\n  bogus: 1\nopen_params: prod\n"
        );
        let (c, w) = read(&yaml);
        let c = c.unwrap();
        assert_eq!((c.rate_per_second, c.rate_burst), (5, 7));
        assert_eq!(c.max_event_size, 1000);
        assert_eq!(c.consumer_group, "kaudit");
        assert_eq!(c.cluster, "prod");
        assert_eq!(
            w,
            ["unknown configuration key 'plugins[0].init_config.bogus' (ignored)"]
        );
    }

    #[test]
    fn missing_or_bad_keys_are_errors() {
        let (c, _) = read("name: k8saudit-aks\n");
        assert!(c
            .unwrap_err()
            .0
            .contains("event_hub_namespace_connection_string: required"));
        let (c, _) = read(&MINIMAL.replace("ckpt", "Bad_Name"));
        assert!(c.unwrap_err().0.contains("not a container name"));
        let (c, _) = read(&MINIMAL.replace("hub1", "a/b"));
        assert!(c.unwrap_err().0.contains("not an Event Hub name"));
        let (c, _) = read(&MINIMAL.replace("  event_hub_name: hub1\n", ""));
        assert!(c.unwrap_err().0.contains("event_hub_name: required"));
    }
}
