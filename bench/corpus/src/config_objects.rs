//! ConfigMaps, Services and RBAC objects as clients send them.

use crate::json::J;
use crate::rng::Rng;
use crate::{arr, obj};

/// A ConfigMap whose data runs from a few lines to tens of KB; `credentials` plants a password
/// (what "Create/Modify Configmap With Private Credentials" looks for).
pub fn configmap(rng: &mut Rng, ns: &str, name: &str, credentials: bool) -> J {
    let mut data = obj! {};
    let big = rng.chance(150);
    let lines = if big {
        rng.range(300, 900)
    } else {
        rng.range(5, 60)
    };
    let mut yaml = String::new();
    for i in 0..lines {
        yaml.push_str(&format!(
            "{}:\n  endpoint: https://svc-{}.{ns}.svc.cluster.local:{}\n  timeout: {}s\n",
            rng.pick(&["upstream", "cache", "queue", "search", "metrics"]),
            i,
            rng.pick(&[80, 443, 8080, 9090]),
            rng.range(1, 60)
        ));
    }
    data.push("config.yaml", yaml);
    if rng.chance(500) {
        data.push(
            "nginx.conf",
            "worker_processes auto;\nevents { worker_connections 1024; }\nhttp {\n  server {\n    listen 8080;\n    location / { proxy_pass http://127.0.0.1:9000; }\n  }\n}\n",
        );
    }
    let mut props = format!(
        "log.level=info\nfeature.checkout.v2=true\nretry.max={}\n",
        rng.range(1, 9)
    );
    if credentials {
        props.push_str(&format!("db.user=app\ndb.password={}\n", rng.hex(24)));
    }
    data.push("application.properties", props);
    obj! {
        "kind" => "ConfigMap",
        "apiVersion" => "v1",
        "metadata" => obj! {
            "name" => name,
            "namespace" => ns,
            "creationTimestamp" => J::Null,
            "labels" => obj! { "app.kubernetes.io/name" => name, "app.kubernetes.io/managed-by" => "Helm" },
            "annotations" => obj! { "meta.helm.sh/release-name" => name, "meta.helm.sh/release-namespace" => ns },
        },
        "data" => data,
    }
}

pub fn service(rng: &mut Rng, ns: &str, name: &str, node_port: bool) -> J {
    let mut port =
        obj! { "name" => "http", "protocol" => "TCP", "port" => 80i64, "targetPort" => 8080i64 };
    if node_port {
        port.push("nodePort", rng.range(30000, 32767));
    }
    obj! {
        "kind" => "Service",
        "apiVersion" => "v1",
        "metadata" => obj! { "name" => name, "namespace" => ns, "creationTimestamp" => J::Null, "labels" => obj! { "app.kubernetes.io/name" => name } },
        "spec" => obj! {
            "ports" => arr![port, obj! { "name" => "metrics", "protocol" => "TCP", "port" => 9090i64, "targetPort" => 9090i64 }],
            "selector" => obj! { "app.kubernetes.io/name" => name },
            "type" => if node_port { "NodePort" } else { "ClusterIP" },
            "sessionAffinity" => "None",
        },
        "status" => obj! { "loadBalancer" => obj! {} },
    }
}

const READ_VERBS: &[&str] = &["get", "list", "watch"];
const WRITE_VERBS: &[&str] = &[
    "get", "list", "watch", "create", "update", "patch", "delete",
];

/// A Role or ClusterRole with 1–6 rules; `wildcard` grants `*` (a rule matches it).
pub fn role(rng: &mut Rng, kind: &str, ns: Option<&str>, name: &str, wildcard: bool) -> J {
    let mut rules = Vec::new();
    for _ in 0..rng.range(1, 6) {
        let (group, resources) = *rng.pick(&[
            ("", &["pods", "pods/log", "services", "endpoints"][..]),
            ("", &["configmaps"][..]),
            ("apps", &["deployments", "replicasets", "statefulsets"][..]),
            ("batch", &["jobs", "cronjobs"][..]),
            ("networking.k8s.io", &["ingresses", "networkpolicies"][..]),
            (
                "monitoring.coreos.com",
                &["servicemonitors", "prometheusrules"][..],
            ),
        ]);
        let verbs = if rng.chance(300) {
            WRITE_VERBS
        } else {
            READ_VERBS
        };
        rules.push(obj! { "apiGroups" => vec![group], "resources" => resources.to_vec(), "verbs" => verbs.to_vec() });
    }
    if wildcard {
        rules.push(
            obj! { "apiGroups" => arr!["*"], "resources" => arr!["*"], "verbs" => arr!["*"] },
        );
    }
    let mut meta = obj! { "name" => name };
    if let Some(ns) = ns {
        meta.push("namespace", ns);
    }
    meta.push("creationTimestamp", J::Null);
    meta.push("labels", obj! { "app.kubernetes.io/managed-by" => "Helm" });
    obj! { "kind" => kind, "apiVersion" => "rbac.authorization.k8s.io/v1", "metadata" => meta, "rules" => J::Arr(rules) }
}

pub fn binding(
    rng: &mut Rng,
    kind: &str,
    ns: Option<&str>,
    name: &str,
    role_kind: &str,
    role: &str,
) -> J {
    let mut meta = obj! { "name" => name };
    if let Some(ns) = ns {
        meta.push("namespace", ns);
    }
    meta.push("creationTimestamp", J::Null);
    let mut subjects = Vec::new();
    for i in 0..rng.range(1, 3) {
        subjects.push(obj! { "kind" => "ServiceAccount", "name" => format!("{name}-{i}"), "namespace" => ns.unwrap_or("default") });
    }
    obj! {
        "kind" => kind,
        "apiVersion" => "rbac.authorization.k8s.io/v1",
        "metadata" => meta,
        "roleRef" => obj! { "apiGroup" => "rbac.authorization.k8s.io", "kind" => role_kind, "name" => role },
        "subjects" => J::Arr(subjects),
    }
}
