//! The traffic classes, their share of the mix, and how each builds one event.

use crate::config_objects::{binding, configmap, role, service};
use crate::envelope::{rbac_reason, Clock, Envelope, Target};
use crate::json::J;
use crate::obj;
use crate::rng::Rng;
use crate::users::{self, User};
use crate::workloads::{deployment, pod, Risky};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    ReadMetadata,
    LeaseUpdate,
    StatusPatch,
    PodCreate,
    DeploymentWrite,
    ConfigMapWrite,
    SecretWrite,
    RoleCreate,
    BindingWrite,
    ServiceWrite,
    Delete,
    ExecAttachPortForward,
    Anonymous,
    Unauthorized,
}

impl Class {
    pub const ALL: [Class; 14] = [
        Class::ReadMetadata,
        Class::LeaseUpdate,
        Class::StatusPatch,
        Class::PodCreate,
        Class::DeploymentWrite,
        Class::ConfigMapWrite,
        Class::SecretWrite,
        Class::RoleCreate,
        Class::BindingWrite,
        Class::ServiceWrite,
        Class::Delete,
        Class::ExecAttachPortForward,
        Class::Anonymous,
        Class::Unauthorized,
    ];

    /// Share of the mixed corpus in events per thousand.
    pub fn per_mille(self) -> u64 {
        match self {
            Class::ReadMetadata => 778,
            Class::LeaseUpdate => 60,
            Class::StatusPatch => 40,
            Class::PodCreate => 20,
            Class::DeploymentWrite => 15,
            Class::ConfigMapWrite => 15,
            Class::SecretWrite => 8,
            Class::RoleCreate => 5,
            Class::BindingWrite => 5,
            Class::ServiceWrite => 6,
            Class::Delete => 12,
            Class::ExecAttachPortForward => 10,
            Class::Anonymous => 14,
            Class::Unauthorized => 12,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Class::ReadMetadata => "read_metadata",
            Class::LeaseUpdate => "lease_update",
            Class::StatusPatch => "status_patch",
            Class::PodCreate => "pod_create",
            Class::DeploymentWrite => "deployment_write",
            Class::ConfigMapWrite => "configmap_write",
            Class::SecretWrite => "secret_write",
            Class::RoleCreate => "role_create",
            Class::BindingWrite => "binding_write",
            Class::ServiceWrite => "service_write",
            Class::Delete => "delete",
            Class::ExecAttachPortForward => "exec_attach_portforward",
            Class::Anonymous => "anonymous",
            Class::Unauthorized => "unauthorized",
        }
    }

    pub fn from_name(name: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Builds one event of this class.
    pub fn build(self, rng: &mut Rng, clock: &mut Clock) -> J {
        let env = match self {
            Class::ReadMetadata => read_metadata(rng),
            Class::LeaseUpdate => lease_update(rng),
            Class::StatusPatch => status_patch(rng),
            Class::PodCreate => pod_create(rng, clock.micros),
            Class::DeploymentWrite => deployment_write(rng, clock.micros),
            Class::ConfigMapWrite => configmap_write(rng),
            Class::SecretWrite => secret_write(rng),
            Class::RoleCreate => role_create(rng),
            Class::BindingWrite => binding_write(rng),
            Class::ServiceWrite => service_write(rng),
            Class::Delete => delete(rng),
            Class::ExecAttachPortForward => exec(rng),
            Class::Anonymous => anonymous(rng),
            Class::Unauthorized => unauthorized(rng),
        };
        env.render(rng, clock)
    }
}

const APP_NAMESPACES: &[&str] = &[
    "storefront",
    "payments",
    "monitoring",
    "argocd",
    "default",
    "ingress-nginx",
    "search",
];
const APPS: &[&str] = &[
    "checkout",
    "cart",
    "catalog",
    "payments-api",
    "search",
    "frontend",
    "recommendations",
    "ledger",
];

fn namespace(rng: &mut Rng) -> String {
    if rng.chance(200) {
        "kube-system".to_string()
    } else {
        rng.pick(APP_NAMESPACES).to_string()
    }
}

fn target(
    resource: &'static str,
    group: &'static str,
    version: &'static str,
    ns: Option<String>,
    name: Option<String>,
) -> Target {
    Target {
        resource,
        group,
        version,
        namespace: ns,
        name,
        subresource: None,
    }
}

fn allowed(mut env: Envelope) -> Envelope {
    env.rbac_reason = Some(rbac_reason(&env.user.name));
    env
}

/// The object name in the URI of a write: none for a create, which posts to the collection.
fn written_name(verb: &str, name: String) -> Option<String> {
    (verb != "create").then_some(name)
}

/// The status code of a successful write: 201 Created for a create, else 200 OK.
fn write_code(verb: &str) -> i64 {
    if verb == "create" {
        201
    } else {
        200
    }
}

/// (resource, group, version, namespaced, weight)
const READ_RESOURCES: &[(&str, &str, &str, bool, u64)] = &[
    ("pods", "", "v1", true, 20),
    ("configmaps", "", "v1", true, 12),
    ("secrets", "", "v1", true, 8),
    ("services", "", "v1", true, 6),
    ("endpoints", "", "v1", true, 4),
    ("endpointslices", "discovery.k8s.io", "v1", true, 8),
    ("leases", "coordination.k8s.io", "v1", true, 10),
    ("nodes", "", "v1", false, 10),
    ("namespaces", "", "v1", false, 3),
    ("deployments", "apps", "v1", true, 5),
    ("replicasets", "apps", "v1", true, 4),
    ("events", "", "v1", true, 3),
    ("serviceaccounts", "", "v1", true, 2),
    (
        "customresourcedefinitions",
        "apiextensions.k8s.io",
        "v1",
        false,
        2,
    ),
    ("clusterroles", "rbac.authorization.k8s.io", "v1", false, 1),
];

fn read_metadata(rng: &mut Rng) -> Envelope {
    let weights: Vec<u64> = READ_RESOURCES.iter().map(|r| r.4).collect();
    let (resource, group, version, namespaced, _) = READ_RESOURCES[rng.weighted(&weights)];
    let verb = *rng.pick(&["get", "get", "get", "list", "list", "watch", "watch"]);
    let user = users::reader(rng);
    let ns = if namespaced && (verb == "get" || rng.chance(700)) {
        Some(namespace(rng))
    } else {
        None
    };
    let name = if verb == "get" {
        Some(match resource {
            "nodes" => format!(
                "ip-10-0-{}-{}.ec2.internal",
                rng.below(5),
                rng.range(10, 50)
            ),
            "leases" => rng
                .pick(&[
                    "kube-controller-manager",
                    "kube-scheduler",
                    "cert-manager-controller",
                ])
                .to_string(),
            _ => format!("{}-{}", rng.pick(APPS), rng.suffix(5)),
        })
    } else {
        None
    };
    let t = target(resource, group, version, ns, name);
    let uri = match verb {
        "list" => format!("{}?limit=500&resourceVersion=0", t.path()),
        "watch" => format!(
            "{}?allowWatchBookmarks=true&resourceVersion={}&timeout=7m{}s&timeoutSeconds={}&watch=true",
            t.path(),
            rng.range(1_000_000, 99_999_999),
            rng.below(60),
            rng.range(300, 600)
        ),
        _ => t.path(),
    };
    let mut env = allowed(Envelope::new(verb, user, t, uri));
    if verb == "watch" {
        env.stage = if rng.chance(500) {
            "ResponseStarted"
        } else {
            "ResponseComplete"
        };
        env.latency_us = rng.range(300_000_000, 600_000_000);
    }
    if verb == "get" && rng.chance(80) {
        env.code = 404;
        env.failure = Some(("not found".to_string(), "NotFound"));
    }
    env
}

fn lease_update(rng: &mut Rng) -> Envelope {
    let user = if rng.chance(700) {
        users::kubelet(rng)
    } else {
        users::control_plane(rng)
    };
    let (ns, name) = if user.name.starts_with("system:node:") {
        (
            "kube-node-lease".to_string(),
            user.name.trim_start_matches("system:node:").to_string(),
        )
    } else {
        (
            "kube-system".to_string(),
            user.name.trim_start_matches("system:").to_string(),
        )
    };
    let t = target("leases", "coordination.k8s.io", "v1", Some(ns), Some(name));
    let uri = t.path();
    allowed(Envelope::new("update", user, t, uri))
}

fn status_patch(rng: &mut Rng) -> Envelope {
    let user = users::kubelet(rng);
    let mut t = target(
        "pods",
        "",
        "v1",
        Some(namespace(rng)),
        Some(format!("{}-{}", rng.pick(APPS), rng.suffix(5))),
    );
    t.subresource = Some("status");
    let uri = t.path();
    let mut env = Envelope::new("patch", user, t, uri);
    env.level = "Request";
    env.request_object = Some(obj! {
        "metadata" => obj! { "uid" => rng.uuid() },
        "status" => obj! { "conditions" => crate::arr![obj! {
            "type" => "Ready", "status" => "True", "lastProbeTime" => J::Null,
            "lastTransitionTime" => crate::envelope::timestamp(rng.below(1 << 32)),
        }] },
    });
    env
}

fn pod_create(rng: &mut Rng, micros: u64) -> Envelope {
    let ns = namespace(rng);
    let app = *rng.pick(APPS);
    let risky = Risky {
        privileged: rng.chance(40),
        host_network: rng.chance(30),
        host_path: if rng.chance(30) {
            Some(*rng.pick(&["/var/run/docker.sock", "/proc", "/var/log"]))
        } else {
            None
        },
    };
    let objects = pod(rng, &ns, app, risky, micros);
    let user = if rng.chance(900) {
        users::controller_named(rng.pick::<&str>(&[
            "replicaset-controller",
            "daemon-set-controller",
            "job-controller",
            "statefulset-controller",
        ]))
    } else {
        users::human(rng)
    };
    let t = target("pods", "", "v1", Some(ns), None);
    let uri = t.path();
    let mut env = allowed(Envelope::new("create", user, t, uri));
    env.code = 201;
    env.level = if rng.chance(500) {
        "RequestResponse"
    } else {
        "Request"
    };
    env.request_object = Some(objects.request);
    if env.level == "RequestResponse" {
        env.response_object = Some(objects.response);
    }
    env.latency_us = rng.range(3_000, 40_000);
    env
}

fn deployment_write(rng: &mut Rng, micros: u64) -> Envelope {
    let ns = rng.pick(APP_NAMESPACES).to_string();
    let app = *rng.pick(APPS);
    let verb = *rng.pick(&["create", "update", "patch", "patch", "patch"]);
    let user = users::writer(rng);
    let t = target(
        "deployments",
        "apps",
        "v1",
        Some(ns.clone()),
        written_name(verb, app.to_string()),
    );
    let uri = if verb == "create" {
        format!(
            "{}?fieldManager=kubectl-client-side-apply&fieldValidation=Strict",
            t.path()
        )
    } else {
        t.path()
    };
    let mut env = allowed(Envelope::new(verb, user, t, uri));
    env.level = "RequestResponse";
    env.code = write_code(verb);
    env.request_object = Some(match verb {
        "patch" => {
            obj! { "spec" => obj! { "template" => obj! { "metadata" => obj! { "annotations" => obj! {
                "kubectl.kubernetes.io/restartedAt" => crate::envelope::timestamp(micros),
            } } } } }
        }
        _ => deployment(rng, &ns, app, micros, false),
    });
    env.response_object = Some(deployment(rng, &ns, app, micros, true));
    env.latency_us = rng.range(3_000, 30_000);
    env
}

fn configmap_write(rng: &mut Rng) -> Envelope {
    let ns = namespace(rng);
    let name = format!("{}-config", rng.pick(APPS));
    let verb = *rng.pick(&["create", "update", "update"]);
    let user = users::writer(rng);
    let t = target(
        "configmaps",
        "",
        "v1",
        Some(ns.clone()),
        written_name(verb, name.clone()),
    );
    let uri = t.path();
    let mut env = allowed(Envelope::new(verb, user, t, uri));
    env.level = "Request";
    env.code = write_code(verb);
    let credentials = rng.chance(100);
    env.request_object = Some(configmap(rng, &ns, &name, credentials));
    env
}

fn secret_write(rng: &mut Rng) -> Envelope {
    // Audit policies keep secrets at Metadata level so their data never reaches the log.
    let ns = namespace(rng);
    let verb = *rng.pick(&["create", "update", "patch"]);
    let user = if rng.chance(700) {
        users::operator(rng)
    } else {
        users::writer(rng)
    };
    let name = format!("{}-tls", rng.pick(APPS));
    let t = target("secrets", "", "v1", Some(ns), written_name(verb, name));
    let uri = t.path();
    let mut env = allowed(Envelope::new(verb, user, t, uri));
    env.code = write_code(verb);
    env
}

fn role_create(rng: &mut Rng) -> Envelope {
    let cluster = rng.chance(400);
    let user = if rng.chance(600) {
        users::operator(rng)
    } else {
        users::writer(rng)
    };
    let name = format!(
        "{}-{}",
        rng.pick(APPS),
        rng.pick(&["reader", "operator", "deployer"])
    );
    let wildcard = rng.chance(50);
    let (t, obj) = if cluster {
        (
            target(
                "clusterroles",
                "rbac.authorization.k8s.io",
                "v1",
                None,
                None,
            ),
            role(rng, "ClusterRole", None, &name, wildcard),
        )
    } else {
        let ns = rng.pick(APP_NAMESPACES).to_string();
        let o = role(rng, "Role", Some(&ns), &name, wildcard);
        (
            target("roles", "rbac.authorization.k8s.io", "v1", Some(ns), None),
            o,
        )
    };
    let uri = t.path();
    let mut env = allowed(Envelope::new("create", user, t, uri));
    env.level = "RequestResponse";
    env.code = 201;
    env.request_object = Some(obj);
    env
}

fn binding_write(rng: &mut Rng) -> Envelope {
    let cluster = rng.chance(400);
    let user = if rng.chance(600) {
        users::operator(rng)
    } else {
        users::writer(rng)
    };
    let name = format!("{}-binding", rng.pick(APPS));
    let role_name = if rng.chance(50) {
        "cluster-admin"
    } else {
        "view"
    };
    let verb = *rng.pick(&["create", "update"]);
    let (t, obj) = if cluster {
        (
            target(
                "clusterrolebindings",
                "rbac.authorization.k8s.io",
                "v1",
                None,
                None,
            ),
            binding(
                rng,
                "ClusterRoleBinding",
                None,
                &name,
                "ClusterRole",
                role_name,
            ),
        )
    } else {
        let ns = rng.pick(APP_NAMESPACES).to_string();
        let o = binding(
            rng,
            "RoleBinding",
            Some(&ns),
            &name,
            "ClusterRole",
            role_name,
        );
        (
            target(
                "rolebindings",
                "rbac.authorization.k8s.io",
                "v1",
                Some(ns),
                None,
            ),
            o,
        )
    };
    let uri = t.path();
    let mut env = allowed(Envelope::new(verb, user, t, uri));
    env.level = "RequestResponse";
    env.code = write_code(verb);
    env.request_object = Some(obj);
    env
}

fn service_write(rng: &mut Rng) -> Envelope {
    let ns = rng.pick(APP_NAMESPACES).to_string();
    let name = rng.pick(APPS).to_string();
    let verb = *rng.pick(&["create", "update", "update"]);
    let user = users::writer(rng);
    let t = target(
        "services",
        "",
        "v1",
        Some(ns.clone()),
        written_name(verb, name.clone()),
    );
    let uri = t.path();
    let mut env = allowed(Envelope::new(verb, user, t, uri));
    env.level = "Request";
    env.code = write_code(verb);
    let node_port = rng.chance(100);
    env.request_object = Some(service(rng, &ns, &name, node_port));
    env
}

fn delete(rng: &mut Rng) -> Envelope {
    let (resource, group) = *rng.pick(&[
        ("pods", ""),
        ("pods", ""),
        ("configmaps", ""),
        ("replicasets", "apps"),
        ("jobs", "batch"),
        ("events", ""),
    ]);
    let user = if rng.chance(800) {
        users::controller(rng)
    } else {
        users::writer(rng)
    };
    let name = format!("{}-{}", rng.pick(APPS), rng.suffix(5));
    let t = target(
        resource,
        group,
        "v1",
        Some(namespace(rng)),
        Some(name.clone()),
    );
    let uri = t.path();
    let mut env = allowed(Envelope::new("delete", user, t, uri));
    env.level = "Request";
    env.request_object = Some(obj! {
        "kind" => "DeleteOptions", "apiVersion" => "meta.k8s.io/v1",
        "preconditions" => obj! { "uid" => rng.uuid() },
        "propagationPolicy" => "Background",
    });
    env
}

fn exec(rng: &mut Rng) -> Envelope {
    let user: User = if rng.chance(500) {
        users::admin(rng)
    } else {
        users::human(rng)
    };
    let sub = *rng.pick(&["exec", "exec", "exec", "attach", "portforward"]);
    let ns = rng.pick(APP_NAMESPACES).to_string();
    let pod_name = format!("{}-{}-{}", rng.pick(APPS), rng.suffix(10), rng.suffix(5));
    let mut t = target("pods", "", "v1", Some(ns), Some(pod_name));
    t.subresource = Some(sub);
    let uri = match sub {
        "exec" => format!(
            "{}?command=%2Fbin%2Fsh&command=-c&command={}&container=app&stdin=true&stdout=true&tty=true",
            t.path(),
            rng.pick(&["ls", "cat%20%2Fetc%2Fpasswd", "env", "ps%20aux"])
        ),
        "attach" => format!("{}?container=app&stdin=true&stdout=true&tty=true", t.path()),
        _ => format!("{}?ports=8080", t.path()),
    };
    let verb = if rng.chance(500) { "create" } else { "get" };
    let mut env = allowed(Envelope::new(verb, user, t, uri));
    env.stage = if rng.chance(500) {
        "ResponseStarted"
    } else {
        "ResponseComplete"
    };
    env.code = 101;
    env.latency_us = rng.range(1_000_000, 90_000_000);
    env
}

fn anonymous(rng: &mut Rng) -> Envelope {
    let user = users::anonymous(rng);
    let path = *rng.pick(&[
        "/healthz",
        "/readyz",
        "/livez",
        "/livez",
        "/readyz?verbose",
        "/version",
        "/api/v1/namespaces/kube-system/secrets",
    ]);
    let t = Target {
        resource: "",
        group: "",
        version: "",
        namespace: None,
        name: None,
        subresource: None,
    };
    let mut env = Envelope::new("get", user, t, path.to_string());
    env.target = None;
    if path.starts_with("/api/") {
        env.code = 403;
        env.decision = "forbid";
        env.failure = Some(("forbidden: User \"system:anonymous\" cannot get path \"/api/v1/namespaces/kube-system/secrets\"".to_string(), "Forbidden"));
    } else {
        env.rbac_reason = Some("RBAC: allowed by ClusterRoleBinding \"system:public-info-viewer\" of ClusterRole \"system:public-info-viewer\" to Group \"system:unauthenticated\"".to_string());
    }
    env.latency_us = rng.range(100, 1_500);
    env
}

fn unauthorized(rng: &mut Rng) -> Envelope {
    if rng.chance(250) {
        let user = users::unauthenticated(rng);
        let t = target("secrets", "", "v1", Some("kube-system".to_string()), None);
        let uri = t.path();
        let mut env = Envelope::new("list", user, t, uri);
        env.code = 401;
        env.decision = "";
        env.failure = Some(("Unauthorized".to_string(), "Unauthorized"));
        env.target = None;
        return env;
    }
    let user = if rng.chance(200) {
        users::human(rng)
    } else {
        users::operator(rng)
    };
    let (resource, group) = *rng.pick(&[
        ("secrets", ""),
        ("clusterroles", "rbac.authorization.k8s.io"),
        ("nodes", ""),
        ("pods", ""),
    ]);
    let verb = *rng.pick(&["get", "list", "create", "delete"]);
    let ns = if resource == "clusterroles" || resource == "nodes" {
        None
    } else {
        Some(namespace(rng))
    };
    let t = target(resource, group, "v1", ns.clone(), None);
    let uri = t.path();
    let message = format!(
        "{resource} is forbidden: User \"{}\" cannot {verb} resource \"{resource}\" in API group \"{group}\"{}",
        user.name,
        ns.map(|n| format!(" in the namespace \"{n}\"")).unwrap_or_else(|| " at the cluster scope".to_string())
    );
    let mut env = Envelope::new(verb, user, t, uri);
    env.code = 403;
    env.decision = "forbid";
    env.failure = Some((message, "Forbidden"));
    env
}
