//! Managed-cluster sources: audit events read from the clouds' logging services instead of the webhook
//! (EKS: CloudWatch Logs; GKE: Pub/Sub; AKS: Event Hubs). Each SDK sits behind a cargo feature of its own; the
//! configuration readers are always compiled, so a bad entry is a configuration error in every build.

pub mod aks_config;
pub mod eks_config;
pub mod gke_config;

#[cfg(feature = "aks")]
pub mod aks;
#[cfg(feature = "eks")]
pub mod eks;
#[cfg(feature = "gke")]
pub mod gke;
#[cfg(any(feature = "gke", feature = "aks"))]
pub mod https;

use crate::config::read::Reader;
use crate::config::sources::{CloudPluginConfig, SourcesConfig};
use crate::config::{ConfigError, ServeConfig};
use crate::server::Server;
use aks_config::AksConfig;
use eks_config::EksConfig;
use gke_config::GkeConfig;

/// The cloud plugin entries kaudit reads, typed. (A build without a feature reads its entries for the
/// checks but never starts them.)
#[cfg_attr(
    not(all(feature = "eks", feature = "gke", feature = "aks")),
    allow(dead_code)
)]
enum Entry {
    Eks(EksConfig),
    Gke(GkeConfig),
    Aks(AksConfig),
    /// A plugin whose source is not part of this build.
    Unbuilt,
}

fn read_entry(r: &mut Reader, c: &CloudPluginConfig) -> Result<Entry, ConfigError> {
    Ok(match c.name.as_str() {
        eks_config::PLUGIN_NAME if cfg!(feature = "eks") => {
            Entry::Eks(EksConfig::from_entry(r, c)?)
        }
        gke_config::PLUGIN_NAME if cfg!(feature = "gke") => {
            Entry::Gke(GkeConfig::from_entry(r, c)?)
        }
        aks_config::PLUGIN_NAME if cfg!(feature = "aks") => {
            Entry::Aks(AksConfig::from_entry(r, c)?)
        }
        _ => Entry::Unbuilt,
    })
}

/// Reads every cloud entry once at configuration time, so mistakes are configuration errors (and
/// unknown keys warnings) before anything starts.
pub fn check_config(r: &mut Reader, sources: &SourcesConfig) -> Result<(), ConfigError> {
    for c in &sources.cloud {
        read_entry(r, c)?;
    }
    Ok(())
}

/// Starts the configured cloud sources on `server`.
#[cfg_attr(
    not(any(feature = "eks", feature = "gke", feature = "aks")),
    allow(unused_variables)
)]
pub fn start(server: &mut Server, cfg: &ServeConfig) -> Result<(), String> {
    // Only EKS keeps its checkpoint under state_dir (Pub/Sub keeps GKE's position, a blob container
    // AKS's).
    #[cfg(feature = "eks")]
    let state_dir = cfg.sources.state_dir.as_deref();
    for c in &cfg.sources.cloud {
        // Already checked by `check_config`; warnings were reported then.
        let entry = read_entry(&mut Reader::default(), c).map_err(|e| e.0)?;
        match entry {
            #[cfg(feature = "eks")]
            Entry::Eks(e) => {
                tracing::info!(
                    cluster = %e.cluster,
                    log_group = %e.log_group(),
                    "reading EKS audit events from CloudWatch Logs"
                );
                server.add_source(eks::source::EksSource::open(e, state_dir)?);
            }
            #[cfg(feature = "gke")]
            Entry::Gke(g) => server.add_source(gke::source::GkeSource::open(&g)?),
            #[cfg(feature = "aks")]
            Entry::Aks(a) => server.add_source(aks::source::AksSource::open(&a)?),
            #[allow(unreachable_patterns)]
            _ => tracing::warn!(
                "{}: the {} source is not part of this build (cargo feature `{}`); entry ignored",
                c.origin,
                c.name,
                c.name.trim_start_matches("k8saudit-")
            ),
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::config::read::Reader;
    use crate::config::sources::{read_sources, CloudPluginConfig};
    use crate::config::{ConfigError, Node};

    /// The cloud entry of a one-plugin `plugins:` list, as the configuration reader hands it over.
    pub fn entry(plugin_yaml: &str) -> Result<CloudPluginConfig, ConfigError> {
        let indented: String = plugin_yaml.lines().map(|l| format!("    {l}\n")).collect();
        let doc = format!("plugins:\n  -\n{indented}");
        let root = Node::parse_yaml(&doc, "test")?;
        let mut s = read_sources(&mut Reader::default(), &root)?;
        Ok(s.cloud.remove(0))
    }

    /// Reads one plugin entry with a typed reader; the result and the warnings.
    pub fn read<T>(
        plugin_yaml: &str,
        typed: fn(&mut Reader, &CloudPluginConfig) -> Result<T, ConfigError>,
    ) -> (Result<T, ConfigError>, Vec<String>) {
        let mut r = Reader::default();
        let c = entry(plugin_yaml).and_then(|e| typed(&mut r, &e));
        (c, r.warnings)
    }
}
