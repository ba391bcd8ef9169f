//! The audit.k8s.io/v1 Event envelope: identity, request line, response status, timestamps,
//! authorization annotations. Member order follows kube-apiserver's.

use crate::json::J;
use crate::obj;
use crate::rng::Rng;
use crate::users::User;

/// Simulated wall clock: microseconds since the corpus start (2026-03-14T08:00:00Z).
pub struct Clock {
    pub micros: u64,
}

impl Clock {
    pub fn tick(&mut self, rng: &mut Rng) -> u64 {
        self.micros += rng.range(50, 4000);
        self.micros
    }
}

pub fn timestamp(micros: u64) -> String {
    let secs = 8 * 3600 + micros / 1_000_000;
    let day = 14 + secs / 86_400;
    let s = secs % 86_400;
    format!(
        "2026-03-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        s / 3600,
        (s / 60) % 60,
        s % 60,
        micros % 1_000_000
    )
}

/// Where a request was aimed.
pub struct Target {
    pub resource: &'static str,
    pub group: &'static str,
    pub version: &'static str,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<&'static str>,
}

impl Target {
    pub fn path(&self) -> String {
        let mut p = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        if let Some(ns) = &self.namespace {
            p.push_str("/namespaces/");
            p.push_str(ns);
        }
        p.push('/');
        p.push_str(self.resource);
        if let Some(n) = &self.name {
            p.push('/');
            p.push_str(n);
        }
        if let Some(s) = self.subresource {
            p.push('/');
            p.push_str(s);
        }
        p
    }

    fn object_ref(&self, resource_version: Option<String>) -> J {
        let mut o = obj! { "resource" => self.resource };
        if let Some(ns) = &self.namespace {
            o.push("namespace", ns.as_str());
        }
        if let Some(n) = &self.name {
            o.push("name", n.as_str());
        }
        if !self.group.is_empty() {
            o.push("apiGroup", self.group);
        }
        o.push("apiVersion", self.version);
        if let Some(rv) = resource_version {
            o.push("resourceVersion", rv);
        }
        if let Some(s) = self.subresource {
            o.push("subresource", s);
        }
        o
    }
}

/// Everything that varies between events; `render` lays it out.
pub struct Envelope {
    pub level: &'static str,
    pub stage: &'static str,
    pub verb: &'static str,
    pub uri: String,
    pub user: User,
    pub impersonated: Option<J>,
    pub target: Option<Target>,
    pub code: i64,
    /// Extra members of `responseStatus` for failures (status, message, reason, details).
    pub failure: Option<(String, &'static str)>,
    pub request_object: Option<J>,
    pub response_object: Option<J>,
    /// `allow` or `forbid`; empty when the request never reached authorization (no annotations).
    pub decision: &'static str,
    pub rbac_reason: Option<String>,
    pub latency_us: u64,
}

impl Envelope {
    pub fn new(verb: &'static str, user: User, target: Target, uri: String) -> Envelope {
        Envelope {
            level: "Metadata",
            stage: "ResponseComplete",
            verb,
            uri,
            user,
            impersonated: None,
            target: Some(target),
            code: 200,
            failure: None,
            request_object: None,
            response_object: None,
            decision: "allow",
            rbac_reason: None,
            latency_us: 2_000,
        }
    }

    pub fn render(self, rng: &mut Rng, clock: &mut Clock) -> J {
        let received = clock.tick(rng);
        let mut e = obj! {
            "kind" => "Event",
            "apiVersion" => "audit.k8s.io/v1",
            "level" => self.level,
            "auditID" => rng.uuid(),
            "stage" => self.stage,
            "requestURI" => self.uri,
            "verb" => self.verb,
            "user" => self.user.json,
        };
        if let Some(imp) = self.impersonated {
            e.push("impersonatedUser", imp);
        }
        e.push("sourceIPs", vec![self.user.source_ip]);
        if !self.user.user_agent.is_empty() {
            e.push("userAgent", self.user.user_agent);
        }
        if let Some(t) = &self.target {
            let rv = if self.verb == "watch" || self.verb == "list" {
                None
            } else if rng.chance(300) {
                Some(rng.range(1_000_000, 99_999_999).to_string())
            } else {
                None
            };
            e.push("objectRef", t.object_ref(rv));
        }
        let mut status = obj! { "metadata" => obj! {} };
        if let Some((message, reason)) = self.failure {
            status.push("status", "Failure");
            status.push("message", message);
            status.push("reason", reason);
            if let Some(t) = &self.target {
                let mut details = obj! {};
                if let Some(n) = &t.name {
                    details.push("name", n.as_str());
                }
                if !t.group.is_empty() {
                    details.push("group", t.group);
                }
                details.push("kind", t.resource);
                status.push("details", details);
            }
        }
        status.push("code", self.code);
        e.push("responseStatus", status);
        if let Some(o) = self.request_object {
            e.push("requestObject", o);
        }
        if let Some(o) = self.response_object {
            e.push("responseObject", o);
        }
        e.push("requestReceivedTimestamp", timestamp(received));
        let done = received + self.latency_us.max(1);
        e.push("stageTimestamp", timestamp(done));
        if self.decision.is_empty() {
            // Rejected before authorization (401): no authorization annotations.
            return e;
        }
        let mut ann = obj! { "authorization.k8s.io/decision" => self.decision };
        ann.push(
            "authorization.k8s.io/reason",
            self.rbac_reason.unwrap_or_default(),
        );
        if self.code == 200 && (self.verb == "create" || self.verb == "update") && rng.chance(200) {
            ann.push(
                "pod-security.kubernetes.io/enforce-policy",
                "baseline:latest",
            );
        }
        e.push("annotations", ann);
        e
    }
}

/// The RBAC reason string the authorizer writes for an allowed request.
pub fn rbac_reason(user: &str) -> String {
    if user.starts_with("system:serviceaccount:kube-system:") {
        let sa = user.rsplit(':').next().unwrap_or_default();
        format!(
            "RBAC: allowed by ClusterRoleBinding \"system:controller:{sa}\" of ClusterRole \"system:controller:{sa}\" to ServiceAccount \"{sa}/kube-system\""
        )
    } else if user.starts_with("system:node:") {
        String::new()
    } else if user == "kubernetes-admin" {
        "RBAC: allowed by ClusterRoleBinding \"kubeadm:cluster-admins\" of ClusterRole \"cluster-admin\" to Group \"kubeadm:cluster-admins\"".to_string()
    } else {
        format!("RBAC: allowed by RoleBinding \"edit-binding/apps\" of ClusterRole \"edit\" to User \"{user}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_roll_over_minutes_hours_and_days() {
        assert_eq!(timestamp(0), "2026-03-14T08:00:00.000000Z");
        assert_eq!(timestamp(61_000_001), "2026-03-14T08:01:01.000001Z");
        assert_eq!(
            timestamp(16 * 3600 * 1_000_000),
            "2026-03-15T00:00:00.000000Z"
        );
    }

    #[test]
    fn paths_for_core_grouped_namespaced_and_subresources() {
        let t = Target {
            resource: "pods",
            group: "",
            version: "v1",
            namespace: Some("web".into()),
            name: Some("p1".into()),
            subresource: Some("exec"),
        };
        assert_eq!(t.path(), "/api/v1/namespaces/web/pods/p1/exec");
        let t = Target {
            resource: "clusterroles",
            group: "rbac.authorization.k8s.io",
            version: "v1",
            namespace: None,
            name: None,
            subresource: None,
        };
        assert_eq!(t.path(), "/apis/rbac.authorization.k8s.io/v1/clusterroles");
    }
}
