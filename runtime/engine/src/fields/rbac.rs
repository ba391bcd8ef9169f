//! Role, role-binding and configmap fields (`ka.req.binding.*`, `ka.req.role.*`, `ka.req.configmap.obj`),
//! and `ka.sourceips`, which upstream reads from the role rules.

use super::walk::{index_filter, push_array_path, push_path, walk_top};
use crate::event::{Event, Top};
use crate::value::{Val, Values};
use kaudit_frontend::ir::FieldArg;
use std::borrow::Cow;

/// `ka.req.binding.subjects`: each subject of `requestObject.subjects` as JSON text.
pub fn ka_req_binding_subjects<'e>(ev: &'e Event<'e>, _arg: &FieldArg, out: &mut Values<'e>) {
    if ev.has_audit_id() {
        push_array_path(ev, Top::RequestObject, &["subjects"], out);
    }
}

/// Which subject names to list.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SubjectKind {
    User,
    ServiceAccount,
    /// ServiceAccount subjects as `namespace:name` (those without namespace skipped).
    NamespacedServiceAccount,
    Group,
}

fn subject_names<'e>(ev: &'e Event<'e>, kind: SubjectKind, out: &mut Values<'e>) {
    if !ev.has_audit_id() {
        return;
    }
    let Some(subjects) = ev.top(Top::RequestObject).and_then(|r| r.step("subjects")) else {
        return;
    };
    let want = match kind {
        SubjectKind::User => "User",
        SubjectKind::ServiceAccount | SubjectKind::NamespacedServiceAccount => "ServiceAccount",
        SubjectKind::Group => "Group",
    };
    for s in subjects.elements() {
        let (Some(k), Some(name)) = (s.step("kind"), s.step("name")) else {
            continue;
        };
        if k.text() != want {
            continue;
        }
        if kind == SubjectKind::NamespacedServiceAccount {
            let Some(ns) = s.step("namespace") else {
                continue;
            };
            out.push(Val::Str(Cow::Owned(format!(
                "{}:{}",
                ns.text(),
                name.text()
            ))));
        } else {
            out.push(Val::Str(name.text()));
        }
    }
}

/// Defines extractors that list the names of one kind of binding subject (`subject_names`).
macro_rules! subject_name_fields {
    ($($name:ident => $kind:ident;)*) => {$(
        pub fn $name<'e>(ev: &'e Event<'e>, _arg: &FieldArg, out: &mut Values<'e>) {
            subject_names(ev, SubjectKind::$kind, out);
        }
    )*};
}

subject_name_fields! {
    ka_req_binding_subjects_user_names => User;
    ka_req_binding_subjects_serviceaccount_names => ServiceAccount;
    ka_req_binding_subjects_serviceaccount_ns_names => NamespacedServiceAccount;
    ka_req_binding_subjects_group_names => Group;
}

/// `ka.req.binding.role`: `requestObject.roleRef.name`.
pub fn ka_req_binding_role<'e>(ev: &'e Event<'e>, _arg: &FieldArg, out: &mut Values<'e>) {
    if ev.has_audit_id() {
        push_path(ev, Top::RequestObject, &["roleRef", "name"], out);
    }
}

/// `ka.req.binding.subject.has_name[x]` (deprecated): always `true`, as upstream returns it.
pub fn ka_req_binding_subject_has_name<'e>(
    ev: &'e Event<'e>,
    _arg: &FieldArg,
    out: &mut Values<'e>,
) {
    if ev.has_audit_id() {
        out.push(Val::Str(Cow::Borrowed("true")));
    }
}

/// `ka.req.configmap.obj`: `requestObject.data` as JSON text.
pub fn ka_req_configmap_obj<'e>(ev: &'e Event<'e>, _arg: &FieldArg, out: &mut Values<'e>) {
    if ev.has_audit_id() {
        push_path(ev, Top::RequestObject, &["data"], out);
    }
}

/// `ka.req.role.rules`: each rule of `requestObject.rules` as JSON text.
pub fn ka_req_role_rules<'e>(ev: &'e Event<'e>, _arg: &FieldArg, out: &mut Values<'e>) {
    if ev.has_audit_id() {
        push_array_path(ev, Top::RequestObject, &["rules"], out);
    }
}

/// The elements of `rules[*].<key>` (or of rule N), flattened; non-array values are skipped.
fn rules_field<'e>(ev: &'e Event<'e>, arg: &FieldArg, key: &str, out: &mut Values<'e>) {
    if !ev.has_audit_id() {
        return;
    }
    let Ok(r) = walk_top(ev, Top::RequestObject, index_filter(arg), &["rules", key]) else {
        return;
    };
    for v in r.iter().flatten() {
        out.extend(v.elements().map(|e| Val::Str(e.text())));
    }
}

/// Defines extractors that list one member of the role rules (`rules_field`).
macro_rules! role_rule_fields {
    ($($name:ident => $key:literal;)*) => {$(
        pub fn $name<'e>(ev: &'e Event<'e>, arg: &FieldArg, out: &mut Values<'e>) {
            rules_field(ev, arg, $key, out);
        }
    )*};
}

role_rule_fields! {
    ka_req_role_rules_api_groups => "apiGroups";
    ka_req_role_rules_non_resource_urls => "nonResourceURLs";
    ka_req_role_rules_verbs => "verbs";
    ka_req_role_rules_resources => "resources";
    // `ka.sourceips`: upstream reads `requestObject.rules[*].sourceIPs` (plugins#236), never the
    // top-level `sourceIPs`; reproduced for compatibility.
    ka_sourceips => "sourceIPs";
}

#[cfg(test)]
mod tests {
    use crate::fields::testing::vals;

    fn req(obj: &str) -> String {
        format!(r#"{{"auditID":"x","sourceIPs":["10.0.0.1"],"requestObject":{obj}}}"#)
    }

    #[test]
    fn binding_subjects_by_kind() {
        let ev = req(
            r#"{"roleRef":{"kind":"ClusterRole","name":"cluster-admin"},"subjects":[{"kind":"User","name":"alice"},{"kind":"ServiceAccount","name":"sa1","namespace":"ns1"},{"kind":"ServiceAccount","name":"sa2"},{"kind":"Group","name":"devs"},{"kind":"User"},{"name":"nokind"}]}"#,
        );
        assert_eq!(
            vals(&ev, "ka.req.binding.subjects.user_names", None),
            vec!["alice"]
        );
        assert_eq!(
            vals(&ev, "ka.req.binding.subjects.serviceaccount_names", None),
            vec!["sa1", "sa2"]
        );
        assert_eq!(
            vals(&ev, "ka.req.binding.subjects.serviceaccount_ns_names", None),
            vec!["ns1:sa1"]
        );
        assert_eq!(
            vals(&ev, "ka.req.binding.subjects.group_names", None),
            vec!["devs"]
        );
        assert_eq!(
            vals(&ev, "ka.req.binding.role", None),
            vec!["cluster-admin"]
        );
        let subjects = vals(&ev, "ka.req.binding.subjects", None);
        assert_eq!(subjects.len(), 6);
        assert_eq!(subjects[0], r#"{"kind":"User","name":"alice"}"#);
        assert_eq!(
            vals(&ev, "ka.req.binding.subject.has_name", Some("anything")),
            vec!["true"]
        );
    }

    #[test]
    fn no_subjects_is_missing() {
        let ev = req(r#"{"data":{"k":"v"}}"#);
        assert!(vals(&ev, "ka.req.binding.subjects.user_names", None).is_empty());
        assert!(vals(&ev, "ka.req.binding.subjects", None).is_empty());
        assert_eq!(
            vals(&ev, "ka.req.binding.subject.has_name", Some("x")),
            vec!["true"],
            "always true"
        );
        assert_eq!(
            vals(&ev, "ka.req.configmap.obj", None),
            vec![r#"{"k":"v"}"#]
        );
    }

    #[test]
    fn role_rules_flatten_and_index() {
        let ev = req(
            r#"{"rules":[{"apiGroups":["","apps"],"resources":["pods"],"verbs":["get","list"]},{"apiGroups":["x"],"verbs":["*"],"nonResourceURLs":["/healthz"],"sourceIPs":["1.2.3.4"]},{"verbs":"notalist"}]}"#,
        );
        assert_eq!(
            vals(&ev, "ka.req.role.rules.verbs", None),
            vec!["get", "list", "*"]
        );
        assert_eq!(vals(&ev, "ka.req.role.rules.verbs", Some("1")), vec!["*"]);
        assert!(vals(&ev, "ka.req.role.rules.verbs", Some("2")).is_empty());
        assert!(vals(&ev, "ka.req.role.rules.verbs", Some("3")).is_empty());
        assert_eq!(
            vals(&ev, "ka.req.role.rules.apiGroups", None),
            vec!["", "apps", "x"]
        );
        assert_eq!(vals(&ev, "ka.req.role.rules.resources", None), vec!["pods"]);
        assert_eq!(
            vals(&ev, "ka.req.role.rules.nonResourceURLs", None),
            vec!["/healthz"]
        );
        assert_eq!(vals(&ev, "ka.req.role.rules", None).len(), 3);
        assert_eq!(vals(&ev, "ka.sourceips", None), vec!["1.2.3.4"]);
    }

    #[test]
    fn sourceips_ignores_the_top_level_member() {
        let ev = req(r#"{"kind":"Pod"}"#);
        assert!(vals(&ev, "ka.sourceips", None).is_empty());
    }
}
