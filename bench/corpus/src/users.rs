//! The callers seen in a typical cluster's audit log.

use crate::json::J;
use crate::rng::Rng;
use crate::{arr, obj};

pub const K8S_VERSION: &str = "v1.29.2";
const GIT: &str = "kubernetes/4b8e819";

/// An authenticated (or anonymous) caller plus the user agent and source address it uses.
pub struct User {
    pub json: J,
    pub name: String,
    pub user_agent: String,
    pub source_ip: String,
}

fn groups(list: &[&str]) -> J {
    J::Arr(list.iter().map(|g| J::from(*g)).collect())
}

pub fn kubelet(rng: &mut Rng) -> User {
    let node = rng.range(1, 40);
    let name = format!(
        "system:node:ip-10-0-{}-{}.ec2.internal",
        node / 8,
        10 + node
    );
    User {
        json: obj! { "username" => &name, "groups" => groups(&["system:nodes", "system:authenticated"]) },
        user_agent: format!("kubelet/{K8S_VERSION} (linux/amd64) {GIT}"),
        source_ip: format!("10.0.{}.{}", node / 8, 10 + node),
        name,
    }
}

const CONTROLLERS: &[&str] = &[
    "replicaset-controller",
    "deployment-controller",
    "endpointslice-controller",
    "endpoint-controller",
    "daemon-set-controller",
    "job-controller",
    "namespace-controller",
    "generic-garbage-collector",
    "node-controller",
    "statefulset-controller",
    "resourcequota-controller",
    "horizontal-pod-autoscaler",
];

/// A kube-controller-manager service account (`kube-system`).
pub fn controller(rng: &mut Rng) -> User {
    controller_named(rng.pick::<&str>(CONTROLLERS))
}

pub fn controller_named(sa: &str) -> User {
    let name = format!("system:serviceaccount:kube-system:{sa}");
    User {
        json: obj! {
            "username" => &name,
            "uid" => format!("5b1c{:04x}-7d0e-4c1f-9a8e-2f3a6c1d{:04x}", sa.len() * 97, sa.len() * 31),
            "groups" => groups(&["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"]),
        },
        user_agent: format!("kube-controller-manager/{K8S_VERSION} (linux/amd64) {GIT}/system:serviceaccount:kube-system:{sa}"),
        source_ip: "10.0.0.10".to_string(),
        name,
    }
}

/// Control-plane components authenticating with their own certificates.
pub fn control_plane(rng: &mut Rng) -> User {
    let (name, agent) = *rng.pick(&[
        ("system:kube-controller-manager", "kube-controller-manager"),
        ("system:kube-scheduler", "kube-scheduler"),
        ("system:apiserver", "kube-apiserver"),
        ("system:kube-proxy", "kube-proxy"),
    ]);
    User {
        json: obj! { "username" => name, "groups" => groups(&["system:authenticated"]) },
        user_agent: format!("{agent}/{K8S_VERSION} (linux/amd64) {GIT}/leader-election"),
        source_ip: "10.0.0.10".to_string(),
        name: name.to_string(),
    }
}

const OPERATORS: &[(&str, &str, &str)] = &[
    ("monitoring", "prometheus-k8s", "Prometheus/2.48.1"),
    (
        "monitoring",
        "kube-state-metrics",
        "kube-state-metrics/v2.10.1 (linux/amd64) kube-state-metrics/8ed1b4a",
    ),
    (
        "argocd",
        "argocd-application-controller",
        "argocd-application-controller/v2.9.3 (linux/amd64) kubernetes/$Format",
    ),
    (
        "cert-manager",
        "cert-manager",
        "cert-manager-controller/v1.13.3 (linux/amd64) cert-manager/a1b2c3d",
    ),
    (
        "ingress-nginx",
        "ingress-nginx",
        "nginx-ingress-controller/v1.9.5 (linux/amd64) ingress-nginx/f503c4b",
    ),
    (
        "kube-system",
        "coredns",
        "coredns/1.11.1 (linux/amd64) kubernetes/$Format",
    ),
    (
        "kube-system",
        "cluster-autoscaler",
        "cluster-autoscaler/v1.29.0 (linux/amd64) kubernetes/$Format",
    ),
];

/// An in-cluster operator using a bound service-account token (carries `extra` claims).
pub fn operator(rng: &mut Rng) -> User {
    let (ns, sa, agent) = *rng.pick(OPERATORS);
    let name = format!("system:serviceaccount:{ns}:{sa}");
    let pod = format!("{sa}-{}-{}", rng.suffix(10), rng.suffix(5));
    User {
        json: obj! {
            "username" => &name,
            "uid" => rng.uuid(),
            "groups" => vec!["system:serviceaccounts".to_string(), format!("system:serviceaccounts:{ns}"), "system:authenticated".to_string()],
            "extra" => obj! {
                "authentication.kubernetes.io/credential-id" => arr![format!("JTI={}", rng.uuid())],
                "authentication.kubernetes.io/node-name" => arr![format!("ip-10-0-{}-{}.ec2.internal", rng.below(5), rng.range(10, 50))],
                "authentication.kubernetes.io/node-uid" => arr![rng.uuid()],
                "authentication.kubernetes.io/pod-name" => arr![pod],
                "authentication.kubernetes.io/pod-uid" => arr![rng.uuid()],
            },
        },
        user_agent: agent.to_string(),
        source_ip: format!("10.244.{}.{}", rng.below(8), rng.range(2, 250)),
        name,
    }
}

/// The cluster admin (on Falco's allowed-user list).
pub fn admin(rng: &mut Rng) -> User {
    User {
        json: obj! { "username" => "kubernetes-admin", "groups" => groups(&["kubeadm:cluster-admins", "system:authenticated"]) },
        user_agent: format!("kubectl/{K8S_VERSION} (linux/amd64) {GIT}"),
        source_ip: format!("192.168.{}.{}", rng.below(4), rng.range(2, 250)),
        name: "kubernetes-admin".to_string(),
    }
}

/// A person or CI identity outside Falco's allowed-user list (what "Disallowed K8s User" reports).
pub fn human(rng: &mut Rng) -> User {
    let (name, group) = *rng.pick(&[
        ("alice@example.com", "developers"),
        ("bob@example.com", "developers"),
        ("carol@example.com", "sre"),
        ("ci-deployer", "ci"),
    ]);
    User {
        json: obj! {
            "username" => name,
            "groups" => vec![group, "system:authenticated"],
            "extra" => obj! { "scopes.authorization.openshift.io" => arr![], "iam.example.com/session" => arr![rng.hex(16)] },
        },
        user_agent: format!("kubectl/{K8S_VERSION} (darwin/arm64) {GIT}"),
        source_ip: format!("203.0.113.{}", rng.range(2, 250)),
        name: name.to_string(),
    }
}

pub fn anonymous(rng: &mut Rng) -> User {
    User {
        json: obj! { "username" => "system:anonymous", "groups" => groups(&["system:unauthenticated"]) },
        user_agent: rng
            .pick(&[
                "kube-probe/1.29",
                "curl/8.5.0",
                "Go-http-client/1.1",
                "python-requests/2.31.0",
            ])
            .to_string(),
        source_ip: format!("10.0.{}.{}", rng.below(5), rng.range(2, 250)),
        name: "system:anonymous".to_string(),
    }
}

/// A request whose credentials were rejected (401): the user is empty.
pub fn unauthenticated(rng: &mut Rng) -> User {
    User {
        json: obj! {},
        user_agent: String::new(),
        source_ip: format!("198.51.100.{}", rng.range(2, 250)),
        name: String::new(),
    }
}

/// Anyone who commonly reads: nodes, controllers, control plane, operators, rarely humans.
pub fn reader(rng: &mut Rng) -> User {
    match rng.weighted(&[400, 250, 100, 200, 45, 5]) {
        0 => kubelet(rng),
        1 => controller(rng),
        2 => control_plane(rng),
        3 => operator(rng),
        4 => admin(rng),
        _ => human(rng),
    }
}

/// Who writes workload objects: mostly controllers and GitOps, some admins and humans.
pub fn writer(rng: &mut Rng) -> User {
    match rng.weighted(&[45, 35, 15, 5]) {
        0 => controller(rng),
        1 => operator(rng),
        2 => admin(rng),
        _ => human(rng),
    }
}
