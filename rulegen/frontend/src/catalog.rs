//! The field catalog: the single table of every field a `k8s_audit` rule can use.
//!
//! The table itself is the `field_catalog!` macro, so that one list drives several uses without a copy:
//! this crate builds `FieldId` and `FIELDS` from it (type checking, `list-fields`, docs, code generation),
//! and `kaudit-runtime` builds its extractor table from the same invocation (the `extractor` column
//! names a function in `kaudit_engine::fields::extract`).
//!
//! Columns: `Variant: "name", type, list-ness, argument kind, extractor, "description";`
//! Rows follow upstream's listing order (k8saudit 0.18.0 `ka.*`, then json, then generic `evt.*`);
//! deprecated aliases share the extractor of the field they alias.

/// Value type of a field (docs/semantics.md#fields-and-arguments, #evt-fields). Every `ka.*`/`jevt.*`/`json.*`
/// field is `String`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    String,
    U64,
    Bool,
    /// Absolute time in ns since the epoch (numeric).
    AbsTime,
    /// Relative time in ns (numeric).
    RelTime,
}

impl FieldType {
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            FieldType::U64 | FieldType::AbsTime | FieldType::RelTime
        )
    }
    pub fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::U64 => "uint64",
            FieldType::Bool => "bool",
            FieldType::AbsTime => "abstime",
            FieldType::RelTime => "reltime",
        }
    }
}

/// What may or must follow the field name in brackets (docs/semantics.md#fields-and-arguments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArgKind {
    /// No argument allowed.
    None,
    /// Optional numeric index (`[N]`).
    Index,
    /// Required key (`[key]`, e.g. `ka.uri.param[cmd]`, `jevt.value[/ptr]`).
    Key,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Listness {
    Single,
    List,
}

/// One row of the catalog.
#[derive(Debug, Clone, Copy)]
pub struct FieldInfo {
    pub id: FieldId,
    pub name: &'static str,
    pub ty: FieldType,
    pub list: bool,
    pub arg: ArgKind,
    /// Function name in `kaudit_engine::fields::extract`.
    pub extractor: &'static str,
    /// `FieldId` variant name (for generated code).
    pub variant: &'static str,
    pub doc: &'static str,
}

/// The catalog. Invoke as `field_catalog!(some_macro)`; `some_macro` receives every row.
#[macro_export]
macro_rules! field_catalog {
    ($cb:ident) => {
        $cb! {
            KaAuditid: "ka.auditid", String, Single, None, ka_auditid, "Unique id of the audit event (auditID)";
            KaStage: "ka.stage", String, Single, None, ka_stage, "Request stage: RequestReceived, ResponseStarted, ResponseComplete or Panic";
            KaAuthDecision: "ka.auth.decision", String, Single, None, ka_auth_decision, "Authorization decision annotation (allow/forbid)";
            KaAuthReason: "ka.auth.reason", String, Single, None, ka_auth_reason, "Authorization reason annotation";
            KaAuthOpenshiftDecision: "ka.auth.openshift.decision", String, Single, None, ka_auth_openshift_decision, "OpenShift authentication decision annotation";
            KaValidationsAdmissionPolicyFailure: "ka.validations.admission.policy.failure", String, Single, None, ka_validations_admission_policy_failure, "Validating admission policy failure annotation";
            KaSecurityPodViolations: "ka.security.pod.violations", String, Single, None, ka_security_pod_violations, "Pod Security admission audit violations annotation";
            KaAuthOpenshiftUsername: "ka.auth.openshift.username", String, Single, None, ka_auth_openshift_username, "OpenShift authenticated user name annotation";
            KaUserName: "ka.user.name", String, Single, None, ka_user_name, "Name of the user that made the request";
            KaUserGroups: "ka.user.groups", String, List, None, ka_user_groups, "Groups of the user that made the request";
            KaImpuserName: "ka.impuser.name", String, Single, None, ka_impuser_name, "Name of the impersonated user";
            KaVerb: "ka.verb", String, Single, None, ka_verb, "Verb of the request (get, create, delete, ...)";
            KaUri: "ka.uri", String, Single, None, ka_uri, "Request URI as the client sent it";
            KaUriParam: "ka.uri.param", String, Single, Key, ka_uri_param, "First value of the named query parameter of the request URI";
            KaTargetName: "ka.target.name", String, Single, None, ka_target_name, "Name of the object the request targets";
            KaTargetNamespace: "ka.target.namespace", String, Single, None, ka_target_namespace, "Namespace of the object the request targets";
            KaTargetResource: "ka.target.resource", String, Single, None, ka_target_resource, "Resource kind of the targeted object (pods, secrets, ...)";
            KaTargetSubresource: "ka.target.subresource", String, Single, None, ka_target_subresource, "Subresource of the targeted object (exec, log, ...)";
            KaTargetPodName: "ka.target.pod.name", String, Single, None, ka_target_pod_name, "Pod name from the response object, for requests on pods without subresource";
            KaReqBindingSubjects: "ka.req.binding.subjects", String, List, None, ka_req_binding_subjects, "Subjects of a role binding in the request, each as JSON text";
            KaReqBindingSubjectsUserNames: "ka.req.binding.subjects.user_names", String, List, None, ka_req_binding_subjects_user_names, "Names of the User subjects of a role binding in the request";
            KaReqBindingSubjectsServiceaccountNames: "ka.req.binding.subjects.serviceaccount_names", String, List, None, ka_req_binding_subjects_serviceaccount_names, "Names of the ServiceAccount subjects of a role binding in the request";
            KaReqBindingSubjectsServiceaccountNsNames: "ka.req.binding.subjects.serviceaccount_ns_names", String, List, None, ka_req_binding_subjects_serviceaccount_ns_names, "namespace:name of the ServiceAccount subjects of a role binding in the request";
            KaReqBindingSubjectsGroupNames: "ka.req.binding.subjects.group_names", String, List, None, ka_req_binding_subjects_group_names, "Names of the Group subjects of a role binding in the request";
            KaReqBindingRole: "ka.req.binding.role", String, Single, None, ka_req_binding_role, "Role referenced by a role binding in the request";
            KaReqBindingSubjectHasName: "ka.req.binding.subject.has_name", String, Single, Key, ka_req_binding_subject_has_name, "Deprecated; kept for old rules: always the text true";
            KaReqConfigmapName: "ka.req.configmap.name", String, Single, None, ka_req_configmap_name, "Name of the targeted configmap (same as ka.target.name)";
            KaReqConfigmapObj: "ka.req.configmap.obj", String, Single, None, ka_req_configmap_obj, "Data of a configmap in the request, as JSON text";
            KaReqPodContainersArgs: "ka.req.pod.containers.args", String, List, Index, ka_req_pod_containers_args, "Arguments of each container, joined with spaces";
            KaReqPodContainersCommand: "ka.req.pod.containers.command", String, List, Index, ka_req_pod_containers_command, "Command of each container, joined with spaces";
            KaReqPodContainersName: "ka.req.pod.containers.name", String, List, Index, ka_req_pod_containers_name, "Name of each container";
            KaReqPodContainersImage: "ka.req.pod.containers.image", String, List, Index, ka_req_pod_containers_image, "Image of each container";
            KaReqContainerImage: "ka.req.container.image", String, Single, None, ka_req_container_image, "Deprecated: image of the first container";
            KaReqPodContainersImageRepository: "ka.req.pod.containers.image.repository", String, List, Index, ka_req_pod_containers_image_repository, "Image of each container without tag or digest";
            KaReqContainerImageRepository: "ka.req.container.image.repository", String, Single, None, ka_req_container_image_repository, "Deprecated: image repository of the first container";
            KaReqPodHostIpc: "ka.req.pod.host_ipc", String, Single, None, ka_req_pod_host_ipc, "hostIPC flag of a pod in the request";
            KaReqPodHostNetwork: "ka.req.pod.host_network", String, Single, None, ka_req_pod_host_network, "hostNetwork flag of a pod in the request";
            KaReqContainerHostNetwork: "ka.req.container.host_network", String, Single, None, ka_req_pod_host_network, "Deprecated alias of ka.req.pod.host_network";
            KaReqPodHostPid: "ka.req.pod.host_pid", String, Single, None, ka_req_pod_host_pid, "hostPID flag of a pod in the request";
            KaReqPodContainersHostPort: "ka.req.pod.containers.host_port", String, List, Index, ka_req_pod_containers_host_port, "Host port (else container port) of every port of each container";
            KaReqPodContainersPrivileged: "ka.req.pod.containers.privileged", String, List, Index, ka_req_pod_containers_privileged, "securityContext.privileged of each container";
            KaReqContainerPrivileged: "ka.req.container.privileged", String, Single, None, ka_req_container_privileged, "Deprecated: true when some container is privileged, else false";
            KaReqPodContainersAllowPrivilegeEscalation: "ka.req.pod.containers.allow_privilege_escalation", String, List, Index, ka_req_pod_containers_allow_privilege_escalation, "securityContext.allowPrivilegeEscalation of each container";
            KaReqPodContainersReadOnlyFs: "ka.req.pod.containers.read_only_fs", String, List, Index, ka_req_pod_containers_read_only_fs, "securityContext.readOnlyRootFilesystem of each container";
            KaReqPodRunAsUser: "ka.req.pod.run_as_user", String, Single, None, ka_req_pod_run_as_user, "Pod-level securityContext.runAsUser";
            KaReqPodContainersRunAsUser: "ka.req.pod.containers.run_as_user", String, List, Index, ka_req_pod_containers_run_as_user, "securityContext.runAsUser of each container";
            KaReqPodContainersEffRunAsUser: "ka.req.pod.containers.eff_run_as_user", String, List, Index, ka_req_pod_containers_eff_run_as_user, "Effective user id of each container (0 when unset)";
            KaReqPodRunAsGroup: "ka.req.pod.run_as_group", String, Single, None, ka_req_pod_run_as_group, "Pod-level securityContext.runAsGroup";
            KaReqPodContainersRunAsGroup: "ka.req.pod.containers.run_as_group", String, List, Index, ka_req_pod_containers_run_as_group, "securityContext.runAsGroup of each container";
            KaReqPodContainersEffRunAsGroup: "ka.req.pod.containers.eff_run_as_group", String, List, Index, ka_req_pod_containers_eff_run_as_group, "Effective group id of each container (0 when unset)";
            KaReqPodContainersProcMount: "ka.req.pod.containers.proc_mount", String, List, Index, ka_req_pod_containers_proc_mount, "securityContext.procMount of each container";
            KaReqRoleRules: "ka.req.role.rules", String, List, None, ka_req_role_rules, "Rules of a role in the request, each as JSON text";
            KaReqRoleRulesApiGroups: "ka.req.role.rules.apiGroups", String, List, Index, ka_req_role_rules_api_groups, "API groups of the rules of a role in the request";
            KaReqRoleRulesNonResourceUrls: "ka.req.role.rules.nonResourceURLs", String, List, Index, ka_req_role_rules_non_resource_urls, "Non-resource URLs of the rules of a role in the request";
            KaReqRoleRulesVerbs: "ka.req.role.rules.verbs", String, List, Index, ka_req_role_rules_verbs, "Verbs of the rules of a role in the request";
            KaReqRoleRulesResources: "ka.req.role.rules.resources", String, List, Index, ka_req_role_rules_resources, "Resources of the rules of a role in the request";
            KaReqPodFsGroup: "ka.req.pod.fs_group", String, Single, None, ka_req_pod_fs_group, "Pod-level securityContext.fsGroup";
            KaReqPodSupplementalGroups: "ka.req.pod.supplemental_groups", String, List, None, ka_req_pod_supplemental_groups, "Pod-level securityContext.supplementalGroups";
            KaReqPodContainersAddCapabilities: "ka.req.pod.containers.add_capabilities", String, List, Index, ka_req_pod_containers_add_capabilities, "Added capabilities of each container, one JSON array text per container";
            KaReqServiceType: "ka.req.service.type", String, Single, None, ka_req_service_type, "Type of a service in the request";
            KaReqServicePorts: "ka.req.service.ports", String, List, Index, ka_req_service_ports, "Ports of a service in the request, as one JSON text (the index has no effect)";
            KaReqPodVolumesHostpath: "ka.req.pod.volumes.hostpath", String, List, Index, ka_req_pod_volumes_hostpath, "hostPath paths of the volumes of a pod in the request";
            KaReqVolumeHostpath: "ka.req.volume.hostpath", String, Single, Key, ka_req_volume_hostpath, "Deprecated: true when some hostPath volume uses the path (a trailing * makes it a prefix)";
            KaReqPodVolumesFlexvolumeDriver: "ka.req.pod.volumes.flexvolume_driver", String, List, Index, ka_req_pod_volumes_flexvolume_driver, "flexVolume drivers of the volumes of a pod in the request";
            KaReqPodVolumesVolumeType: "ka.req.pod.volumes.volume_type", String, List, Index, ka_req_pod_volumes_volume_type, "Volume types (keys other than name) of the volumes of a pod in the request";
            KaRespName: "ka.resp.name", String, Single, None, ka_resp_name, "Name of the object in the response";
            KaResponseCode: "ka.response.code", String, Single, None, ka_response_code, "HTTP status code of the response, as text";
            KaResponseReason: "ka.response.reason", String, Single, None, ka_response_reason, "Reason of the response status (mostly for failures)";
            KaUseragent: "ka.useragent", String, Single, None, ka_useragent, "User agent of the client";
            KaSourceips: "ka.sourceips", String, List, Index, ka_sourceips, "Client IPs as upstream reads them (requestObject.rules[*].sourceIPs, an upstream bug)";
            KaClusterName: "ka.cluster.name", String, Single, None, ka_cluster_name, "Cluster name annotation";
            KaReqPodInitContainersArgs: "ka.req.pod.initContainers.args", String, List, Index, ka_req_pod_init_containers_args, "Arguments of each init container, joined with spaces";
            KaReqPodInitContainersCommand: "ka.req.pod.initContainers.command", String, List, Index, ka_req_pod_init_containers_command, "Command of each init container, joined with spaces";
            KaReqPodInitContainersName: "ka.req.pod.initContainers.name", String, List, Index, ka_req_pod_init_containers_name, "Name of each init container";
            KaReqPodInitContainersImage: "ka.req.pod.initContainers.image", String, List, Index, ka_req_pod_init_containers_image, "Image of each init container";
            KaReqPodInitContainersImageRepository: "ka.req.pod.initContainers.image.repository", String, List, Index, ka_req_pod_init_containers_image_repository, "Image of each init container without tag or digest";
            KaReqPodInitContainersHostPort: "ka.req.pod.initContainers.host_port", String, List, Index, ka_req_pod_init_containers_host_port, "Host port (else container port) of every port of each init container";
            KaReqPodInitContainersPrivileged: "ka.req.pod.initContainers.privileged", String, List, Index, ka_req_pod_init_containers_privileged, "securityContext.privileged of each init container";
            KaReqPodInitContainersAllowPrivilegeEscalation: "ka.req.pod.initContainers.allow_privilege_escalation", String, List, Index, ka_req_pod_init_containers_allow_privilege_escalation, "securityContext.allowPrivilegeEscalation of each init container";
            KaReqPodInitContainersReadOnlyFs: "ka.req.pod.initContainers.read_only_fs", String, List, Index, ka_req_pod_init_containers_read_only_fs, "securityContext.readOnlyRootFilesystem of each init container";
            KaReqPodInitContainersRunAsUser: "ka.req.pod.initContainers.run_as_user", String, List, Index, ka_req_pod_init_containers_run_as_user, "securityContext.runAsUser of each init container";
            KaReqPodInitContainersEffRunAsUser: "ka.req.pod.initContainers.eff_run_as_user", String, List, Index, ka_req_pod_init_containers_eff_run_as_user, "Effective user id of each init container (0 when unset)";
            KaReqPodInitContainersRunAsGroup: "ka.req.pod.initContainers.run_as_group", String, List, Index, ka_req_pod_init_containers_run_as_group, "securityContext.runAsGroup of each init container";
            KaReqPodInitContainersEffRunAsGroup: "ka.req.pod.initContainers.eff_run_as_group", String, List, Index, ka_req_pod_init_containers_eff_run_as_group, "Effective group id of each init container (0 when unset)";
            KaReqPodInitContainersProcMount: "ka.req.pod.initContainers.proc_mount", String, List, Index, ka_req_pod_init_containers_proc_mount, "securityContext.procMount of each init container";
            KaReqPodInitContainersAddCapabilities: "ka.req.pod.initContainers.add_capabilities", String, List, Index, ka_req_pod_init_containers_add_capabilities, "Added capabilities of each init container, one JSON array text per container";
            KaReqPodEphemeralContainersArgs: "ka.req.pod.ephemeralContainers.args", String, List, Index, ka_req_pod_ephemeral_containers_args, "Arguments of each ephemeral container, joined with spaces";
            KaReqPodEphemeralContainersCommand: "ka.req.pod.ephemeralContainers.command", String, List, Index, ka_req_pod_ephemeral_containers_command, "Command of each ephemeral container, joined with spaces";
            KaReqPodEphemeralContainersName: "ka.req.pod.ephemeralContainers.name", String, List, Index, ka_req_pod_ephemeral_containers_name, "Name of each ephemeral container";
            KaReqPodEphemeralContainersImage: "ka.req.pod.ephemeralContainers.image", String, List, Index, ka_req_pod_ephemeral_containers_image, "Image of each ephemeral container";
            KaReqPodEphemeralContainersImageRepository: "ka.req.pod.ephemeralContainers.image.repository", String, List, Index, ka_req_pod_ephemeral_containers_image_repository, "Image of each ephemeral container without tag or digest";
            KaReqPodEphemeralContainersPrivileged: "ka.req.pod.ephemeralContainers.privileged", String, List, Index, ka_req_pod_ephemeral_containers_privileged, "securityContext.privileged of each ephemeral container";
            KaReqPodEphemeralContainersAllowPrivilegeEscalation: "ka.req.pod.ephemeralContainers.allow_privilege_escalation", String, List, Index, ka_req_pod_ephemeral_containers_allow_privilege_escalation, "securityContext.allowPrivilegeEscalation of each ephemeral container";
            KaReqPodEphemeralContainersReadOnlyFs: "ka.req.pod.ephemeralContainers.read_only_fs", String, List, Index, ka_req_pod_ephemeral_containers_read_only_fs, "securityContext.readOnlyRootFilesystem of each ephemeral container";
            KaReqPodEphemeralContainersRunAsUser: "ka.req.pod.ephemeralContainers.run_as_user", String, List, Index, ka_req_pod_ephemeral_containers_run_as_user, "securityContext.runAsUser of each ephemeral container";
            KaReqPodEphemeralContainersEffRunAsUser: "ka.req.pod.ephemeralContainers.eff_run_as_user", String, List, Index, ka_req_pod_ephemeral_containers_eff_run_as_user, "Effective user id of each ephemeral container (0 when unset)";
            KaReqPodEphemeralContainersRunAsGroup: "ka.req.pod.ephemeralContainers.run_as_group", String, List, Index, ka_req_pod_ephemeral_containers_run_as_group, "securityContext.runAsGroup of each ephemeral container";
            KaReqPodEphemeralContainersEffRunAsGroup: "ka.req.pod.ephemeralContainers.eff_run_as_group", String, List, Index, ka_req_pod_ephemeral_containers_eff_run_as_group, "Effective group id of each ephemeral container (0 when unset)";
            KaReqPodEphemeralContainersProcMount: "ka.req.pod.ephemeralContainers.proc_mount", String, List, Index, ka_req_pod_ephemeral_containers_proc_mount, "securityContext.procMount of each ephemeral container";
            KaReqPodEphemeralContainersAddCapabilities: "ka.req.pod.ephemeralContainers.add_capabilities", String, List, Index, ka_req_pod_ephemeral_containers_add_capabilities, "Added capabilities of each ephemeral container, one JSON array text per container";
            JsonValue: "json.value", String, Single, Key, json_value, "Value at the JSON pointer given as argument, as text";
            JsonObj: "json.obj", String, Single, None, json_obj, "The whole event as indented JSON";
            JsonRawtime: "json.rawtime", String, Single, None, json_rawtime, "Event time in ns since the epoch, as decimal text";
            JevtValue: "jevt.value", String, Single, Key, json_value, "Value at the JSON pointer given as argument, as text (legacy name of json.value)";
            JevtObj: "jevt.obj", String, Single, None, json_obj, "The whole event as indented JSON (legacy name of json.obj)";
            JevtRawtime: "jevt.rawtime", String, Single, None, json_rawtime, "Event time in ns since the epoch, as decimal text (legacy name of json.rawtime)";
            EvtNum: "evt.num", U64, Single, None, evt_num, "Sequence number of the event";
            EvtTime: "evt.time", String, Single, None, evt_time, "Event time as local HH:MM:SS.nnnnnnnnn";
            EvtTimeS: "evt.time.s", String, Single, None, evt_time_s, "Event time as local HH:MM:SS";
            EvtTimeIso8601: "evt.time.iso8601", String, Single, None, evt_time_iso8601, "Event time in UTC, ISO 8601 with nanoseconds";
            EvtDatetime: "evt.datetime", String, Single, None, evt_datetime, "Event date and local time with nanoseconds";
            EvtDatetimeS: "evt.datetime.s", String, Single, None, evt_datetime_s, "Event date and local time to the second";
            EvtRawtime: "evt.rawtime", AbsTime, Single, None, evt_rawtime, "Event time in ns since the epoch";
            EvtRawtimeS: "evt.rawtime.s", AbsTime, Single, None, evt_rawtime_s, "Whole seconds of the event time since the epoch";
            EvtRawtimeNs: "evt.rawtime.ns", AbsTime, Single, None, evt_rawtime_ns, "Nanosecond part of the event time";
            EvtReltime: "evt.reltime", RelTime, Single, None, evt_reltime, "Time since the first event, in ns";
            EvtReltimeS: "evt.reltime.s", RelTime, Single, None, evt_reltime_s, "Whole seconds since the first event";
            EvtReltimeNs: "evt.reltime.ns", RelTime, Single, None, evt_reltime_ns, "Nanosecond part of the time since the first event";
            EvtPluginname: "evt.pluginname", String, Single, None, evt_pluginname, "Name of the plugin that produced the event (k8saudit)";
            EvtPlugininfo: "evt.plugininfo", String, Single, None, evt_plugininfo, "The event data as the plugin stores it (compact JSON)";
            EvtSource: "evt.source", String, Single, None, evt_source, "Event source name (k8s_audit)";
            EvtIsAsync: "evt.is_async", Bool, Single, None, evt_is_async, "Whether the event is asynchronous (never for audit events)";
            EvtAsynctype: "evt.asynctype", String, Single, None, evt_asynctype, "Name of an asynchronous event (missing for audit events)";
            EvtHostname: "evt.hostname", String, Single, None, evt_hostname, "Host name of the machine running kaudit";
        }
    };
}

macro_rules! define_catalog {
    ($($variant:ident : $name:literal, $ty:ident, $list:ident, $arg:ident, $extractor:ident, $doc:literal;)*) => {
        /// A field of the catalog; `id as usize` indexes `FIELDS`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum FieldId { $($variant),* }

        /// Every field, indexed by `FieldId`.
        pub static FIELDS: &[FieldInfo] = &[
            $(FieldInfo {
                id: FieldId::$variant,
                name: $name,
                ty: FieldType::$ty,
                list: matches!(Listness::$list, Listness::List),
                arg: ArgKind::$arg,
                extractor: stringify!($extractor),
                variant: stringify!($variant),
                doc: $doc,
            }),*
        ];
    };
}

field_catalog!(define_catalog);

impl FieldId {
    pub fn info(self) -> &'static FieldInfo {
        // `define_catalog!` generates the enum and `FIELDS` from the same list in the same order, so
        // every discriminant is an index of `FIELDS` (test `ids_index_the_table`).
        #[allow(clippy::indexing_slicing)]
        &FIELDS[self as usize]
    }
}

/// Looks a field up by its exact name (docs/semantics.md#fields-and-arguments: no prefix matching).
pub fn lookup(name: &str) -> Option<&'static FieldInfo> {
    FIELDS.iter().find(|f| f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_index_the_table() {
        for (i, f) in FIELDS.iter().enumerate() {
            assert_eq!(f.id as usize, i, "{}", f.name);
        }
    }

    #[test]
    fn plugin_fields_are_strings_and_generic_fields_typed() {
        for f in FIELDS {
            if ["ka.", "json.", "jevt."]
                .iter()
                .any(|p| f.name.starts_with(p))
            {
                assert_eq!(f.ty, FieldType::String, "{}", f.name);
            }
        }
        let ty = |n: &str| lookup(n).map(|f| f.ty);
        assert_eq!(ty("evt.num"), Some(FieldType::U64));
        assert_eq!(ty("evt.rawtime"), Some(FieldType::AbsTime));
        assert_eq!(ty("evt.rawtime.ns"), Some(FieldType::AbsTime));
        assert_eq!(ty("evt.reltime.s"), Some(FieldType::RelTime));
        assert_eq!(ty("evt.is_async"), Some(FieldType::Bool));
        assert_eq!(ty("evt.time"), Some(FieldType::String));
    }

    #[test]
    fn k8saudit_0_18_catalogue_shape() {
        let count = |p: &str| FIELDS.iter().filter(|f| f.name.starts_with(p)).count();
        assert_eq!(count("ka."), 71 + 15 + 14);
        assert_eq!(count("ka.req.pod.initContainers."), 15);
        assert_eq!(count("ka.req.pod.ephemeralContainers."), 14);
        assert!(lookup("ka.req.pod.ephemeralContainers.host_port").is_none());
        for (name, arg, list) in [
            ("ka.uri.param", ArgKind::Key, false),
            ("ka.req.volume.hostpath", ArgKind::Key, false),
            ("ka.req.binding.subject.has_name", ArgKind::Key, false),
            ("ka.req.pod.containers.image", ArgKind::Index, true),
            ("ka.req.service.ports", ArgKind::Index, true),
            ("ka.sourceips", ArgKind::Index, true),
            ("ka.user.groups", ArgKind::None, true),
            ("ka.req.role.rules", ArgKind::None, true),
            ("ka.req.container.image", ArgKind::None, false),
            ("jevt.value", ArgKind::Key, false),
            ("json.value", ArgKind::Key, false),
        ] {
            let f = lookup(name).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!((f.arg, f.list), (arg, list), "{name}");
        }
        assert!(lookup("ka.req").is_none(), "no prefix matching");
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = FIELDS.iter().map(|f| f.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }
}
