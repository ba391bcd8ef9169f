//! Managed-cluster sources: audit events read from the clouds' logging services instead of the webhook
//! (EKS: CloudWatch Logs; GKE: Pub/Sub). Each SDK sits behind a cargo feature of its own; the configuration readers
//! are always compiled so that a build without a feature can say so.

pub mod eks_config;
pub mod gke_config;

#[cfg(feature = "eks")]
pub mod eks;
#[cfg(feature = "gke")]
pub mod gke;

use crate::config::ServeConfig;
use crate::server::Server;

/// Starts every configured cloud source on the server's pipeline.
pub async fn start_sources(cfg: &ServeConfig, server: &mut Server) -> Result<(), String> {
    #[cfg(feature = "eks")]
    for c in &cfg.eks {
        let src = eks::source::EksSource::open(c.clone(), cfg.state_dir.as_deref()).await?;
        tracing::info!(
            cluster = %c.cluster,
            log_group = %c.log_group(),
            "reading EKS audit events from CloudWatch Logs"
        );
        server.add_source(src);
    }
    #[cfg(feature = "gke")]
    for c in &cfg.gke {
        server.add_source(gke::source::GkeSource::open(c)?);
    }
    // Without a cloud feature there is nothing to start (the configuration refused such entries).
    let _ = (cfg, server);
    Ok(())
}
