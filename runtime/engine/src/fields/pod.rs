//! Pod, container, volume and service fields (`ka.req.pod.*`, `ka.req.container.*`, `ka.req.volume.*`,
//! `ka.req.service.*`), including the `initContainers`/`ephemeralContainers` variants (k8saudit 0.18.0).

use super::walk::{
    index_filter, push_array_path, push_path, push_reached, walk_top, NotAvailable, Reached,
};
use crate::event::{Event, Top};
use crate::json::Kind;
use crate::value::{Val, Values};
use kaudit_frontend::ir::FieldArg;
use std::borrow::Cow;

/// The container lists of a pod spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerList {
    Containers,
    InitContainers,
    EphemeralContainers,
}

impl ContainerList {
    fn key(self) -> &'static str {
        match self {
            ContainerList::Containers => "containers",
            ContainerList::InitContainers => "initContainers",
            ContainerList::EphemeralContainers => "ephemeralContainers",
        }
    }
}

/// Walks `spec.<list>.<sub...>` of the request object.
fn containers<'e>(
    ev: &'e Event<'e>,
    list: ContainerList,
    filter: Option<usize>,
    sub: &[&str],
) -> Result<Reached<'e, 'e>, NotAvailable> {
    let mut keys: [&str; 6] = ["spec", list.key(), "", "", "", ""];
    let n = 2 + sub.len().min(4);
    for (slot, k) in keys.iter_mut().skip(2).zip(sub) {
        *slot = k;
    }
    walk_top(ev, Top::RequestObject, filter, keys.get(..n).unwrap_or(&[]))
}

/// Every container's value at `sub`; containers lacking it are skipped.
fn container_values<'e>(
    ev: &'e Event<'e>,
    list: ContainerList,
    arg: &FieldArg,
    sub: &[&str],
    out: &mut Values<'e>,
) {
    if let Ok(r) = containers(ev, list, index_filter(arg), sub) {
        push_reached(&r, out);
    }
}

/// Container names or images: a container lacking the key makes the whole field missing.
fn strict_strings<'e>(
    ev: &'e Event<'e>,
    list: ContainerList,
    filter: Option<usize>,
    key: &str,
) -> Option<Vec<Cow<'e, str>>> {
    let r = containers(ev, list, filter, &[key]).ok()?;
    r.iter().map(|n| n.map(|n| n.text())).collect()
}

/// An image without tag or digest, cut as upstream does: at the first `:`, then at the first `@`.
pub fn image_repository(image: &str) -> &str {
    let no_tag = image.split(':').next().unwrap_or(image);
    no_tag.split('@').next().unwrap_or(no_tag)
}

fn repo_of(image: Cow<'_, str>) -> Cow<'_, str> {
    match image {
        Cow::Borrowed(s) => Cow::Borrowed(image_repository(s)),
        Cow::Owned(s) => Cow::Owned(image_repository(&s).to_string()),
    }
}

fn names<'e>(ev: &'e Event<'e>, list: ContainerList, arg: &FieldArg, out: &mut Values<'e>) {
    if let Some(v) = strict_strings(ev, list, index_filter(arg), "name") {
        out.extend(v.into_iter().map(Val::Str));
    }
}

fn images<'e>(ev: &'e Event<'e>, list: ContainerList, arg: &FieldArg, out: &mut Values<'e>) {
    if let Some(v) = strict_strings(ev, list, index_filter(arg), "image") {
        out.extend(v.into_iter().map(Val::Str));
    }
}

fn repositories<'e>(ev: &'e Event<'e>, list: ContainerList, arg: &FieldArg, out: &mut Values<'e>) {
    if let Some(v) = strict_strings(ev, list, index_filter(arg), "image") {
        out.extend(v.into_iter().map(|i| Val::Str(repo_of(i))));
    }
}

/// `command`/`args`: per container having the key, its string array joined with spaces. A non-array
/// or a non-string element makes the whole field missing.
fn joined<'e>(
    ev: &'e Event<'e>,
    list: ContainerList,
    arg: &FieldArg,
    key: &str,
    out: &mut Values<'e>,
) {
    let Ok(r) = containers(ev, list, index_filter(arg), &[key]) else {
        return;
    };
    let mut vals = Values::new();
    for n in r.iter().flatten() {
        if !n.is_array() {
            return;
        }
        let mut joined = String::new();
        for (i, e) in n.elements().enumerate() {
            let Some(s) = e.as_str() else { return };
            if i > 0 {
                joined.push(' ');
            }
            joined.push_str(&s);
        }
        vals.push(Val::Str(Cow::Owned(joined)));
    }
    out.extend(vals);
}

/// `host_port`: for every port of each container, `hostPort` if present, else `containerPort`.
fn host_ports<'e>(ev: &'e Event<'e>, list: ContainerList, arg: &FieldArg, out: &mut Values<'e>) {
    let Ok(r) = containers(ev, list, index_filter(arg), &["ports"]) else {
        return;
    };
    let mut vals = Values::new();
    for ports in r.iter().flatten() {
        if !ports.is_array() {
            return;
        }
        for port in ports.elements() {
            if let Some(p) = port.step("hostPort").or_else(|| port.step("containerPort")) {
                vals.push(Val::Str(p.text()));
            }
        }
    }
    out.extend(vals);
}

/// `eff_run_as_user/group`: per container `<key>` (note: not under securityContext, as upstream reads
/// it), else the pod's `spec.<key>`, else `0`.
fn effective<'e>(
    ev: &'e Event<'e>,
    list: ContainerList,
    arg: &FieldArg,
    key: &str,
    out: &mut Values<'e>,
) {
    let pod = ev
        .top(Top::RequestObject)
        .and_then(|r| r.path(&["spec", key]))
        .map(|n| n.text());
    let Ok(r) = containers(ev, list, index_filter(arg), &[key]) else {
        return;
    };
    for n in &r {
        let v = match n {
            Some(n) => n.text(),
            None => pod.clone().unwrap_or(Cow::Borrowed("0")),
        };
        out.push(Val::Str(v));
    }
}

/// Defines the per-container extractors of one container list.
macro_rules! container_fields {
    ($list:ident: $name:ident, $image:ident, $repo:ident, $command:ident, $args:ident, $privileged:ident,
     $ape:ident, $rofs:ident, $rau:ident, $erau:ident, $rag:ident, $erag:ident, $proc:ident, $caps:ident
     $(, $host_port:ident)?) => {
        pub fn $name<'e>(ev: &'e Event<'e>, arg: &FieldArg, out: &mut Values<'e>) {
            if ev.has_audit_id() { names(ev, ContainerList::$list, arg, out) }
        }
        pub fn $image<'e>(ev: &'e Event<'e>, arg: &FieldArg, out: &mut Values<'e>) {
            if ev.has_audit_id() { images(ev, ContainerList::$list, arg, out) }
        }
        pub fn $repo<'e>(ev: &'e Event<'e>, arg: &FieldArg, out: &mut Values<'e>) {
            if ev.has_audit_id() { repositories(ev, ContainerList::$list, arg, out) }
        }
        pub fn $command<'e>(ev: &'e Event<'e>, arg: &FieldArg, out: &mut Values<'e>) {
            if ev.has_audit_id() { joined(ev, ContainerList::$list, arg, "command", out) }
        }
        pub fn $args<'e>(ev: &'e Event<'e>, arg: &FieldArg, out: &mut Values<'e>) {
            if ev.has_audit_id() { joined(ev, ContainerList::$list, arg, "args", out) }
        }
        pub fn $privileged<'e>(ev: &'e Event<'e>, arg: &FieldArg, out: &mut Values<'e>) {
            if ev.has_audit_id() { container_values(ev, ContainerList::$list, arg, &["securityContext", "privileged"], out) }
        }
        pub fn $ape<'e>(ev: &'e Event<'e>, arg: &FieldArg, out: &mut Values<'e>) {
            if ev.has_audit_id() {
                container_values(ev, ContainerList::$list, arg, &["securityContext", "allowPrivilegeEscalation"], out)
            }
        }
        pub fn $rofs<'e>(ev: &'e Event<'e>, arg: &FieldArg, out: &mut Values<'e>) {
            if ev.has_audit_id() {
                container_values(ev, ContainerList::$list, arg, &["securityContext", "readOnlyRootFilesystem"], out)
            }
        }
        pub fn $rau<'e>(ev: &'e Event<'e>, arg: &FieldArg, out: &mut Values<'e>) {
            if ev.has_audit_id() { container_values(ev, ContainerList::$list, arg, &["securityContext", "runAsUser"], out) }
        }
        pub fn $erau<'e>(ev: &'e Event<'e>, arg: &FieldArg, out: &mut Values<'e>) {
            if ev.has_audit_id() { effective(ev, ContainerList::$list, arg, "runAsUser", out) }
        }
        pub fn $rag<'e>(ev: &'e Event<'e>, arg: &FieldArg, out: &mut Values<'e>) {
            if ev.has_audit_id() { container_values(ev, ContainerList::$list, arg, &["securityContext", "runAsGroup"], out) }
        }
        pub fn $erag<'e>(ev: &'e Event<'e>, arg: &FieldArg, out: &mut Values<'e>) {
            if ev.has_audit_id() { effective(ev, ContainerList::$list, arg, "runAsGroup", out) }
        }
        pub fn $proc<'e>(ev: &'e Event<'e>, arg: &FieldArg, out: &mut Values<'e>) {
            if ev.has_audit_id() { container_values(ev, ContainerList::$list, arg, &["securityContext", "procMount"], out) }
        }
        pub fn $caps<'e>(ev: &'e Event<'e>, arg: &FieldArg, out: &mut Values<'e>) {
            if ev.has_audit_id() {
                container_values(ev, ContainerList::$list, arg, &["securityContext", "capabilities", "add"], out)
            }
        }
        $(
        pub fn $host_port<'e>(ev: &'e Event<'e>, arg: &FieldArg, out: &mut Values<'e>) {
            if ev.has_audit_id() { host_ports(ev, ContainerList::$list, arg, out) }
        }
        )?
    };
}

container_fields!(Containers: ka_req_pod_containers_name, ka_req_pod_containers_image,
    ka_req_pod_containers_image_repository, ka_req_pod_containers_command, ka_req_pod_containers_args,
    ka_req_pod_containers_privileged, ka_req_pod_containers_allow_privilege_escalation,
    ka_req_pod_containers_read_only_fs, ka_req_pod_containers_run_as_user, ka_req_pod_containers_eff_run_as_user,
    ka_req_pod_containers_run_as_group, ka_req_pod_containers_eff_run_as_group, ka_req_pod_containers_proc_mount,
    ka_req_pod_containers_add_capabilities, ka_req_pod_containers_host_port);
container_fields!(InitContainers: ka_req_pod_init_containers_name, ka_req_pod_init_containers_image,
    ka_req_pod_init_containers_image_repository, ka_req_pod_init_containers_command,
    ka_req_pod_init_containers_args, ka_req_pod_init_containers_privileged,
    ka_req_pod_init_containers_allow_privilege_escalation, ka_req_pod_init_containers_read_only_fs,
    ka_req_pod_init_containers_run_as_user, ka_req_pod_init_containers_eff_run_as_user,
    ka_req_pod_init_containers_run_as_group, ka_req_pod_init_containers_eff_run_as_group,
    ka_req_pod_init_containers_proc_mount, ka_req_pod_init_containers_add_capabilities,
    ka_req_pod_init_containers_host_port);
container_fields!(EphemeralContainers: ka_req_pod_ephemeral_containers_name, ka_req_pod_ephemeral_containers_image,
    ka_req_pod_ephemeral_containers_image_repository, ka_req_pod_ephemeral_containers_command,
    ka_req_pod_ephemeral_containers_args, ka_req_pod_ephemeral_containers_privileged,
    ka_req_pod_ephemeral_containers_allow_privilege_escalation, ka_req_pod_ephemeral_containers_read_only_fs,
    ka_req_pod_ephemeral_containers_run_as_user, ka_req_pod_ephemeral_containers_eff_run_as_user,
    ka_req_pod_ephemeral_containers_run_as_group, ka_req_pod_ephemeral_containers_eff_run_as_group,
    ka_req_pod_ephemeral_containers_proc_mount, ka_req_pod_ephemeral_containers_add_capabilities);

/// `ka.req.container.image` (deprecated): the image of container 0.
pub fn ka_req_container_image<'e>(ev: &'e Event<'e>, _arg: &FieldArg, out: &mut Values<'e>) {
    if !ev.has_audit_id() {
        return;
    }
    if let Some(first) = strict_strings(ev, ContainerList::Containers, Some(0), "image")
        .and_then(|v| v.into_iter().next())
    {
        out.push(Val::Str(first));
    }
}

/// `ka.req.container.image.repository` (deprecated): the repository of container 0's image.
pub fn ka_req_container_image_repository<'e>(
    ev: &'e Event<'e>,
    _arg: &FieldArg,
    out: &mut Values<'e>,
) {
    if !ev.has_audit_id() {
        return;
    }
    if let Some(first) = strict_strings(ev, ContainerList::Containers, Some(0), "image")
        .and_then(|v| v.into_iter().next())
    {
        out.push(Val::Str(repo_of(first)));
    }
}

/// `ka.req.container.privileged` (deprecated): `true` if some container has `privileged: true`.
pub fn ka_req_container_privileged<'e>(ev: &'e Event<'e>, _arg: &FieldArg, out: &mut Values<'e>) {
    if !ev.has_audit_id() {
        return;
    }
    let Ok(r) = containers(
        ev,
        ContainerList::Containers,
        None,
        &["securityContext", "privileged"],
    ) else {
        return;
    };
    let any = r.iter().flatten().any(|n| n.kind() == Kind::True);
    out.push(Val::Str(Cow::Borrowed(if any { "true" } else { "false" })));
}

macro_rules! spec_fields {
    ($($name:ident => [$($key:literal),*];)*) => {$(
        pub fn $name<'e>(ev: &'e Event<'e>, _arg: &FieldArg, out: &mut Values<'e>) {
            if ev.has_audit_id() {
                push_path(ev, Top::RequestObject, &[$($key),*], out);
            }
        }
    )*};
}

spec_fields! {
    ka_req_pod_host_ipc => ["spec", "hostIPC"];
    ka_req_pod_host_network => ["spec", "hostNetwork"];
    ka_req_pod_host_pid => ["spec", "hostPID"];
    ka_req_pod_run_as_user => ["spec", "securityContext", "runAsUser"];
    ka_req_pod_run_as_group => ["spec", "securityContext", "runAsGroup"];
    ka_req_pod_fs_group => ["spec", "securityContext", "fsGroup"];
    ka_req_service_type => ["spec", "type"];
}

/// `ka.req.pod.supplemental_groups`: elements of `spec.securityContext.supplementalGroups`.
pub fn ka_req_pod_supplemental_groups<'e>(
    ev: &'e Event<'e>,
    _arg: &FieldArg,
    out: &mut Values<'e>,
) {
    if ev.has_audit_id() {
        push_array_path(
            ev,
            Top::RequestObject,
            &["spec", "securityContext", "supplementalGroups"],
            out,
        );
    }
}

/// `ka.req.service.ports`: the whole `spec.ports` array as one JSON text (the index cannot apply:
/// the array is the last path element).
pub fn ka_req_service_ports<'e>(ev: &'e Event<'e>, arg: &FieldArg, out: &mut Values<'e>) {
    if !ev.has_audit_id() {
        return;
    }
    if let Ok(r) = walk_top(
        ev,
        Top::RequestObject,
        index_filter(arg),
        &["spec", "ports"],
    ) {
        push_reached(&r, out);
    }
}

fn volumes<'e>(ev: &'e Event<'e>, arg: &FieldArg, sub: &[&str], out: &mut Values<'e>) {
    let mut keys: [&str; 4] = ["spec", "volumes", "", ""];
    for (slot, k) in keys.iter_mut().skip(2).zip(sub) {
        *slot = k;
    }
    let n = 2 + sub.len().min(2);
    if let Ok(r) = walk_top(
        ev,
        Top::RequestObject,
        index_filter(arg),
        keys.get(..n).unwrap_or(&[]),
    ) {
        push_reached(&r, out);
    }
}

/// `ka.req.pod.volumes.hostpath`: `hostPath.path` of each volume having one.
pub fn ka_req_pod_volumes_hostpath<'e>(ev: &'e Event<'e>, arg: &FieldArg, out: &mut Values<'e>) {
    if ev.has_audit_id() {
        volumes(ev, arg, &["hostPath", "path"], out);
    }
}

/// `ka.req.pod.volumes.flexvolume_driver`: `flexVolume.driver` of each volume having one.
pub fn ka_req_pod_volumes_flexvolume_driver<'e>(
    ev: &'e Event<'e>,
    arg: &FieldArg,
    out: &mut Values<'e>,
) {
    if ev.has_audit_id() {
        volumes(ev, arg, &["flexVolume", "driver"], out);
    }
}

/// `ka.req.pod.volumes.volume_type`: every key other than `name` of each volume object, in order.
pub fn ka_req_pod_volumes_volume_type<'e>(ev: &'e Event<'e>, arg: &FieldArg, out: &mut Values<'e>) {
    if !ev.has_audit_id() {
        return;
    }
    let Ok(r) = walk_top(
        ev,
        Top::RequestObject,
        index_filter(arg),
        &["spec", "volumes", ""],
    ) else {
        return;
    };
    for v in r.iter().flatten() {
        for (k, _) in v.members() {
            if let Some(k) = k.as_str().filter(|k| k != "name") {
                out.push(Val::Str(k));
            }
        }
    }
}

/// `ka.req.volume.hostpath[p]` (deprecated): `true` if some volume's host path equals `p`, or starts
/// with `p` minus a trailing `*`; else `false`; missing without `spec.volumes`.
pub fn ka_req_volume_hostpath<'e>(ev: &'e Event<'e>, arg: &FieldArg, out: &mut Values<'e>) {
    if !ev.has_audit_id() {
        return;
    }
    let FieldArg::Key(key) = arg else { return };
    let Ok(r) = walk_top(
        ev,
        Top::RequestObject,
        None,
        &["spec", "volumes", "hostPath", "path"],
    ) else {
        return;
    };
    let prefix = key.strip_suffix('*');
    let hit = r.iter().flatten().any(|n| {
        let p = n.text();
        prefix.is_some_and(|pre| p.starts_with(pre)) || *p == **key
    });
    out.push(Val::Str(Cow::Borrowed(if hit { "true" } else { "false" })));
}

#[cfg(test)]
mod tests {
    use crate::fields::testing::vals;

    fn pod(spec: &str) -> String {
        format!(r#"{{"auditID":"x","requestObject":{{"spec":{spec}}}}}"#)
    }

    #[test]
    fn images_names_and_repositories() {
        let ev = pod(
            r#"{"containers":[{"name":"a","image":"registry.io:5000/team/app:2.0"},{"name":"b","image":"gcr.io/p/img:tag@sha256:abc"},{"name":"c","image":"nginx@sha256:1"}]}"#,
        );
        assert_eq!(
            vals(&ev, "ka.req.pod.containers.name", None),
            vec!["a", "b", "c"]
        );
        assert_eq!(
            vals(&ev, "ka.req.pod.containers.image", None),
            vec![
                "registry.io:5000/team/app:2.0",
                "gcr.io/p/img:tag@sha256:abc",
                "nginx@sha256:1"
            ]
        );
        assert_eq!(
            vals(&ev, "ka.req.pod.containers.image.repository", None),
            vec!["registry.io", "gcr.io/p/img", "nginx"]
        );
        assert_eq!(
            vals(&ev, "ka.req.pod.containers.image", Some("1")),
            vec!["gcr.io/p/img:tag@sha256:abc"]
        );
        assert!(vals(&ev, "ka.req.pod.containers.image", Some("3")).is_empty());
        assert_eq!(
            vals(&ev, "ka.req.container.image", None),
            vec!["registry.io:5000/team/app:2.0"]
        );
        assert_eq!(
            vals(&ev, "ka.req.container.image.repository", None),
            vec!["registry.io"]
        );
    }

    #[test]
    fn a_container_without_image_hides_images_but_not_names() {
        let ev = pod(r#"{"containers":[{"name":"a","image":"x"},{"name":"b"}]}"#);
        assert!(vals(&ev, "ka.req.pod.containers.image", None).is_empty());
        assert!(vals(&ev, "ka.req.pod.containers.image.repository", None).is_empty());
        assert_eq!(
            vals(&ev, "ka.req.pod.containers.name", None),
            vec!["a", "b"]
        );
        assert_eq!(
            vals(&ev, "ka.req.pod.containers.image", Some("0")),
            vec!["x"]
        );
        assert_eq!(vals(&ev, "ka.req.container.image", None), vec!["x"]);
    }

    #[test]
    fn no_containers_is_missing() {
        let ev = pod(r#"{"hostNetwork":true}"#);
        for f in [
            "ka.req.pod.containers.image",
            "ka.req.pod.containers.privileged",
            "ka.req.container.privileged",
            "ka.req.pod.containers.eff_run_as_user",
            "ka.req.container.image",
        ] {
            assert!(vals(&ev, f, None).is_empty(), "{f}");
        }
        assert_eq!(
            vals(
                &pod(r#"{"containers":[]}"#),
                "ka.req.container.privileged",
                None
            ),
            vec!["false"]
        );
    }

    #[test]
    fn security_context_flags_skip_containers_without_them() {
        let ev = pod(
            r#"{"containers":[{"securityContext":{"privileged":true,"allowPrivilegeEscalation":false,"readOnlyRootFilesystem":true,"runAsUser":1000,"runAsGroup":3000,"procMount":"Unmasked","capabilities":{"add":["NET_ADMIN","SYS_TIME"]}}},{"name":"plain"},{"securityContext":{"privileged":false,"capabilities":{"add":["SYS_ADMIN"]}}}]}"#,
        );
        assert_eq!(
            vals(&ev, "ka.req.pod.containers.privileged", None),
            vec!["true", "false"]
        );
        assert_eq!(
            vals(&ev, "ka.req.pod.containers.privileged", Some("2")),
            vec!["false"]
        );
        assert!(vals(&ev, "ka.req.pod.containers.privileged", Some("1")).is_empty());
        assert_eq!(vals(&ev, "ka.req.container.privileged", None), vec!["true"]);
        assert_eq!(
            vals(
                &ev,
                "ka.req.pod.containers.allow_privilege_escalation",
                None
            ),
            vec!["false"]
        );
        assert_eq!(
            vals(&ev, "ka.req.pod.containers.read_only_fs", None),
            vec!["true"]
        );
        assert_eq!(
            vals(&ev, "ka.req.pod.containers.run_as_user", None),
            vec!["1000"]
        );
        assert_eq!(
            vals(&ev, "ka.req.pod.containers.run_as_group", None),
            vec!["3000"]
        );
        assert_eq!(
            vals(&ev, "ka.req.pod.containers.proc_mount", None),
            vec!["Unmasked"]
        );
        assert_eq!(
            vals(&ev, "ka.req.pod.containers.add_capabilities", None),
            vec![r#"["NET_ADMIN","SYS_TIME"]"#, r#"["SYS_ADMIN"]"#]
        );
    }

    #[test]
    fn effective_ids_use_the_non_standard_paths() {
        let std_ctx = pod(
            r#"{"securityContext":{"runAsUser":1000},"containers":[{"securityContext":{"runAsUser":5}},{}]}"#,
        );
        assert_eq!(
            vals(&std_ctx, "ka.req.pod.containers.eff_run_as_user", None),
            vec!["0", "0"]
        );
        let odd = pod(r#"{"runAsUser":1000,"runAsGroup":3000,"containers":[{"runAsUser":7},{}]}"#);
        assert_eq!(
            vals(&odd, "ka.req.pod.containers.eff_run_as_user", None),
            vec!["7", "1000"]
        );
        assert_eq!(
            vals(&odd, "ka.req.pod.containers.eff_run_as_group", None),
            vec!["3000", "3000"]
        );
        assert_eq!(
            vals(&odd, "ka.req.pod.containers.eff_run_as_user", Some("0")),
            vec!["7"]
        );
        // With an index, upstream's walk fails on a container lacking the key: missing, not the default.
        assert!(vals(&odd, "ka.req.pod.containers.eff_run_as_user", Some("1")).is_empty());
        assert!(vals(&odd, "ka.req.pod.containers.eff_run_as_user", Some("2")).is_empty());
    }

    #[test]
    fn command_and_args_are_joined_per_container() {
        let ev = pod(
            r#"{"containers":[{"command":["sh","-c","x y"],"args":[]},{"name":"n"},{"command":["ls"]}]}"#,
        );
        assert_eq!(
            vals(&ev, "ka.req.pod.containers.command", None),
            vec!["sh -c x y", "ls"]
        );
        assert_eq!(vals(&ev, "ka.req.pod.containers.args", None), vec![""]);
        let bad = pod(r#"{"containers":[{"command":["sh",1]},{"command":["ls"]}]}"#);
        assert!(vals(&bad, "ka.req.pod.containers.command", None).is_empty());
        let none = pod(r#"{"containers":[{"name":"n"}]}"#);
        assert!(vals(&none, "ka.req.pod.containers.command", None).is_empty());
        let not_array = pod(r#"{"containers":[{"args":"x"}]}"#);
        assert!(vals(&not_array, "ka.req.pod.containers.args", None).is_empty());
    }

    #[test]
    fn host_ports_fall_back_to_container_ports() {
        let ev = pod(
            r#"{"containers":[{"ports":[{"containerPort":80,"hostPort":8080},{"containerPort":443}]},{"name":"x"},{"ports":[{"name":"p"}]}]}"#,
        );
        assert_eq!(
            vals(&ev, "ka.req.pod.containers.host_port", None),
            vec!["8080", "443"]
        );
        assert!(vals(&ev, "ka.req.pod.containers.host_port", Some("2")).is_empty());
        let bad = pod(r#"{"containers":[{"ports":{"a":1}}]}"#);
        assert!(vals(&bad, "ka.req.pod.containers.host_port", None).is_empty());
    }

    #[test]
    fn init_and_ephemeral_container_variants() {
        let ev = pod(
            r#"{"containers":[{"name":"main","image":"m"}],"initContainers":[{"name":"init","image":"i:1","securityContext":{"privileged":true},"ports":[{"hostPort":1}]}],"ephemeralContainers":[{"name":"dbg","image":"busybox@sha256:x","command":["sh"]}]}"#,
        );
        assert_eq!(
            vals(&ev, "ka.req.pod.initContainers.name", None),
            vec!["init"]
        );
        assert_eq!(
            vals(&ev, "ka.req.pod.initContainers.image.repository", None),
            vec!["i"]
        );
        assert_eq!(
            vals(&ev, "ka.req.pod.initContainers.privileged", None),
            vec!["true"]
        );
        assert_eq!(
            vals(&ev, "ka.req.pod.initContainers.host_port", None),
            vec!["1"]
        );
        assert_eq!(
            vals(&ev, "ka.req.pod.ephemeralContainers.image", None),
            vec!["busybox@sha256:x"]
        );
        assert_eq!(
            vals(&ev, "ka.req.pod.ephemeralContainers.image.repository", None),
            vec!["busybox"]
        );
        assert_eq!(
            vals(&ev, "ka.req.pod.ephemeralContainers.command", None),
            vec!["sh"]
        );
        assert!(vals(&ev, "ka.req.pod.ephemeralContainers.privileged", None).is_empty());
        assert_eq!(vals(&ev, "ka.req.pod.containers.name", None), vec!["main"]);
    }

    #[test]
    fn pod_level_fields() {
        let ev = pod(
            r#"{"hostIPC":false,"hostNetwork":true,"hostPID":null,"type":"NodePort","securityContext":{"runAsUser":1,"runAsGroup":2,"fsGroup":3,"supplementalGroups":[4,5]}}"#,
        );
        assert_eq!(vals(&ev, "ka.req.pod.host_ipc", None), vec!["false"]);
        assert_eq!(vals(&ev, "ka.req.pod.host_network", None), vec!["true"]);
        assert_eq!(
            vals(&ev, "ka.req.container.host_network", None),
            vec!["true"]
        );
        assert_eq!(vals(&ev, "ka.req.pod.host_pid", None), vec!["null"]);
        assert_eq!(vals(&ev, "ka.req.pod.run_as_user", None), vec!["1"]);
        assert_eq!(vals(&ev, "ka.req.pod.run_as_group", None), vec!["2"]);
        assert_eq!(vals(&ev, "ka.req.pod.fs_group", None), vec!["3"]);
        assert_eq!(
            vals(&ev, "ka.req.pod.supplemental_groups", None),
            vec!["4", "5"]
        );
        assert_eq!(vals(&ev, "ka.req.service.type", None), vec!["NodePort"]);
    }

    #[test]
    fn service_ports_is_one_json_text_whatever_the_index() {
        let ev = pod(r#"{"ports":[{"port":80,"protocol":"TCP"},{"port":443}]}"#);
        let whole = r#"[{"port":80,"protocol":"TCP"},{"port":443}]"#;
        assert_eq!(vals(&ev, "ka.req.service.ports", None), vec![whole]);
        assert_eq!(vals(&ev, "ka.req.service.ports", Some("1")), vec![whole]);
        assert!(vals(&pod("{}"), "ka.req.service.ports", None).is_empty());
    }

    #[test]
    fn volumes() {
        let ev = pod(
            r#"{"volumes":[{"name":"e","emptyDir":{}},{"name":"v","hostPath":{"path":"/var/run/docker.sock","type":""}},{"name":"f","flexVolume":{"driver":"d1"},"extra":1}]}"#,
        );
        assert_eq!(
            vals(&ev, "ka.req.pod.volumes.hostpath", None),
            vec!["/var/run/docker.sock"]
        );
        assert!(vals(&ev, "ka.req.pod.volumes.hostpath", Some("0")).is_empty());
        assert_eq!(
            vals(&ev, "ka.req.pod.volumes.hostpath", Some("1")),
            vec!["/var/run/docker.sock"]
        );
        assert_eq!(
            vals(&ev, "ka.req.pod.volumes.flexvolume_driver", None),
            vec!["d1"]
        );
        assert_eq!(
            vals(&ev, "ka.req.pod.volumes.volume_type", None),
            vec!["emptyDir", "hostPath", "flexVolume", "extra"]
        );
        assert_eq!(
            vals(&ev, "ka.req.pod.volumes.volume_type", Some("2")),
            vec!["flexVolume", "extra"]
        );
        assert_eq!(
            vals(&ev, "ka.req.volume.hostpath", Some("/var/run/docker.sock")),
            vec!["true"]
        );
        assert_eq!(
            vals(&ev, "ka.req.volume.hostpath", Some("/var/run/*")),
            vec!["true"]
        );
        assert_eq!(
            vals(&ev, "ka.req.volume.hostpath", Some("/var/run")),
            vec!["false"]
        );
        assert_eq!(
            vals(&ev, "ka.req.volume.hostpath", Some("/etc")),
            vec!["false"]
        );
        assert!(vals(&pod("{}"), "ka.req.volume.hostpath", Some("/etc")).is_empty());
    }
}
