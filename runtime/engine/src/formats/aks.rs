//! AKS audit logs: Azure diagnostic records, as Event Hubs messages and storage-account archives carry
//! them: `{"records":[{"category":"kube-audit","properties":{"log":"<audit event JSON>"}}, ...]}`.
//!
//! Records of the categories `kube-audit` and `kube-audit-admin` (or without a category, which Falco's
//! `k8saudit-aks` plugin also reads) give their `properties.log` string as an audit document. Records of
//! other categories (kube-apiserver, cluster-autoscaler... routed to the same hub) are skipped, and a
//! `log` that is not JSON is counted, as the plugin skips it.

use super::Converted;
use serde_json::Value;

/// Splits one records document. `Err` = not a records document at all.
pub fn records(doc: &[u8]) -> Result<Converted, String> {
    let v: Value = serde_json::from_slice(doc).map_err(|e| format!("cannot parse JSON: {e}"))?;
    records_value(&v)
}

/// Like [`records`] for a document already parsed.
pub fn records_value(v: &Value) -> Result<Converted, String> {
    let recs = v
        .get("records")
        .and_then(Value::as_array)
        .ok_or("not an Azure diagnostic records document (no \"records\" array)")?;
    let mut out = Converted::default();
    for r in recs {
        out.records += 1;
        match r.get("category") {
            None | Some(Value::Null) => {}
            Some(Value::String(c)) if c == "kube-audit" || c == "kube-audit-admin" => {}
            Some(_) => {
                out.drop("other_category");
                continue;
            }
        }
        let Some(log) = r.pointer("/properties/log").and_then(Value::as_str) else {
            out.drop("no_log");
            continue;
        };
        if serde_json::from_str::<serde::de::IgnoredAny>(log).is_err() {
            out.drop("bad_log");
            continue;
        }
        out.docs.push(log.as_bytes().to_vec());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_audit_categories_pass_others_are_skipped_bad_logs_counted() {
        let ev = r#"{\"kind\":\"Event\",\"verb\":\"get\"}"#;
        let doc = format!(
            r#"{{"records":[
              {{"category":"kube-audit","properties":{{"log":"{ev}"}}}},
              {{"category":"kube-audit-admin","properties":{{"log":"{ev}"}}}},
              {{"category":"kube-apiserver","properties":{{"log":"I0101 klog text"}}}},
              {{"category":"kube-audit","properties":{{"log":"I0101 not json"}}}},
              {{"category":"kube-audit","properties":{{}}}},
              {{"properties":{{"log":"{ev}"}}}}
            ]}}"#
        );
        let c = records(doc.as_bytes()).unwrap();
        assert_eq!(c.records, 6);
        assert_eq!(c.docs.len(), 3);
        assert_eq!(c.docs[0], br#"{"kind":"Event","verb":"get"}"#);
        assert_eq!(
            c.dropped,
            vec![("other_category", 1), ("bad_log", 1), ("no_log", 1)]
        );
        assert!(records(br#"{"kind":"Event"}"#).is_err());
        assert!(records(b"{").is_err());
    }
}
