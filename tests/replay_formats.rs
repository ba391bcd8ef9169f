//! `kaudit replay` reads the clouds' exports: the same audit events wrapped as AKS diagnostic records, as
//! CloudWatch Logs subscription documents (plain, gzip, Firehose-style concatenated), or pretty-printed,
//! give exactly the alerts of the plain JSON Lines file. GKE LogEntry fixtures (written from Google's
//! documented format) go through the bundled rules and fire the rules their content calls for.

use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Realistic audit events that the bundled rules alert on.
fn events() -> Vec<String> {
    let ts = |s: &str| format!("2024-03-05T10:00:{s}Z");
    let ev = |id: &str, verb: &str, uri: &str, obj: Value, code: u32, req: Value, t: &str| {
        let mut e = json!({
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
            "auditID": id, "stage": "ResponseComplete", "requestURI": uri, "verb": verb,
            "user": {"username": "alice@example.com", "groups": ["system:authenticated"]},
            "sourceIPs": ["10.0.0.5"], "userAgent": "kubectl/v1.29.0",
            "objectRef": obj, "responseStatus": {"metadata": {}, "code": code},
            "requestReceivedTimestamp": ts(t), "stageTimestamp": ts(t)
        });
        if !req.is_null() {
            e["requestObject"] = req;
        }
        if code == 101 {
            // A streaming request (exec) is logged when the response starts.
            e["stage"] = json!("ResponseStarted");
        }
        e.to_string()
    };
    vec![
        ev(
            "e1",
            "create",
            "/api/v1/namespaces/default/pods",
            json!({"resource":"pods","namespace":"default","name":"p1","apiVersion":"v1"}),
            201,
            json!({"kind":"Pod","apiVersion":"v1","metadata":{"name":"p1","namespace":"default"},
                  "spec":{"hostNetwork":true,"containers":[{"name":"c","image":"busybox:1.36","securityContext":{"privileged":true}}]}}),
            "01.000000",
        ),
        ev(
            "e2",
            "create",
            "/api/v1/namespaces/default/pods/p1/exec?command=sh&container=c&stdin=true&tty=true",
            json!({"resource":"pods","namespace":"default","name":"p1","apiVersion":"v1","subresource":"exec"}),
            101,
            Value::Null,
            "02.000000",
        ),
        ev(
            "e3",
            "create",
            "/api/v1/namespaces/default/configmaps",
            json!({"resource":"configmaps","namespace":"default","name":"creds","apiVersion":"v1"}),
            201,
            json!({"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"creds"},"data":{"aws_access_key_id":"AKIA0000"}}),
            "03.000000",
        ),
        ev(
            "e4",
            "create",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            json!({"resource":"clusterroles","name":"wild","apiGroup":"rbac.authorization.k8s.io","apiVersion":"v1"}),
            201,
            json!({"kind":"ClusterRole","rules":[{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}]}),
            "04.000000",
        ),
        ev(
            "e5",
            "create",
            "/api/v1/namespaces",
            json!({"resource":"namespaces","name":"scratch","apiVersion":"v1"}),
            201,
            json!({"kind":"Namespace","metadata":{"name":"scratch"}}),
            "05.000000",
        ),
        ev(
            "e6",
            "delete",
            "/api/v1/namespaces/default/configmaps/creds",
            json!({"resource":"configmaps","namespace":"default","name":"creds","apiVersion":"v1"}),
            200,
            Value::Null,
            "06.000000",
        ),
    ]
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let d = std::env::temp_dir().join(format!("kaudit-formats-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    Scratch(d)
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write input");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

/// Runs `kaudit replay` with the compiled-in rules, every matching rule alerting; (exit code, alerts,
/// stderr).
fn replay(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kaudit"))
        .args(["replay", "-o", "rule_matching=all"])
        .args(args)
        .env("TZ", "UTC")
        .env("FALCO_HOSTNAME", "formats-test")
        .output()
        .expect("run kaudit");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn plain_alerts(dir: &Path) -> String {
    let plain = dir.join("plain.jsonl");
    write(&plain, (events().join("\n") + "\n").as_bytes());
    let (code, out, err) = replay(&[plain.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("malformed lines: "), "{err}");
    for rule in [
        "Create Privileged Pod",
        "Attach/Exec Pod",
        "Create/Modify Configmap With Private Credentials",
        "ClusterRole With Wildcard Created",
    ] {
        assert!(
            err.contains(rule),
            "{rule} should fire on the plain events: {err}"
        );
    }
    out
}

fn assert_same(dir: &Path, name: &str, bytes: &[u8], extra: &[&str], want: &str) {
    let p = dir.join(name);
    write(&p, bytes);
    let mut args: Vec<&str> = extra.to_vec();
    args.push(p.to_str().unwrap());
    let (code, out, err) = replay(&args);
    assert_eq!(code, 0, "{name}: {err}");
    assert_eq!(out, want, "{name}: {err}");
    assert!(!err.contains("malformed lines: "), "{name}: {err}");
}

#[test]
fn aks_records_give_the_alerts_of_the_events_they_wrap() {
    let dir = scratch("aks");
    let want = plain_alerts(&dir.0);
    let mut records: Vec<Value> = events()
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let cat = if i % 2 == 0 { "kube-audit" } else { "kube-audit-admin" };
            json!({"time": "2024-03-05T10:00:00Z", "category": cat, "operationName": "Microsoft.ContainerService/managedClusters/diagnosticLogs/Read", "properties": {"log": e, "stream": "stdout", "pod": "kube-apiserver-1"}})
        })
        .collect();
    records.insert(
        1,
        json!({"category": "kube-apiserver", "properties": {"log": "I0305 10:00:00 klog line"}}),
    );
    records.push(json!({"category": "kube-audit", "properties": {"log": "{truncated"}}));
    // Two documents (the storage archive writes one per line): the events split across them.
    let (a, b) = records.split_at(3);
    let text = format!("{}\n{}\n", json!({"records": a}), json!({"records": b}));
    assert_same(&dir.0, "aks.json", text.as_bytes(), &[], &want);
    assert_same(
        &dir.0,
        "aks-forced.json",
        text.as_bytes(),
        &["--input-format", "aks"],
        &want,
    );
    let (_, _, err) = replay(&[dir.0.join("aks.json").to_str().unwrap()]);
    assert!(
        err.contains("other_category=1") && err.contains("bad_log=1"),
        "{err}"
    );
}

#[test]
fn cloudwatch_documents_plain_gzip_and_concatenated_give_the_same_alerts() {
    let dir = scratch("cw");
    let want = plain_alerts(&dir.0);
    let doc = |evs: &[String]| {
        json!({
            "messageType": "DATA_MESSAGE", "owner": "123456789012",
            "logGroup": "/aws/eks/demo/cluster", "logStream": "kube-apiserver-audit-abc",
            "subscriptionFilters": ["kaudit"],
            "logEvents": evs.iter().enumerate().map(|(i, e)| json!({"id": i.to_string(), "timestamp": 1709632800000u64 + i as u64, "message": e})).collect::<Vec<_>>()
        })
        .to_string()
    };
    let evs = events();
    let control = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1709632800000,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#;
    let lines = format!("{control}\n{}\n{}\n", doc(&evs[..2]), doc(&evs[2..]));
    assert_same(&dir.0, "cw.json", lines.as_bytes(), &[], &want);
    assert_same(&dir.0, "cw.json.gz", &gzip(lines.as_bytes()), &[], &want);
    // Firehose to S3: each record gzipped on its own, records written back to back, no newline.
    let mut firehose = gzip(doc(&evs[..3]).as_bytes());
    firehose.extend(gzip(doc(&evs[3..]).as_bytes()));
    assert_same(&dir.0, "firehose.gz", &firehose, &[], &want);
    // Decompressed Firehose objects: documents back to back on one line.
    let joined = format!("{}{}", doc(&evs[..1]), doc(&evs[1..]));
    assert_same(
        &dir.0,
        "joined.json",
        joined.as_bytes(),
        &["--input-format", "cloudwatch"],
        &want,
    );
    assert_same(&dir.0, "joined-auto.json", joined.as_bytes(), &[], &want);
}

#[test]
fn a_pretty_printed_document_is_one_document_not_a_parse_error_per_line() {
    let dir = scratch("pretty");
    let want = plain_alerts(&dir.0);
    let items: Vec<Value> = events()
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let list = json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items});
    let pretty = serde_json::to_string_pretty(&list).unwrap();
    assert!(pretty.lines().count() > 50);
    assert_same(&dir.0, "pretty.json", pretty.as_bytes(), &[], &want);
    // Several pretty-printed documents one after the other.
    let (a, b) = items.split_at(2);
    let two = format!(
        "{}\n{}\n",
        serde_json::to_string_pretty(&json!({"kind":"EventList","items":a})).unwrap(),
        serde_json::to_string_pretty(&json!({"kind":"EventList","items":b})).unwrap()
    );
    assert_same(&dir.0, "two.json", two.as_bytes(), &[], &want);
    // A pretty-printed file that is broken is still reported line by line, and exits 0.
    let broken = &pretty[..pretty.len() / 2];
    let p = dir.0.join("broken.json");
    write(&p, broken.as_bytes());
    let (code, out, err) = replay(&[p.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.is_empty());
    assert!(err.contains("broken.json:1: "), "{err}");
}

#[test]
fn unknown_input_formats_and_mismatched_forced_formats_are_reported() {
    let dir = scratch("forced");
    let (code, _, err) = replay(&["--input-format", "xml", "-"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown input format"), "{err}");
    let p = dir.0.join("plain.jsonl");
    write(&p, (events().join("\n") + "\n").as_bytes());
    let (code, out, err) = replay(&["--input-format", "gke", p.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.is_empty(), "audit events are not LogEntries: {out}");
    assert!(
        err.contains("cloud records: 6 read, 6 without an audit event (not_audit_log=6)"),
        "{err}"
    );
}

fn gke_fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("runtime/engine/tests/fixtures/gke")
}

#[test]
fn gke_entries_fire_the_bundled_rules_their_content_calls_for() {
    let dir = gke_fixture_dir();
    let run = |name: &str| {
        let p = dir.join(name);
        let (code, out, err) = replay(&["--json", p.to_str().unwrap()]);
        assert_eq!(code, 0, "{name}: {err}");
        assert!(!err.contains("malformed lines: "), "{name}: {err}");
        let rules: Vec<String> = out
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["rule"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        (rules, out)
    };
    // A privileged hostNetwork pod from an image outside the allowed lists.
    let (rules, out) = run("create_pod.json");
    for r in ["Create Privileged Pod", "Create HostNetwork Pod"] {
        assert!(rules.iter().any(|x| x == r), "{r}: {out}");
    }
    assert!(
        out.contains("dev@example.com"),
        "user from principalEmail: {out}"
    );
    // exec/attach subresources: the Attach/Exec rule (verb create, subresource exec|attach).
    for f in ["exec.json", "attach.json"] {
        let (rules, out) = run(f);
        assert!(rules.iter().any(|x| x == "Attach/Exec Pod"), "{f}: {out}");
    }
    // A patched configmap holding an AWS key.
    let (rules, out) = run("patch_configmap.json");
    assert!(
        rules
            .iter()
            .any(|x| x == "Create/Modify Configmap With Private Credentials"),
        "{out}"
    );
    // A wildcard cluster role.
    let (rules, out) = run("clusterrole_create.json");
    assert!(
        rules
            .iter()
            .any(|x| x == "ClusterRole With Wildcard Created"),
        "{out}"
    );
    // A list without an object fires none of the create/modify rules.
    let (rules, out) = run("list_pods.json");
    assert!(
        !rules
            .iter()
            .any(|x| x.contains("Created") || x.contains("Pod")),
        "{out}"
    );
}

#[test]
fn the_bundled_gke_overrides_silence_googles_robot_and_system_images() {
    let dir = scratch("gke-overrides");
    let mut entry: Value =
        serde_json::from_slice(&std::fs::read(gke_fixture_dir().join("create_pod.json")).unwrap())
            .unwrap();
    entry["protoPayload"]["authenticationInfo"]["principalEmail"] =
        json!("123456789@container-engine-robot.iam.gserviceaccount.com");
    entry["protoPayload"]["request"]["spec"]["containers"][0]["image"] =
        json!("gke.gcr.io/netd:v0.5");
    entry["protoPayload"]["request"]["spec"]["hostNetwork"] = json!(false);
    let p = dir.0.join("robot.json");
    write(&p, entry.to_string().as_bytes());
    let rules = |extra: &[&str]| {
        let root = env!("CARGO_MANIFEST_DIR");
        let bundled = format!("{root}/rules/k8s_audit_rules.yaml");
        let gke = format!("{root}/rules/extra/k8s_audit_rules_gke.yaml");
        let mut args = vec!["-r".to_string(), bundled];
        if extra.contains(&"gke") {
            args.extend(["-r".to_string(), gke]);
        }
        args.push(p.to_str().unwrap().to_string());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = replay(&args);
        assert_eq!(code, 0, "{err}");
        out
    };
    let without = rules(&[]);
    assert!(
        without.contains("not in allowed list of users"),
        "{without}"
    );
    assert!(without.contains("privileged container"), "{without}");
    let with = rules(&["gke"]);
    assert!(!with.contains("not in allowed list of users"), "{with}");
    assert!(!with.contains("privileged container"), "{with}");
}
