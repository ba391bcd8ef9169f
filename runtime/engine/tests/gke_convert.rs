//! GKE LogEntry → audit Event conversion, checked field by field against the mapping of Falco's
//! `k8saudit-gke` plugin (convert.go / source.go). The fixtures follow Google's documented LogEntry and
//! AuditLog JSON (Cloud Logging's export format); expected values are derived from the plugin's rules,
//! not from kaudit's output.

// Test code: a panic is a failed test. The no-panic lints in Cargo.toml are for production code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use kaudit_engine::formats::gke::{convert_entry_bytes, object_ref, verb, GkeDrop, ObjectRef};
use kaudit_engine::formats::{convert, Format};
use kaudit_engine::ingest::DEFAULT_MAX_EVENT_SIZE;
use serde_json::{json, Value};

fn fixture(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gke")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn convert_fixture(name: &str) -> (String, Value) {
    let text = convert_entry_bytes(&fixture(name), DEFAULT_MAX_EVENT_SIZE)
        .unwrap_or_else(|e| panic!("{name}: dropped as {e:?}"));
    let v = serde_json::from_str(&text).expect("converted event is JSON");
    (text, v)
}

#[test]
fn create_pod_is_the_plugins_json_byte_for_byte() {
    let (text, _) = convert_fixture("create_pod.json");
    // Go's json.Marshal of the plugin's auditv1.Event: struct field order, empty fields omitted,
    // responseStatus with its always-present metadata, request/response as sorted protojson Structs
    // (80.0 → 80), MicroTime truncated to microseconds, labels sorted, <>& escaped.
    let want = concat!(
        r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","#,
        r#""auditID":"2f9a1c7e-3b1d-4e7a-9c55-0d1e2f3a4b5c","stage":"ResponseComplete","#,
        r#""requestURI":"/core/v1/namespaces/default/pods/nginx","verb":"create","#,
        r#""user":{"username":"dev@example.com"},"sourceIPs":["203.0.113.7"],"#,
        r#""userAgent":"kubectl/v1.29.0 (linux/amd64) kubernetes/abc","#,
        r#""objectRef":{"resource":"pods","namespace":"default","name":"nginx","apiGroup":"core","apiVersion":"v1"},"#,
        r#""responseStatus":{"metadata":{},"status":"Created (inferred)","message":"Created (inferred)","code":201},"#,
        r#""requestObject":{"@type":"core.k8s.io/v1.Pod","apiVersion":"v1","kind":"Pod","metadata":{"name":"nginx","namespace":"default"},"#,
        r#""spec":{"containers":[{"image":"nginx:1.25","name":"nginx","ports":[{"containerPort":80}],"securityContext":{"privileged":true}}],"hostNetwork":true}},"#,
        r#""responseObject":{"@type":"core.k8s.io/v1.Pod","kind":"Pod","status":{"phase":"Pending"}},"#,
        r#""requestReceivedTimestamp":"2024-03-05T10:11:12.123456Z","stageTimestamp":"2024-03-05T10:11:12.123456Z","#,
        r#""annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"access granted \u003c\u0026\u003e","#,
        r#""cluster_name":"prod","location":"europe-west1","project_id":"demo-project"}}"#
    );
    assert_eq!(text, want);
}

#[test]
fn exec_and_attach_are_streaming_requests() {
    for (name, sub, user_agent, time) in [
        (
            "exec.json",
            "exec",
            Some("kubectl/v1.29.0"),
            "2024-03-05T10:20:00.000000Z",
        ),
        // +02:00 offset → UTC; .5 → six digits.
        ("attach.json", "attach", None, "2024-03-05T08:21:00.500000Z"),
    ] {
        let (_, v) = convert_fixture(name);
        assert_eq!(v["level"], "Request", "{name}");
        assert_eq!(v["stage"], "ResponseStarted", "{name}");
        assert_eq!(v["verb"], "create", "{name}");
        assert_eq!(
            v["responseStatus"],
            json!({"metadata":{},"status":"Switching Protocols (inferred)","message":"Switching Protocols (inferred)","code":101}),
            "{name}"
        );
        assert_eq!(
            v["objectRef"],
            json!({"resource":"pods","namespace":"prod","name":"api-0","apiGroup":"core","apiVersion":"v1","subresource":sub}),
            "{name}"
        );
        assert_eq!(
            v["requestURI"],
            format!("/core/v1/namespaces/prod/pods/api-0/{sub}")
        );
        assert_eq!(v["user"]["username"], "ops@example.com");
        assert_eq!(v["sourceIPs"], json!(["198.51.100.4"]));
        assert_eq!(
            v.get("userAgent").and_then(Value::as_str),
            user_agent,
            "{name}"
        );
        assert_eq!(v["stageTimestamp"], time, "{name}");
        assert_eq!(v["requestReceivedTimestamp"], time, "{name}");
        assert!(v.get("requestObject").is_none() && v.get("responseObject").is_none());
    }
}

#[test]
fn update_patch_delete_map_verb_and_inferred_status() {
    let (_, v) = convert_fixture("update_deployment.json");
    assert_eq!(v["verb"], "update");
    assert_eq!(v["responseStatus"]["code"], 200);
    assert_eq!(v["responseStatus"]["status"], "OK (inferred)");
    assert_eq!(
        v["objectRef"],
        json!({"resource":"deployments","namespace":"web","name":"front","apiGroup":"apps","apiVersion":"v1"})
    );
    assert_eq!(v["requestObject"], json!({"spec":{"replicas":3}}));
    assert_eq!(v["sourceIPs"], json!(["::1"]));
    assert_eq!(v["annotations"], json!({"cluster_name":"prod"}));

    let (_, v) = convert_fixture("patch_configmap.json");
    assert_eq!(
        (v["verb"].as_str(), v["level"].as_str()),
        (Some("patch"), Some("RequestResponse"))
    );
    assert_eq!(v["objectRef"]["resource"], "configmaps");
    assert_eq!(v["requestObject"]["data"]["aws_access_key_id"], "AKIA");

    // A namespace is a cluster-scoped object: 4 parts = group/version/resource/name.
    let (_, v) = convert_fixture("delete_namespace.json");
    assert_eq!(v["verb"], "delete");
    assert_eq!(
        v["objectRef"],
        json!({"resource":"namespaces","name":"scratch","apiGroup":"core","apiVersion":"v1"})
    );
}

#[test]
fn list_without_object_and_cluster_scoped_objects() {
    // core/v1/pods: 3 parts, none of the plugin's cases → no objectRef.
    let (text, v) = convert_fixture("list_pods.json");
    assert!(v.get("objectRef").is_none(), "{text}");
    assert_eq!(v["verb"], "list");
    assert_eq!(v["requestURI"], "/core/v1/pods");
    assert_eq!(v["level"], "RequestResponse");

    let (_, v) = convert_fixture("clusterrole_create.json");
    assert_eq!(
        v["objectRef"],
        json!({"resource":"clusterroles","name":"wild","apiGroup":"rbac.authorization.k8s.io","apiVersion":"v1"})
    );
    assert_eq!(v["responseStatus"]["code"], 201);
    assert_eq!(
        v["requestObject"],
        json!({"rules":[{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}]})
    );

    // A cluster-scoped subresource: group/version/resource/name/subresource[/...].
    let (_, v) = convert_fixture("node_proxy_subresource.json");
    assert_eq!(v["verb"], "get");
    assert_eq!(
        v["objectRef"],
        json!({"resource":"nodes","name":"node-1","apiGroup":"core","apiVersion":"v1","subresource":"proxy"})
    );
}

#[test]
fn missing_fields_give_empty_values() {
    let (text, _) = convert_fixture("missing_fields.json");
    // No insertId/methodName/resourceName/authenticationInfo/requestMetadata/receiveTimestamp: empty
    // strings kept where Go has no omitempty, the epoch for the nil Timestamp, no annotations.
    assert_eq!(
        text,
        concat!(
            r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"","#,
            r#""stage":"ResponseComplete","requestURI":"/","verb":"","user":{},"sourceIPs":[""],"#,
            r#""responseStatus":{"metadata":{},"status":"OK (inferred)","message":"OK (inferred)","code":200},"#,
            r#""requestReceivedTimestamp":"1970-01-01T00:00:00.000000Z","stageTimestamp":"1970-01-01T00:00:00.000000Z"}"#
        )
    );
}

#[test]
fn object_ref_cases_in_the_plugins_order() {
    let r = |g, v, res, ns, name, sub| ObjectRef {
        api_group: g,
        api_version: v,
        resource: res,
        namespace: ns,
        name,
        subresource: sub,
    };
    assert_eq!(object_ref(""), None);
    assert_eq!(object_ref("core/v1/pods"), None);
    assert_eq!(object_ref("a"), None);
    assert_eq!(
        object_ref("core/v1/namespaces/ns/pods"),
        Some(r("core", "v1", "pods", "ns", "", ""))
    );
    // 5 parts without "namespaces": resource/name/subresource.
    assert_eq!(
        object_ref("core/v1/nodes/n1/status"),
        Some(r("core", "v1", "nodes", "", "n1", "status"))
    );
    // 6 parts, not namespaced: still the ≥5 case.
    assert_eq!(
        object_ref("core/v1/nodes/n1/proxy/x"),
        Some(r("core", "v1", "nodes", "", "n1", "proxy"))
    );
    // ≥7 namespaced parts: extra parts after the subresource are ignored.
    assert_eq!(
        object_ref("core/v1/namespaces/ns/pods/p/log/extra"),
        Some(r("core", "v1", "pods", "ns", "p", "log"))
    );
    assert_eq!(verb("io.k8s.core.v1.pods.create"), "create");
    assert_eq!(verb("create"), "create");
    assert_eq!(verb(""), "");
}

#[test]
fn entries_the_plugin_does_not_accept_are_dropped_by_reason() {
    let base: Value = serde_json::from_slice(&fixture("exec.json")).unwrap();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        f(&mut v);
        convert_entry_bytes(v.to_string().as_bytes(), DEFAULT_MAX_EVENT_SIZE)
    };
    assert!(with(&|_| {}).is_ok());
    assert!(with(
        &|v| v["logName"] = json!("projects/p/logs/cloudaudit.googleapis.com%2Fdata_access")
    )
    .is_ok());
    assert_eq!(
        with(&|v| v["logName"] = json!("projects/p/logs/cloudaudit.googleapis.com%2Fsystem_event")),
        Err(GkeDrop::NotAuditLog)
    );
    assert_eq!(with(&|v| v["logName"] = json!(7)), Err(GkeDrop::Unparsable));
    assert_eq!(
        with(&|v| v["resource"]["type"] = json!("gce_instance")),
        Err(GkeDrop::NotK8sCluster)
    );
    assert_eq!(
        with(&|v| {
            v.as_object_mut().unwrap().remove("resource");
        }),
        Err(GkeDrop::NotK8sCluster)
    );
    assert_eq!(
        with(&|v| {
            let o = v.as_object_mut().unwrap();
            o.remove("protoPayload");
            o.insert("jsonPayload".into(), json!({"x":1}));
        }),
        Err(GkeDrop::NoProtoPayload)
    );
    assert_eq!(
        with(
            &|v| v["protoPayload"]["@type"] = json!("type.googleapis.com/google.cloud.audit.Other")
        ),
        Err(GkeDrop::UnsupportedPayload)
    );
    assert_eq!(
        with(&|v| v["protoPayload"]["serviceName"] = json!("container.googleapis.com")),
        Err(GkeDrop::NotK8sService)
    );
    assert_eq!(
        convert_entry_bytes(b"{not json", DEFAULT_MAX_EVENT_SIZE),
        Err(GkeDrop::Unparsable)
    );
    assert_eq!(
        convert_entry_bytes(&fixture("exec.json"), 100),
        Err(GkeDrop::Oversized)
    );
    // protojson's proto field names are accepted too.
    assert!(with(&|v| {
        let o = v.as_object_mut().unwrap();
        let ln = o.remove("logName").unwrap();
        o.insert("log_name".into(), ln);
    })
    .is_ok());
}

#[test]
fn detection_and_arrays_of_entries() {
    let exec = String::from_utf8(fixture("exec.json")).unwrap();
    let list = String::from_utf8(fixture("list_pods.json")).unwrap();
    let doc = format!("[{}, {}, {{\"logName\":\"x\"}}]", exec.trim(), list.trim());
    let c = convert(None, doc.as_bytes(), DEFAULT_MAX_EVENT_SIZE).unwrap();
    assert_eq!(c.records, 3);
    assert_eq!(c.docs.len(), 2);
    assert_eq!(c.dropped, vec![("not_audit_log", 1)]);
    let v: Value = serde_json::from_str(&exec).unwrap();
    assert_eq!(Format::detect(&v), Some(Format::GkeLogEntry));
    assert_eq!(
        Format::detect(&json!({"kind":"Event"})),
        Some(Format::Audit)
    );
    assert_eq!(
        Format::detect(&json!({"records":[]})),
        Some(Format::AksRecords)
    );
    assert_eq!(
        Format::detect(&json!({"messageType":"DATA_MESSAGE","logEvents":[]})),
        Some(Format::CloudWatch)
    );
    assert_eq!(Format::detect(&json!({"kind":"Pod"})), None);
}
