//! Pods and deployments as clients send them (requestObject) and as the API server returns them
//! (responseObject: defaulted, with uid, resourceVersion, managedFields and status).

use crate::envelope::timestamp;
use crate::json::J;
use crate::rng::Rng;
use crate::{arr, obj};

pub const IMAGES: &[&str] = &[
    "docker.io/library/nginx:1.25.3",
    "ghcr.io/example/api-server:2.14.0",
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/payments/worker:sha-1a2b3c4",
    "docker.io/grafana/grafana:10.2.3",
    "quay.io/prometheus/node-exporter:v1.7.0",
    "docker.io/bitnami/redis:7.2.4",
    "docker.io/envoyproxy/envoy:v1.28.0",
    "docker.io/istio/proxyv2:1.20.2",
    "registry.k8s.io/coredns/coredns:v1.11.1",
    "quay.io/jetstack/cert-manager-controller:v1.13.3",
];

/// Unusual pod features, each of which some rule looks for.
#[derive(Default, Clone, Copy)]
pub struct Risky {
    pub privileged: bool,
    pub host_network: bool,
    pub host_path: Option<&'static str>,
}

fn container(
    rng: &mut Rng,
    name: &str,
    image: &str,
    privileged: bool,
    mounts: &[(String, String)],
) -> J {
    let mut env = Vec::new();
    for i in 0..rng.range(2, 12) {
        env.push(match rng.below(4) {
            0 => obj! {
                "name" => format!("DB_PASSWORD_{i}"),
                "valueFrom" => obj! { "secretKeyRef" => obj! { "name" => "app-secrets", "key" => format!("db-password-{i}") } },
            },
            1 => obj! {
                "name" => "POD_NAME",
                "valueFrom" => obj! { "fieldRef" => obj! { "apiVersion" => "v1", "fieldPath" => "metadata.name" } },
            },
            _ => obj! { "name" => format!("FEATURE_FLAG_{}", rng.hex(4).to_uppercase()), "value" => rng.pick(&["true", "false", "enabled", "3", "https://api.internal.example.com/v2"]).to_string() },
        });
    }
    let security = if privileged {
        obj! { "privileged" => true }
    } else {
        obj! {
            "allowPrivilegeEscalation" => false,
            "readOnlyRootFilesystem" => true,
            "runAsNonRoot" => true,
            "runAsUser" => 65532i64,
            "capabilities" => obj! { "drop" => arr!["ALL"] },
            "seccompProfile" => obj! { "type" => "RuntimeDefault" },
        }
    };
    let port = rng.pick(&[8080i64, 8443, 9090, 3000, 6379, 15090]);
    obj! {
        "name" => name,
        "image" => image,
        "args" => vec![format!("--port={port}"), "--log-level=info".to_string(), format!("--config=/etc/{name}/config.yaml")],
        "ports" => arr![obj! { "name" => "http", "containerPort" => *port, "protocol" => "TCP" }],
        "env" => J::Arr(env),
        "resources" => obj! {
            "limits" => obj! { "cpu" => format!("{}m", rng.range(1, 20) * 100), "memory" => format!("{}Mi", rng.range(1, 16) * 128) },
            "requests" => obj! { "cpu" => format!("{}m", rng.range(1, 10) * 50), "memory" => format!("{}Mi", rng.range(1, 8) * 64) },
        },
        "volumeMounts" => J::Arr(mounts.iter().map(|(n, p)| obj! { "name" => n, "mountPath" => p, "readOnly" => true }).collect()),
        "livenessProbe" => obj! {
            "httpGet" => obj! { "path" => "/healthz", "port" => *port, "scheme" => "HTTP" },
            "initialDelaySeconds" => 10i64, "timeoutSeconds" => 1i64, "periodSeconds" => 10i64,
            "successThreshold" => 1i64, "failureThreshold" => 3i64,
        },
        "readinessProbe" => obj! {
            "httpGet" => obj! { "path" => "/ready", "port" => *port, "scheme" => "HTTP" },
            "timeoutSeconds" => 1i64, "periodSeconds" => 5i64, "successThreshold" => 1i64, "failureThreshold" => 3i64,
        },
        "terminationMessagePath" => "/dev/termination-log",
        "terminationMessagePolicy" => "File",
        "imagePullPolicy" => "IfNotPresent",
        "securityContext" => security,
    }
}

/// A pod spec with 1–5 containers, projected token volume, config volumes and optional risky features.
pub fn pod_spec(rng: &mut Rng, app: &str, risky: Risky) -> J {
    let token_volume = format!("kube-api-access-{}", rng.suffix(5));
    let mut volumes = vec![
        obj! { "name" => format!("{app}-config"), "configMap" => obj! { "name" => format!("{app}-config"), "defaultMode" => 420i64 } },
        obj! {
            "name" => &token_volume,
            "projected" => obj! {
                "sources" => arr![
                    obj! { "serviceAccountToken" => obj! { "expirationSeconds" => 3607i64, "path" => "token" } },
                    obj! { "configMap" => obj! { "name" => "kube-root-ca.crt", "items" => arr![obj! { "key" => "ca.crt", "path" => "ca.crt" }] } },
                    obj! { "downwardAPI" => obj! { "items" => arr![obj! { "path" => "namespace", "fieldRef" => obj! { "apiVersion" => "v1", "fieldPath" => "metadata.namespace" } }] } },
                ],
                "defaultMode" => 420i64,
            },
        },
    ];
    let mut mounts = vec![
        (format!("{app}-config"), format!("/etc/{app}")),
        (
            token_volume,
            "/var/run/secrets/kubernetes.io/serviceaccount".to_string(),
        ),
    ];
    if rng.chance(400) {
        volumes.push(obj! { "name" => "tls", "secret" => obj! { "secretName" => format!("{app}-tls"), "defaultMode" => 420i64 } });
        mounts.push(("tls".to_string(), "/etc/tls".to_string()));
    }
    if rng.chance(300) {
        volumes.push(obj! { "name" => "cache", "emptyDir" => obj! { "sizeLimit" => "1Gi" } });
    }
    if let Some(path) = risky.host_path {
        volumes
            .push(obj! { "name" => "host", "hostPath" => obj! { "path" => path, "type" => "" } });
        mounts.push(("host".to_string(), "/host".to_string()));
    }
    let n = rng.weighted(&[15, 35, 30, 15, 5]) + 1;
    let main_image = rng.pick(IMAGES).to_string();
    let mut containers = vec![container(rng, app, &main_image, risky.privileged, &mounts)];
    for i in 1..n {
        let image = rng.pick(IMAGES).to_string();
        containers.push(container(
            rng,
            &format!("sidecar-{i}"),
            &image,
            false,
            &mounts[..1],
        ));
    }
    let mut spec = obj! {
        "volumes" => J::Arr(volumes),
        "containers" => J::Arr(containers),
    };
    if rng.chance(250) {
        spec.push(
            "initContainers",
            arr![{
                let image = rng_image(rng);
                container(rng, "init-migrate", image, false, &[])
            }],
        );
    }
    spec.push("restartPolicy", "Always");
    spec.push("terminationGracePeriodSeconds", 30i64);
    spec.push(
        "dnsPolicy",
        if risky.host_network {
            "ClusterFirstWithHostNet"
        } else {
            "ClusterFirst"
        },
    );
    spec.push("serviceAccountName", app);
    spec.push("securityContext", obj! { "fsGroup" => 65532i64 });
    if risky.host_network {
        spec.push("hostNetwork", true);
    }
    spec.push("affinity", obj! {
        "podAntiAffinity" => obj! {
            "preferredDuringSchedulingIgnoredDuringExecution" => arr![obj! {
                "weight" => 100i64,
                "podAffinityTerm" => obj! {
                    "labelSelector" => obj! { "matchLabels" => obj! { "app.kubernetes.io/name" => app } },
                    "topologyKey" => "kubernetes.io/hostname",
                },
            }],
        },
    });
    spec.push("schedulerName", "default-scheduler");
    spec.push("tolerations", arr![
        obj! { "key" => "node.kubernetes.io/not-ready", "operator" => "Exists", "effect" => "NoExecute", "tolerationSeconds" => 300i64 },
        obj! { "key" => "node.kubernetes.io/unreachable", "operator" => "Exists", "effect" => "NoExecute", "tolerationSeconds" => 300i64 },
    ]);
    spec.push("priority", 0i64);
    spec.push("enableServiceLinks", true);
    spec.push("preemptionPolicy", "PreemptLowerPriority");
    spec
}

fn rng_image(rng: &mut Rng) -> &'static str {
    rng.pick::<&str>(IMAGES)
}

fn labels(app: &str, hash: &str) -> J {
    obj! {
        "app.kubernetes.io/name" => app,
        "app.kubernetes.io/part-of" => "storefront",
        "app.kubernetes.io/version" => "2.14.0",
        "pod-template-hash" => hash,
    }
}

/// Server-side-apply bookkeeping that inflates every stored object.
fn managed_fields(micros: u64, manager: &str, operation: &str) -> J {
    arr![obj! {
        "manager" => manager,
        "operation" => operation,
        "apiVersion" => "v1",
        "time" => timestamp(micros),
        "fieldsType" => "FieldsV1",
        "fieldsV1" => obj! {
            "f:metadata" => obj! { "f:labels" => obj! { "." => obj! {}, "f:app.kubernetes.io/name" => obj! {}, "f:pod-template-hash" => obj! {} } },
            "f:spec" => obj! { "f:containers" => obj! { "k:{\"name\":\"app\"}" => obj! { "." => obj! {}, "f:image" => obj! {}, "f:name" => obj! {}, "f:ports" => obj! {} } } },
        },
    }]
}

pub struct PodObjects {
    pub request: J,
    pub response: J,
    pub name: String,
}

/// A pod as the ReplicaSet controller creates it, with the stored version for RequestResponse.
pub fn pod(rng: &mut Rng, ns: &str, app: &str, risky: Risky, micros: u64) -> PodObjects {
    let hash = rng.suffix(10);
    let name = format!("{app}-{hash}-{}", rng.suffix(5));
    let owner = arr![obj! {
        "apiVersion" => "apps/v1", "kind" => "ReplicaSet", "name" => format!("{app}-{hash}"),
        "uid" => rng.uuid(), "controller" => true, "blockOwnerDeletion" => true,
    }];
    let spec_seed = rng.next_u64();
    let request = obj! {
        "kind" => "Pod",
        "apiVersion" => "v1",
        "metadata" => obj! {
            "generateName" => format!("{app}-{hash}-"),
            "namespace" => ns,
            "creationTimestamp" => J::Null,
            "labels" => labels(app, &hash),
            "annotations" => obj! { "kubectl.kubernetes.io/default-container" => app, "prometheus.io/scrape" => "true" },
            "ownerReferences" => owner,
        },
        "spec" => pod_spec(&mut Rng::new(spec_seed), app, risky),
        "status" => obj! {},
    };
    let response = obj! {
        "kind" => "Pod",
        "apiVersion" => "v1",
        "metadata" => obj! {
            "name" => &name,
            "generateName" => format!("{app}-{hash}-"),
            "namespace" => ns,
            "uid" => rng.uuid(),
            "resourceVersion" => rng.range(1_000_000, 99_999_999).to_string(),
            "creationTimestamp" => timestamp(micros),
            "labels" => labels(app, &hash),
            "managedFields" => managed_fields(micros, "kube-controller-manager", "Update"),
        },
        "spec" => pod_spec(&mut Rng::new(spec_seed), app, risky),
        "status" => obj! { "phase" => "Pending", "qosClass" => "Burstable" },
    };
    PodObjects {
        request,
        response,
        name,
    }
}

/// A Deployment as `kubectl apply` / GitOps sends it.
pub fn deployment(rng: &mut Rng, ns: &str, app: &str, micros: u64, stored: bool) -> J {
    let mut meta = obj! {
        "name" => app,
        "namespace" => ns,
        "labels" => obj! { "app.kubernetes.io/name" => app, "app.kubernetes.io/managed-by" => "argocd" },
        "annotations" => obj! { "deployment.kubernetes.io/revision" => rng.range(1, 40).to_string() },
    };
    if stored {
        meta.push("uid", rng.uuid());
        meta.push(
            "resourceVersion",
            rng.range(1_000_000, 99_999_999).to_string(),
        );
        meta.push("generation", rng.range(1, 40));
        meta.push("creationTimestamp", timestamp(micros / 2));
        meta.push(
            "managedFields",
            managed_fields(micros, "argocd-controller", "Apply"),
        );
    }
    let mut d = obj! {
        "kind" => "Deployment",
        "apiVersion" => "apps/v1",
        "metadata" => meta,
        "spec" => obj! {
            "replicas" => rng.range(1, 6),
            "selector" => obj! { "matchLabels" => obj! { "app.kubernetes.io/name" => app } },
            "template" => obj! {
                "metadata" => obj! { "creationTimestamp" => J::Null, "labels" => obj! { "app.kubernetes.io/name" => app } },
                "spec" => pod_spec(rng, app, Risky::default()),
            },
            "strategy" => obj! { "type" => "RollingUpdate", "rollingUpdate" => obj! { "maxUnavailable" => "25%", "maxSurge" => "25%" } },
            "revisionHistoryLimit" => 10i64,
            "progressDeadlineSeconds" => 600i64,
        },
    };
    if stored {
        d.push("status", obj! {
            "observedGeneration" => rng.range(1, 40), "replicas" => 3i64, "updatedReplicas" => 3i64,
            "readyReplicas" => 3i64, "availableReplicas" => 3i64,
            "conditions" => arr![obj! {
                "type" => "Available", "status" => "True", "lastUpdateTime" => timestamp(micros / 2),
                "lastTransitionTime" => timestamp(micros / 2), "reason" => "MinimumReplicasAvailable",
                "message" => "Deployment has minimum availability.",
            }],
        });
    }
    d
}
