//! `kaudit replay` as a process: bad lines of every kind are reported with their line numbers and skipped,
//! every good event still alerts, gzip input is detected, and rule load errors exit 1.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

const RULES: &str = r#"
- rule: Any create
  desc: every create
  condition: ka.verb = create
  output: created id=%ka.auditid user=%ka.user.name
  priority: WARNING
  source: k8s_audit
  tags: [k8s, test]
"#;

fn event(id: &str, user: &str) -> String {
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"{id}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/configmaps","verb":"create","user":{{"username":"{user}"}},"objectRef":{{"resource":"configmaps","namespace":"default","name":"x"}},"responseStatus":{{"code":201}},"requestReceivedTimestamp":"2024-01-02T03:04:05.000000Z","stageTimestamp":"2024-01-02T03:04:05.123456Z"}}"#
    )
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kaudit-replay-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(bytes))
        .expect("write temp file");
}

fn kaudit(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kaudit"))
        .args(args)
        .env("TZ", "UTC")
        .env("FALCO_HOSTNAME", "replay-test")
        .output()
        .expect("run kaudit");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_lines_are_reported_and_skipped() {
    let dir = scratch_dir("mixed");
    let rules = dir.join("rules.yaml");
    write(&rules, RULES.as_bytes());
    let mut log = Vec::new();
    log.extend_from_slice(format!("{}\n", event("good-1", "alice")).as_bytes()); // 1
    log.extend_from_slice(b"{\"kind\": \"Event\", \"auditID\": \n"); // 2 truncated
    log.extend_from_slice(b"this is not json\n"); // 3 malformed
    log.extend_from_slice(b"\n"); // 4 blank: skipped silently
    log.extend_from_slice(
        b"{\"kind\":\"Event\",\"auditID\":\"x\",\"user\":{\"username\":\"\xff\xfe\"}}\n",
    ); // 5 non-UTF-8
    log.extend_from_slice(b"{\"kind\": 0}\n"); // 6 not audit data
    log.extend_from_slice(format!("{}\r\n", event("good-2", "bob")).as_bytes()); // 7 CRLF
    let no_time = event("no-time", "carol").replace(
        "\"stageTimestamp\":\"2024-01-02T03:04:05.123456Z\"",
        "\"x\":1",
    );
    log.extend_from_slice(format!("{no_time}\n").as_bytes()); // 8 no stageTimestamp: dropped
    let list = format!(
        r#"{{"kind":"EventList","items":[{},{}]}}"#,
        event("good-3", "dave"),
        event("good-4", "erin")
    );
    log.extend_from_slice(list.as_bytes()); // 9, no final newline
    let input = dir.join("audit.log");
    write(&input, &log);

    let (code, stdout, stderr) = kaudit(&[
        "replay",
        "-r",
        rules.to_str().unwrap(),
        "--json",
        input.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "stderr: {stderr}");
    let ids: Vec<String> = stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert_eq!(v["hostname"], "replay-test");
            assert_eq!(v["rule"], "Any create");
            assert_eq!(v["tags"], serde_json::json!(["k8s", "test"]));
            v["output_fields"]["ka.auditid"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(
        ids,
        ["good-1", "good-2", "good-3", "good-4"],
        "stdout: {stdout}"
    );
    let input_name = input.to_str().unwrap();
    for line in [2, 3, 5, 6] {
        assert!(
            stderr.contains(&format!("{input_name}:{line}:")),
            "line {line} not reported; stderr: {stderr}"
        );
    }
    assert!(
        !stderr.contains(&format!("{input_name}:4:")),
        "blank line reported; stderr: {stderr}"
    );
    assert!(
        stderr.contains("data not recognized as a k8s audit event"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{input_name}:8: event dropped")),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "4 events, 4 alerts, 4 malformed lines, 1 event without a valid stageTimestamp"
        ),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn gzip_input_and_text_output() {
    use flate2::write::GzEncoder;
    let dir = scratch_dir("gzip");
    let rules = dir.join("rules.yaml");
    write(&rules, RULES.as_bytes());
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(format!("{}\n{}\n", event("g1", "alice"), event("g2", "bob")).as_bytes())
        .unwrap();
    let input = dir.join("audit.log.gz");
    write(&input, &gz.finish().unwrap());

    let (code, stdout, stderr) = kaudit(&[
        "replay",
        "-r",
        rules.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "stderr: {stderr}");
    assert_eq!(
        stdout,
        "03:04:05.123456000: Warning created id=g1 user=alice\n03:04:05.123456000: Warning created id=g2 user=bob\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn settings_and_load_errors_give_exit_codes() {
    let dir = scratch_dir("errors");
    let rules = dir.join("rules.yaml");
    write(&rules, RULES.as_bytes());
    let bad_rules = dir.join("bad.yaml");
    write(&bad_rules, b"- rule: broken\n  desc: d\n  condition: ka.verb =\n  output: o\n  priority: WARNING\n  source: k8s_audit\n");
    let input = dir.join("audit.log");
    write(&input, format!("{}\n", event("e1", "alice")).as_bytes());

    let (code, stdout, _) = kaudit(&[
        "replay",
        "-r",
        bad_rules.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty());

    let (code, _, stderr) = kaudit(&[
        "replay",
        "-r",
        rules.to_str().unwrap(),
        "-o",
        "rule_matching=sometimes",
        input.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");

    // Disabling every rule by selection leaves nothing to alert.
    let (code, stdout, stderr) = kaudit(&[
        "replay",
        "-r",
        rules.to_str().unwrap(),
        "-o",
        "rules[0].disable.rule=*",
        input.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn config_file_supplies_rules_and_selections() {
    let dir = scratch_dir("config");
    let rules = dir.join("rules.yaml");
    let two_rules = format!(
        "{RULES}- rule: Any verb\n  desc: d\n  condition: ka.verb exists\n  output: verb %ka.verb\n  priority: NOTICE\n  source: k8s_audit\n"
    );
    write(&rules, two_rules.as_bytes());
    // Disable everything, then re-enable in the opposite order of definition: "Any verb" goes first.
    let config = dir.join("falco.yaml");
    let yaml = format!(
        "rules_files: [{}]\njson_output: true\njson_include_tags_property: false\nrules:\n  - disable: {{rule: \"*\"}}\n  - enable: {{rule: Any verb}}\n  - enable: {{rule: Any create}}\n",
        rules.display()
    );
    write(&config, yaml.as_bytes());
    let input = dir.join("audit.log");
    write(&input, format!("{}\n", event("c1", "alice")).as_bytes());
    let cfg = config.to_str().unwrap();
    let inp = input.to_str().unwrap();

    let (code, stdout, stderr) = kaudit(&["replay", "-c", cfg, "-o", "rule_matching=all", inp]);
    assert_eq!(code, 0, "{stderr}");
    let rules_seen: Vec<String> = stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert!(v.get("tags").is_none(), "tags disabled by the config: {l}");
            v["rule"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(rules_seen, ["Any verb", "Any create"]);

    // -o applies after the file: first match only, text output.
    let (code, stdout, stderr) = kaudit(&["replay", "-c", cfg, "-o", "json_output=false", inp]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "03:04:05.123456000: Notice verb create\n");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A file large enough for the multi-core replay (`replay_parallel::MIN_PARALLEL_BYTES`, 8 MiB) gives
/// the same alerts, diagnostics and summary on several threads as on one; a rule set that reads
/// `evt.num` (which needs the whole stream in order) gives the same numbering either way.
#[test]
fn large_files_replay_the_same_on_every_core() {
    let dir = scratch_dir("parallel");
    let rules = dir.join("rules.yaml");
    write(&rules, RULES.as_bytes());
    let numbered = dir.join("numbered.yaml");
    write(
        &numbered,
        RULES.replace("user=%ka.user.name", "n=%evt.num").as_bytes(),
    );
    let mut log = Vec::new();
    let mut i = 0;
    while log.len() < (9 << 20) {
        match i % 1000 {
            17 => log.extend_from_slice(b"{\"kind\": \"Event\", \"auditID\": \n"),
            400 => log.extend_from_slice(b"\n"),
            _ => {
                let user = ["alice", "bob", "system:admin"][i % 3];
                log.extend_from_slice(event(&format!("id-{i}"), user).as_bytes());
                log.push(b'\n');
            }
        }
        i += 1;
    }
    let file = dir.join("big.jsonl");
    write(&file, &log);
    let path = file.to_str().expect("UTF-8 temp path");
    for rule_file in [&rules, &numbered] {
        let r = rule_file.to_str().expect("UTF-8 temp path");
        let one = kaudit(&["replay", "-r", r, "--json", "--threads", "1", path]);
        let many = kaudit(&["replay", "-r", r, "--json", "--threads", "3", path]);
        assert_eq!(one.0, 0, "{}", one.2);
        assert!(one.1.lines().count() > 20_000, "every good event alerts");
        assert!(one.1 == many.1, "alerts differ between 1 and 3 threads");
        assert_eq!(one.2, many.2, "diagnostics and summary");
        assert_eq!(many.0, 0);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
