//! The extractor functions named by the catalog's `extractor` column (`kaudit_frontend::field_catalog!`).
//!
//! This module holds the fields read from one plain path of the event and re-exports the others,
//! which live in topic modules. Every `ka.*` extractor first applies the auditID gate
//! (docs/semantics.md#ka-field-extraction).

use super::walk::{push_array_path, push_path};
use crate::event::{Event, Top};
use crate::value::Values;
use kaudit_frontend::ir::FieldArg;

pub use super::generic::*;
pub use super::json_plugin::*;
pub use super::pod::*;
pub use super::rbac::*;
pub use super::uri::ka_uri_param;

/// Defines extractors that read one plain path below a top-level member (single values).
macro_rules! path_fields {
    ($($name:ident => $top:ident $([$($key:literal),*])?;)*) => {$(
        pub fn $name<'e>(ev: &'e Event<'e>, _arg: &FieldArg, out: &mut Values<'e>) {
            if ev.has_audit_id() {
                push_path(ev, Top::$top, &[$($($key),*)?], out);
            }
        }
    )*};
}

path_fields! {
    ka_auditid => AuditId;
    ka_stage => Stage;
    ka_auth_decision => Annotations ["authorization.k8s.io/decision"];
    ka_auth_reason => Annotations ["authorization.k8s.io/reason"];
    ka_auth_openshift_decision => Annotations ["authentication.openshift.io/decision"];
    ka_auth_openshift_username => Annotations ["authentication.openshift.io/username"];
    ka_validations_admission_policy_failure => Annotations ["validation.policy.admission.k8s.io/validation_failure"];
    ka_security_pod_violations => Annotations ["pod-security.kubernetes.io/audit-violations"];
    ka_cluster_name => Annotations ["cluster_name"];
    ka_user_name => User ["username"];
    ka_impuser_name => ImpersonatedUser ["username"];
    ka_verb => Verb;
    ka_uri => RequestUri;
    ka_target_name => ObjectRef ["name"];
    ka_target_namespace => ObjectRef ["namespace"];
    ka_target_resource => ObjectRef ["resource"];
    ka_target_subresource => ObjectRef ["subresource"];
    ka_req_configmap_name => ObjectRef ["name"];
    ka_resp_name => ResponseObject ["metadata", "name"];
    ka_response_code => ResponseStatus ["code"];
    ka_response_reason => ResponseStatus ["reason"];
    ka_useragent => UserAgent;
}

/// `ka.user.groups`: the elements of `user.groups` (an array; anything else is missing).
pub fn ka_user_groups<'e>(ev: &'e Event<'e>, _arg: &FieldArg, out: &mut Values<'e>) {
    if ev.has_audit_id() {
        push_array_path(ev, Top::User, &["groups"], out);
    }
}

/// `ka.target.pod.name`: the response object's name, only for `pods` requests without a subresource
/// (a non-string or null subresource counts as none, as upstream reads it as a string).
pub fn ka_target_pod_name<'e>(ev: &'e Event<'e>, _arg: &FieldArg, out: &mut Values<'e>) {
    if !ev.has_audit_id() {
        return;
    }
    let obj = ev.top(Top::ObjectRef);
    let string_at = |key: &str| obj.and_then(|o| o.step(key)).and_then(|n| n.as_str());
    if string_at("resource").as_deref() != Some("pods") {
        return;
    }
    if string_at("subresource").is_some_and(|s| !s.is_empty()) {
        return;
    }
    push_path(ev, Top::ResponseObject, &["metadata", "name"], out);
}

#[cfg(test)]
mod tests {
    use crate::fields::testing::vals;

    const EV: &str = r#"{"auditID":"id-1","stage":"ResponseComplete","verb":"create","requestURI":"/api/v1/x?a=1",
      "user":{"username":"alice","groups":["g1","g2"]},"impersonatedUser":{"username":"bob"},
      "objectRef":{"resource":"pods","namespace":"ns","name":"p1","subresource":null},
      "responseStatus":{"code":201,"reason":"Created"},"userAgent":"kubectl",
      "annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"","cluster_name":"c1",
        "authentication.openshift.io/decision":"d","authentication.openshift.io/username":"ou",
        "validation.policy.admission.k8s.io/validation_failure":"vf","pod-security.kubernetes.io/audit-violations":"pv"},
      "responseObject":{"metadata":{"name":"resp-name"}}}"#;

    #[test]
    fn plain_path_fields() {
        for (name, want) in [
            ("ka.auditid", "id-1"),
            ("ka.stage", "ResponseComplete"),
            ("ka.verb", "create"),
            ("ka.uri", "/api/v1/x?a=1"),
            ("ka.user.name", "alice"),
            ("ka.impuser.name", "bob"),
            ("ka.target.resource", "pods"),
            ("ka.target.namespace", "ns"),
            ("ka.target.name", "p1"),
            ("ka.req.configmap.name", "p1"),
            ("ka.response.code", "201"),
            ("ka.response.reason", "Created"),
            ("ka.useragent", "kubectl"),
            ("ka.auth.decision", "allow"),
            ("ka.auth.reason", ""),
            ("ka.auth.openshift.decision", "d"),
            ("ka.auth.openshift.username", "ou"),
            ("ka.validations.admission.policy.failure", "vf"),
            ("ka.security.pod.violations", "pv"),
            ("ka.cluster.name", "c1"),
            ("ka.resp.name", "resp-name"),
        ] {
            assert_eq!(vals(EV, name, None), vec![want.to_string()], "{name}");
        }
    }

    #[test]
    fn null_is_the_text_null_and_exists() {
        assert_eq!(vals(EV, "ka.target.subresource", None), vec!["null"]);
    }

    #[test]
    fn list_field_reads_array_elements() {
        assert_eq!(vals(EV, "ka.user.groups", None), vec!["g1", "g2"]);
        for groups in ["[]", "null", "\"g\"", "{}"] {
            let ev = format!(r#"{{"auditID":"x","user":{{"groups":{groups}}}}}"#);
            assert!(vals(&ev, "ka.user.groups", None).is_empty(), "{groups}");
        }
        let ev = r#"{"auditID":"x","user":{"groups":[1,null,{"a":[true]}]}}"#;
        assert_eq!(
            vals(ev, "ka.user.groups", None),
            vec!["1", "null", r#"{"a":[true]}"#]
        );
    }

    #[test]
    fn absent_paths_are_missing() {
        let ev = r#"{"auditID":"x","user":"notanobject","objectRef":{}}"#;
        for name in [
            "ka.user.name",
            "ka.target.name",
            "ka.verb",
            "ka.response.code",
            "ka.auth.decision",
            "ka.resp.name",
        ] {
            assert!(vals(ev, name, None).is_empty(), "{name}");
        }
    }

    #[test]
    fn audit_id_gate_hides_every_ka_field() {
        let ev =
            r#"{"verb":"get","user":{"username":"u"},"stageTimestamp":"2024-01-02T03:04:05Z"}"#;
        assert!(vals(ev, "ka.verb", None).is_empty());
        assert!(vals(ev, "ka.user.name", None).is_empty());
        assert!(vals(ev, "ka.req.binding.subject.has_name", Some("x")).is_empty());
        assert_eq!(vals(ev, "jevt.value", Some("/verb")), vec!["get"]);
        let with_null_id = r#"{"auditID":null,"verb":"get"}"#;
        assert_eq!(vals(with_null_id, "ka.verb", None), vec!["get"]);
    }

    #[test]
    fn target_pod_name_only_for_pods_without_subresource() {
        assert_eq!(
            vals(EV, "ka.target.pod.name", None),
            vec!["resp-name"],
            "null subresource counts as absent"
        );
        let sub = EV.replace(r#""subresource":null"#, r#""subresource":"exec""#);
        assert!(vals(&sub, "ka.target.pod.name", None).is_empty());
        let empty = EV.replace(r#""subresource":null"#, r#""subresource":"""#);
        assert_eq!(vals(&empty, "ka.target.pod.name", None), vec!["resp-name"]);
        let other = EV.replace(r#""resource":"pods""#, r#""resource":"secrets""#);
        assert!(vals(&other, "ka.target.pod.name", None).is_empty());
    }

    #[test]
    fn escaped_strings_are_unescaped() {
        let ev = r#"{"auditID":"x","user":{"username":"a\"b\u00e9"}}"#;
        assert_eq!(vals(ev, "ka.user.name", None), vec!["a\"bé"]);
    }
}
