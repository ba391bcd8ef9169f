//! The corpus is deterministic, valid audit JSON, and follows the documented mix.

use kaudit_corpus::{generate, generate_class, Class};
use std::collections::HashMap;

#[test]
fn same_seed_gives_identical_bytes_and_other_seeds_differ() {
    let a = generate(42, 600);
    let b = generate(42, 600);
    let c = generate(43, 600);
    assert_eq!(a.data, b.data);
    assert_ne!(a.data, c.data);
}

#[test]
fn every_line_is_an_audit_event_with_the_required_members() {
    let corpus = generate(7, 3_000);
    let lines: Vec<&[u8]> = corpus
        .data
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), 3_000);
    for (i, (bytes, class)) in corpus.iter().enumerate() {
        assert_eq!(bytes, lines[i], "span {i} matches line {i}");
        let v: serde_json::Value =
            serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("event {i} ({class:?}): {e}"));
        assert_eq!(v["kind"], "Event");
        assert_eq!(v["apiVersion"], "audit.k8s.io/v1");
        for key in [
            "level",
            "auditID",
            "stage",
            "requestURI",
            "verb",
            "user",
            "stageTimestamp",
        ] {
            assert!(v.get(key).is_some(), "event {i} ({class:?}) lacks {key}");
        }
        let level = v["level"].as_str().unwrap_or_default();
        if v.get("requestObject").is_some() {
            assert!(
                level == "Request" || level == "RequestResponse",
                "event {i}: body at level {level}"
            );
        }
        if v.get("responseObject").is_some() {
            assert_eq!(level, "RequestResponse", "event {i}");
        }
    }
}

#[test]
fn mix_follows_the_documented_shares() {
    let n = 20_000;
    let corpus = generate(1, n);
    let mut counts: HashMap<Class, usize> = HashMap::new();
    for s in &corpus.events {
        *counts.entry(s.class).or_default() += 1;
    }
    for class in Class::ALL {
        let expected = class.per_mille() as f64 / 1000.0 * n as f64;
        let got = *counts.get(&class).unwrap_or(&0) as f64;
        let tolerance = 4.0 * expected.sqrt() + 5.0;
        assert!(
            (got - expected).abs() < tolerance,
            "{class:?}: expected ~{expected}, got {got}"
        );
    }
    assert_eq!(Class::ALL.iter().map(|c| c.per_mille()).sum::<u64>(), 1000);
}

#[test]
fn sizes_span_hundreds_of_bytes_to_tens_of_kilobytes() {
    let corpus = generate(1, 20_000);
    let sizes: Vec<usize> = corpus.events.iter().map(|s| s.end - s.start).collect();
    let min = sizes.iter().copied().min().unwrap_or(0);
    let max = sizes.iter().copied().max().unwrap_or(0);
    assert!((300..=600).contains(&min), "smallest event {min} B");
    assert!(max >= 20_000, "largest event {max} B");
    let avg = corpus.event_bytes() / sizes.len();
    assert!((700..=3_000).contains(&avg), "average {avg} B");
}

#[test]
fn classes_carry_their_defining_traits() {
    let check = |class: Class, pred: &dyn Fn(&serde_json::Value) -> bool| {
        let c = generate_class(3, class, 200);
        for (bytes, _) in c.iter() {
            let v: serde_json::Value = serde_json::from_slice(bytes).expect("valid JSON");
            assert!(pred(&v), "{class:?}: {v}");
        }
    };
    check(Class::ReadMetadata, &|v| {
        v["level"] == "Metadata"
            && ["get", "list", "watch"].contains(&v["verb"].as_str().unwrap_or(""))
    });
    check(Class::PodCreate, &|v| {
        v["verb"] == "create"
            && v["objectRef"]["resource"] == "pods"
            && v["requestObject"]["spec"]["containers"]
                .as_array()
                .is_some_and(|c| !c.is_empty())
    });
    check(Class::RoleCreate, &|v| {
        v["verb"] == "create"
            && v["requestObject"]["rules"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
    });
    check(Class::ExecAttachPortForward, &|v| {
        ["exec", "attach", "portforward"]
            .contains(&v["objectRef"]["subresource"].as_str().unwrap_or(""))
    });
    check(Class::Anonymous, &|v| {
        v["user"]["username"] == "system:anonymous"
    });
    check(
        Class::Unauthorized,
        &|v| match v["responseStatus"]["code"].as_i64() {
            Some(401) => v.get("annotations").is_none() && v["user"] == serde_json::json!({}),
            Some(403) => v["annotations"]["authorization.k8s.io/decision"] == "forbid",
            _ => false,
        },
    );
}
