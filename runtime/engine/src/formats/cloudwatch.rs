//! EKS audit logs as CloudWatch Logs delivers them to a subscription (Lambda, Kinesis, Firehose):
//! `{"messageType":"DATA_MESSAGE","logGroup":...,"logStream":...,"logEvents":[{"id":...,"timestamp":...,
//! "message":"<audit event JSON>"}]}`, usually gzip-compressed. Each `message` is an audit document;
//! `CONTROL_MESSAGE` documents (sent when a subscription is created) carry no events.

use super::Converted;
use serde_json::Value;

/// Splits one subscription document. `Err` = not a CloudWatch Logs subscription document.
pub fn data_message(doc: &[u8]) -> Result<Converted, String> {
    let v: Value = serde_json::from_slice(doc).map_err(|e| format!("cannot parse JSON: {e}"))?;
    data_message_value(&v)
}

/// Like [`data_message`] for a document already parsed.
pub fn data_message_value(v: &Value) -> Result<Converted, String> {
    let kind = v
        .get("messageType")
        .and_then(Value::as_str)
        .ok_or("not a CloudWatch Logs subscription document (no \"messageType\")")?;
    let mut out = Converted::default();
    if kind == "CONTROL_MESSAGE" {
        out.records = 1;
        out.drop("control_message");
        return Ok(out);
    }
    if kind != "DATA_MESSAGE" {
        return Err(format!("unknown CloudWatch Logs messageType {kind:?}"));
    }
    let events = v
        .get("logEvents")
        .and_then(Value::as_array)
        .ok_or("DATA_MESSAGE without a \"logEvents\" array")?;
    for e in events {
        out.records += 1;
        match e.get("message").and_then(Value::as_str) {
            Some(m) => {
                if let Some(ts) = e.get("timestamp").and_then(Value::as_u64) {
                    let ns = ts.saturating_mul(1_000_000);
                    out.newest_record_ns = Some(out.newest_record_ns.map_or(ns, |t| t.max(ns)));
                }
                out.docs.push(m.as_bytes().to_vec());
            }
            None => out.drop("no_message"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_messages_give_their_messages_control_messages_nothing() {
        let doc = r#"{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"/aws/eks/c/cluster","logStream":"kube-apiserver-audit-1","subscriptionFilters":["f"],"logEvents":[{"id":"1","timestamp":1700000000000,"message":"{\"kind\":\"Event\"}"},{"id":"2","timestamp":1700000001000},{"id":"3","timestamp":1699999999000,"message":"x"}]}"#;
        let c = data_message(doc.as_bytes()).unwrap();
        assert_eq!(c.records, 3);
        assert_eq!(c.docs, vec![br#"{"kind":"Event"}"#.to_vec(), b"x".to_vec()]);
        assert_eq!(c.dropped, vec![("no_message", 1)]);
        assert_eq!(c.newest_record_ns, Some(1_700_000_000_000_000_000));
        let ctl = data_message(br#"{"messageType":"CONTROL_MESSAGE","logEvents":[]}"#).unwrap();
        assert_eq!(
            (ctl.docs.len(), ctl.dropped.clone()),
            (0, vec![("control_message", 1)])
        );
        assert!(data_message(br#"{"records":[]}"#).is_err());
    }
}
