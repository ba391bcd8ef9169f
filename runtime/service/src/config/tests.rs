use super::*;
use kaudit_frontend::ir::Priority;

fn load(text: Option<&str>, overrides: &[&str]) -> Result<ServeConfig, ConfigError> {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    ServeConfig::from_sources(text.map(|t| (t, "falco.yaml")), &o)
}

#[test]
fn built_in_defaults_serve_both_paths_on_8765() {
    let c = load(None, &[]).unwrap();
    assert_eq!(c.listeners.len(), 1);
    let l = &c.listeners[0];
    assert_eq!(l.addr, "0.0.0.0:8765".parse().unwrap());
    assert_eq!(l.audit_paths, vec!["/k8s_audit", "/k8s-audit"]);
    assert_eq!(l.tls_pem, None);
    assert_eq!(
        c.limits,
        IngestLimits {
            max_event_size: 262_144,
            max_batch_size: 12_582_912
        }
    );
    assert!(c.outputs.stdout && c.outputs.file.is_none() && c.outputs.http.is_none());
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert!(c.pipeline.workers >= 1);
}

#[test]
fn parses_run_on_half_the_cores_unless_set() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let c = load(None, &[]).unwrap();
    assert_eq!(c.pipeline.parse_concurrency, (cores / 2).max(1));
    assert_eq!(c.pipeline.workers, cores);
    let c = load(Some("kaudit:\n  parse_concurrency: 3\n"), &[]).unwrap();
    assert_eq!(c.pipeline.parse_concurrency, 3);
    assert!(c.warnings.is_empty(), "a known key: {:?}", c.warnings);
    let c = load(None, &["kaudit.parse_concurrency=5"]).unwrap();
    assert_eq!(c.pipeline.parse_concurrency, 5);
    let e = load(None, &["kaudit.parse_concurrency=-1"]).unwrap_err();
    assert!(e.to_string().contains("kaudit.parse_concurrency"), "{e}");
}

#[test]
fn plugin_style_adds_a_listener_and_limits() {
    let yaml = r#"
webserver:
  enabled: false
plugins:
  - name: k8saudit
    library_path: libk8saudit.so
    init_config:
      maxEventSize: 1000
      webhookMaxBatchSize: 5000
      sslCertificate: /tmp/x.pem
    open_params: " https://127.0.0.1:9765/k8s-audit "
  - name: json
    library_path: libjson.so
load_plugins: [k8saudit, json]
"#;
    let c = load(Some(yaml), &[]).unwrap();
    assert_eq!(c.listeners.len(), 1);
    let l = &c.listeners[0];
    assert_eq!(l.addr, "127.0.0.1:9765".parse().unwrap());
    assert_eq!(l.audit_paths, vec!["/k8s-audit"]);
    assert_eq!(l.tls_pem.as_deref(), Some(Path::new("/tmp/x.pem")));
    assert_eq!(
        c.limits,
        IngestLimits {
            max_event_size: 1000,
            max_batch_size: 5000
        }
    );
}

#[test]
fn plugin_init_config_may_be_a_json_string_and_shares_the_webserver_port() {
    let yaml = r#"
plugins:
  - name: k8saudit
    init_config: '{"maxEventSize": 2048}'
    open_params: "http://:8765/audit"
"#;
    let c = load(Some(yaml), &[]).unwrap();
    assert_eq!(c.listeners.len(), 1);
    assert_eq!(
        c.listeners[0].audit_paths,
        vec!["/k8s_audit", "/k8s-audit", "/audit"]
    );
    assert_eq!(c.limits.max_event_size, 2048);
}

#[test]
fn plugins_not_in_load_plugins_are_skipped() {
    let yaml = "plugins:\n  - name: k8saudit\n    open_params: 'http://:9765/k8s-audit'\nload_plugins: [json]\n";
    let c = load(Some(yaml), &[]).unwrap();
    assert_eq!(c.listeners.len(), 1);
    assert_eq!(c.listeners[0].addr.port(), 8765);
}

#[test]
fn file_open_params_are_rejected_with_the_key() {
    let yaml = "plugins:\n  - name: k8saudit\n    open_params: /var/log/audit.log\n";
    let e = load(Some(yaml), &[]).unwrap_err();
    assert!(e.0.starts_with("plugins[0].open_params:"), "{e}");
}

#[test]
fn legacy_webserver_keys_and_overrides() {
    let yaml = "webserver:\n  listen_port: 9999\n  k8s_audit_endpoint: /audit\n  ssl_enabled: true\n  ssl_certificate: /etc/k.pem\n";
    let c = load(
        Some(yaml),
        &[
            "webserver.listen_address=127.0.0.1",
            "webserver.listen_port=7000",
        ],
    )
    .unwrap();
    let l = &c.listeners[0];
    assert_eq!(l.addr, "127.0.0.1:7000".parse().unwrap());
    assert_eq!(l.audit_paths, vec!["/audit"]);
    assert_eq!(l.tls_pem.as_deref(), Some(Path::new("/etc/k.pem")));
}

#[test]
fn settings_keys_reach_settings() {
    let yaml = "priority: warning\nrule_matching: all\njson_output: yes\nrules:\n  - disable:\n      rule: '*'\n  - enable:\n      tag: k8s\n";
    let c = load(Some(yaml), &["json_include_tags_property=false"]).unwrap();
    assert_eq!(c.settings.min_priority, Priority::Warning);
    assert_eq!(
        c.settings.rule_matching,
        kaudit_engine::engine::RuleMatching::All
    );
    assert!(c.settings.json_output);
    assert!(!c.settings.json_include_tags_property);
    assert_eq!(c.settings.rule_selections.len(), 2);
}

#[test]
fn wrong_types_are_errors_naming_the_key() {
    for (yaml, key) in [
        ("json_output: maybe\n", "json_output"),
        ("priority: loud\n", "priority"),
        ("webserver:\n  listen_port: abc\n", "webserver.listen_port"),
        ("webserver:\n  listen_port: 70000\n", "webserver.listen_port"),
        ("file_output:\n  enabled: [1]\n", "file_output.enabled"),
        ("kaudit:\n  queue_capacity: -1\n", "kaudit.queue_capacity"),
        ("rules_files: {a: b}\n", "rules_files"),
        ("plugins:\n  - name: k8saudit\n    init_config: {maxEventSize: big}\n    open_params: 'http://:1/x'\n", "plugins[0].init_config.maxEventSize"),
        ("http_output:\n  enabled: true\n  url: ftp://x\n", "http_output.url"),
    ] {
        let e = load(Some(yaml), &[]).unwrap_err();
        assert!(e.0.starts_with(key), "{yaml:?}: {e}");
    }
}

#[test]
fn unknown_keys_warn_and_falco_only_keys_do_not() {
    let yaml = "colour: blue\nsyscall_event_drops:\n  actions: [log]\nwebserver:\n  threadiness: 0\n  listen_prot: 1\nkaudit:\n  wrokers: 2\n";
    let c = load(Some(yaml), &[]).unwrap();
    assert_eq!(
        c.warnings,
        vec![
            "unknown configuration key 'colour' (ignored)",
            "unknown configuration key 'kaudit.wrokers' (ignored)",
            "unknown configuration key 'webserver.listen_prot' (ignored)",
        ]
    );
}

#[test]
fn outputs_and_auth_are_read() {
    let dir = std::env::temp_dir().join(format!("kaudit-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let yaml = format!(
        "stdout_output:\n  enabled: false\nfile_output:\n  enabled: true\n  filename: /tmp/a.txt\nhttp_output:\n  enabled: true\n  url: http://127.0.0.1:2801/\n  max_retries: 5\nprogram_output:\n  enabled: true\n  keep_alive: true\n  program: jq .\nkaudit:\n  auth:\n    bearer_token_file: {}\n",
        token.display()
    );
    let c = load(Some(&yaml), &["buffered_outputs=true"]).unwrap();
    assert!(!c.outputs.stdout && c.outputs.buffered);
    assert_eq!(
        c.outputs.file.as_ref().unwrap().filename,
        PathBuf::from("/tmp/a.txt")
    );
    let h = c.outputs.http.as_ref().unwrap();
    assert_eq!(
        (h.url.as_str(), h.max_retries),
        ("http://127.0.0.1:2801/", 5)
    );
    let p = c.outputs.program.as_ref().unwrap();
    assert!(p.keep_alive && p.program == "jq .");
    assert_eq!(c.auth.bearer_token.as_deref(), Some("s3cret"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn client_ca_requires_tls_everywhere() {
    let e = load(None, &["kaudit.auth.client_ca=/tmp/ca.pem"]).unwrap_err();
    assert!(e.0.starts_with("kaudit.auth.client_ca"), "{e}");
    let c = load(
        None,
        &[
            "kaudit.auth.client_ca=/tmp/ca.pem",
            "webserver.ssl_enabled=true",
        ],
    )
    .unwrap();
    assert_eq!(c.auth.client_ca.as_deref(), Some(Path::new("/tmp/ca.pem")));
}

#[test]
fn no_endpoint_is_an_error() {
    assert!(load(None, &["webserver.enabled=false"]).is_err());
}

#[test]
fn open_params_forms() {
    assert_eq!(
        parse_open_params("http://:9765/k8s-audit").unwrap(),
        (false, "0.0.0.0:9765".parse().unwrap(), "/k8s-audit".into())
    );
    assert_eq!(
        parse_open_params("https://[::1]:443").unwrap(),
        (true, "[::1]:443".parse().unwrap(), "/".into())
    );
    assert!(parse_open_params("http://example.com:80/x").is_err());
    assert!(parse_open_params("file:///var/log/x").is_err());
    assert!(parse_open_params("http://:port/x").is_err());
}

#[test]
fn file_and_cloud_plugins_are_sources_not_listeners() {
    let yaml = r#"
webserver:
  enabled: false
plugins:
  - name: k8saudit
    library_path: libk8saudit.so
    init_config: '{"maxEventSize": 2000}'
    open_params: "file:///var/log/kubernetes/audit.log"
  - name: k8saudit-eks
    library_path: libk8saudit-eks.so
    init_config:
      region: eu-west-1
      shift: 10
    open_params: "my-cluster"
  - name: k8saudit-gke
    library_path: libk8saudit-gke.so
    init_config: '{"project_id": "p"}'
    open_params: "sub"
  - name: k8saudit-aks
    open_params: ""
  - name: json
    library_path: libjson.so
load_plugins: [k8saudit, k8saudit-eks, k8saudit-gke, json]
kaudit:
  state_dir: /var/lib/kaudit
  source_unhealthy_after_ms: 60000
"#;
    let c = load(Some(yaml), &[]).unwrap();
    assert!(
        c.listeners.is_empty(),
        "no webhook needed: {:?}",
        c.listeners
    );
    assert_eq!(
        c.limits.max_event_size, 2000,
        "the file plugin's init_config applies"
    );
    let s = &c.sources;
    assert_eq!(
        s.state_dir.as_deref(),
        Some(std::path::Path::new("/var/lib/kaudit"))
    );
    assert_eq!(s.unhealthy_after, Duration::from_secs(60));
    assert_eq!(s.files.len(), 1);
    assert_eq!(
        s.files[0].path,
        std::path::Path::new("/var/log/kubernetes/audit.log")
    );
    assert_eq!(s.files[0].origin, "plugins[0]");
    // k8saudit-aks is not in load_plugins.
    let names: Vec<&str> = s.cloud.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["k8saudit-eks", "k8saudit-gke"]);
    assert_eq!(s.cloud[0].open_params, "my-cluster");
    assert_eq!(
        s.cloud[0].init_config.get("region"),
        Some(&tree::Node::Scalar("eu-west-1".into()))
    );
    assert_eq!(
        s.cloud[1].init_config.get("project_id"),
        Some(&tree::Node::Scalar("p".into())),
        "a JSON-string init_config becomes a map"
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn sources_default_to_no_state_dir_and_an_empty_file_url_is_an_error() {
    let c = load(None, &[]).unwrap();
    assert_eq!(c.sources.state_dir, None);
    assert!(c.sources.is_empty());
    assert_eq!(c.sources.unhealthy_after, Duration::from_secs(300));
    let yaml = "plugins:\n  - name: k8saudit\n    open_params: 'file://'\n";
    let e = load(Some(yaml), &[]).unwrap_err();
    assert!(e.0.starts_with("plugins[0].open_params:"), "{e}");
    let c = load(None, &["kaudit.state_dir=/tmp/s"]).unwrap();
    assert_eq!(
        c.sources.state_dir.as_deref(),
        Some(std::path::Path::new("/tmp/s"))
    );
}

#[test]
fn output_queue_keys() {
    use crate::outputs::queue::FullPolicy;
    let c = load(None, &[]).unwrap();
    assert_eq!(
        (c.outputs.queue_capacity, c.outputs.queue_policy),
        (4096, FullPolicy::Drop)
    );
    assert!(!c.settings.raw_text_output && !c.outputs.syslog);
    // Falco's outputs_queue.capacity wins when not 0 (Falco's "unbounded").
    let c = load(
        Some("outputs_queue:\n  capacity: 10\nsyslog_output:\n  enabled: true\n"),
        &[
            "kaudit.output_queue_capacity=99",
            "kaudit.output_queue_policy=block",
            "kaudit.raw_text_output=true",
        ],
    )
    .unwrap();
    assert_eq!(
        (c.outputs.queue_capacity, c.outputs.queue_policy),
        (10, FullPolicy::Block)
    );
    assert!(c.settings.raw_text_output && c.outputs.syslog);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let c = load(None, &["kaudit.output_queue_capacity=99"]).unwrap();
    assert_eq!(c.outputs.queue_capacity, 99);
    let e = load(None, &["kaudit.output_queue_policy=wait"]).unwrap_err();
    assert!(e.0.starts_with("kaudit.output_queue_policy"), "{e}");
}

#[test]
fn http_output_falco_keys() {
    let on = |extra: &[&str]| {
        let mut o = vec!["http_output.enabled=true", "http_output.url=https://h/"];
        o.extend_from_slice(extra);
        load(None, &o).unwrap().outputs.http.unwrap()
    };
    let h = on(&[]);
    assert_eq!(h.ca, HttpCa::Dir("/etc/ssl/certs".into()));
    assert_eq!(
        (
            h.mtls,
            h.keep_alive,
            h.max_consecutive_timeouts,
            h.buffer_size
        ),
        (None, false, 5, None)
    );
    // libcurl's order: ca_cert, then ca_bundle, then ca_path.
    let h = on(&["http_output.ca_bundle=/b.pem", "http_output.ca_cert=/c.pem"]);
    assert_eq!(
        h.ca,
        HttpCa::File {
            key: "ca_cert",
            path: "/c.pem".into()
        }
    );
    let h = on(&["http_output.ca_bundle=/b.pem"]);
    assert_eq!(
        h.ca,
        HttpCa::File {
            key: "ca_bundle",
            path: "/b.pem".into()
        }
    );
    let h = on(&[
        "http_output.mtls=true",
        "http_output.client_key=/k.pem",
        "http_output.keep_alive=true",
        "http_output.max_consecutive_timeouts=0",
        "http_output.buffer_size=7",
        "http_output.compress_uploads=true",
        "http_output.echo=true",
    ]);
    assert_eq!(
        h.mtls,
        Some(("/etc/ssl/certs/client.crt".into(), "/k.pem".into()))
    );
    assert!(h.keep_alive && h.compress_uploads);
    assert_eq!((h.max_consecutive_timeouts, h.buffer_size), (0, Some(7)));
    // Falco strips quotes around the URL.
    assert!(load(
        None,
        &["http_output.enabled=true", "http_output.url='http://h/'"]
    )
    .is_ok());
    assert!(load(
        None,
        &["http_output.enabled=true", "http_output.url=ftp://h/"]
    )
    .is_err());
}
