//! GKE audit logs: a Cloud Logging `LogEntry` (JSON, as Pub/Sub messages and log exports carry it) with a
//! `google.cloud.audit.AuditLog` payload, turned into an `audit.k8s.io/v1` Event with the mapping of
//! Falco's `k8saudit-gke` plugin (`convert.go`), so the same rules fire on the same fields:
//!
//! - verb: the last `.`-separated part of `methodName` (`io.k8s.core.v1.pods.create` → `create`);
//! - objectRef: from the `/`-separated parts of `resourceName` (`group/version/namespaces/ns/resource
//!   [/name[/subresource]]` or `group/version/resource/name[/subresource]`); other shapes give none;
//! - requestURI: `/` + `resourceName` (the real URI is not in the log);
//! - level `RequestResponse` and stage `ResponseComplete`, except `exec`/`attach` subresources: level
//!   `Request`, stage `ResponseStarted`, status 101;
//! - responseStatus inferred from the verb (201 for create, else 200), with "(inferred)" texts;
//! - user.username: `authenticationInfo.principalEmail` (groups are not in the log);
//! - sourceIPs: `[requestMetadata.callerIp]`, userAgent: `requestMetadata.callerSuppliedUserAgent`;
//! - annotations: the entry's labels, then the resource's labels (which win);
//! - auditID: `insertId`; both timestamps: `receiveTimestamp` at microsecond precision;
//! - requestObject/responseObject: `request`/`response` re-serialized as protojson writes a Struct.
//!
//! The JSON text is what Go's `json.Marshal` makes of the plugin's `auditv1.Event` (field order, omitted
//! empty fields, escaping: see `gojson`).
//!
//! Accepted entries are exactly the plugin's (`source.go`): `logName` ending in
//! `cloudaudit.googleapis.com%2Factivity` or `%2Fdata_access`, `resource.type` `k8s_cluster`, a
//! `protoPayload` of type `type.googleapis.com/google.cloud.audit.AuditLog` with `serviceName`
//! `k8s.io`, and the event within `maxEventSize`. Each other entry is dropped with a [`GkeDrop`] reason.
//! Where the plugin would crash on a missing `authenticationInfo` or `requestMetadata` (a nil pointer),
//! kaudit uses empty values. Unknown fields, which protojson would refuse, are ignored.

use super::gojson::{push_str, push_struct_value};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The payload type the plugin converts.
pub const AUDIT_LOG_TYPE: &str = "type.googleapis.com/google.cloud.audit.AuditLog";

/// Why a LogEntry did not become an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GkeDrop {
    /// Not JSON, or a field of the wrong type (protojson would fail to unmarshal it).
    Unparsable,
    /// `logName` is not an activity or data-access audit log.
    NotAuditLog,
    /// `resource.type` is not `k8s_cluster`.
    NotK8sCluster,
    /// No `protoPayload` (a text or JSON payload).
    NoProtoPayload,
    /// A `protoPayload` of another type than AuditLog.
    UnsupportedPayload,
    /// `serviceName` is not `k8s.io`.
    NotK8sService,
    /// The converted event is larger than `maxEventSize`.
    Oversized,
}

impl GkeDrop {
    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            GkeDrop::Unparsable => "unparsable",
            GkeDrop::NotAuditLog => "not_audit_log",
            GkeDrop::NotK8sCluster => "not_k8s_cluster",
            GkeDrop::NoProtoPayload => "no_proto_payload",
            GkeDrop::UnsupportedPayload => "unsupported_payload",
            GkeDrop::NotK8sService => "not_k8s_service",
            GkeDrop::Oversized => "oversized",
        }
    }
}

/// Converts the JSON text of one LogEntry.
pub fn convert_entry_bytes(entry: &[u8], max_event_size: usize) -> Result<String, GkeDrop> {
    let v: Value = serde_json::from_slice(entry).map_err(|_| GkeDrop::Unparsable)?;
    convert_entry(&v, max_event_size)
}

/// A message field by its JSON name or its proto name (protojson accepts both); `null` = absent.
fn field<'v>(obj: &'v Map<String, Value>, json: &str, proto: &str) -> Option<&'v Value> {
    obj.get(json)
        .or_else(|| obj.get(proto))
        .filter(|v| !v.is_null())
}

fn string_field(obj: &Map<String, Value>, json: &str, proto: &str) -> Result<String, GkeDrop> {
    match field(obj, json, proto) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(GkeDrop::Unparsable),
    }
}

fn message_field<'v>(
    obj: &'v Map<String, Value>,
    json: &str,
    proto: &str,
) -> Result<Option<&'v Map<String, Value>>, GkeDrop> {
    match field(obj, json, proto) {
        None => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(GkeDrop::Unparsable),
    }
}

fn labels(
    obj: Option<&Map<String, Value>>,
    out: &mut BTreeMap<String, String>,
) -> Result<(), GkeDrop> {
    let Some(obj) = obj else {
        return Ok(());
    };
    for (k, v) in obj {
        match v {
            Value::String(s) => {
                out.insert(k.clone(), s.clone());
            }
            _ => return Err(GkeDrop::Unparsable),
        }
    }
    Ok(())
}

/// Converts one parsed LogEntry into the JSON text of an audit Event.
pub fn convert_entry(entry: &Value, max_event_size: usize) -> Result<String, GkeDrop> {
    let entry = entry.as_object().ok_or(GkeDrop::Unparsable)?;
    let log_name = string_field(entry, "logName", "log_name")?;
    let resource = message_field(entry, "resource", "resource")?;
    let receive = match field(entry, "receiveTimestamp", "receive_timestamp") {
        None => Some(MicroTime::EPOCH),
        Some(Value::String(s)) => MicroTime::parse(s),
        Some(_) => None,
    }
    .ok_or(GkeDrop::Unparsable)?;
    let mut annotations = BTreeMap::new();
    labels(message_field(entry, "labels", "labels")?, &mut annotations)?;
    if let Some(r) = resource {
        labels(message_field(r, "labels", "labels")?, &mut annotations)?;
    }
    let insert_id = string_field(entry, "insertId", "insert_id")?;
    let payload = message_field(entry, "protoPayload", "proto_payload")?;

    if !(log_name.ends_with("cloudaudit.googleapis.com%2Factivity")
        || log_name.ends_with("cloudaudit.googleapis.com%2Fdata_access"))
    {
        return Err(GkeDrop::NotAuditLog);
    }
    let resource_type = match resource {
        Some(r) => string_field(r, "type", "type")?,
        None => String::new(),
    };
    if resource_type != "k8s_cluster" {
        return Err(GkeDrop::NotK8sCluster);
    }
    let payload = payload.ok_or(GkeDrop::NoProtoPayload)?;
    if string_field(payload, "@type", "@type")? != AUDIT_LOG_TYPE {
        return Err(GkeDrop::UnsupportedPayload);
    }
    let log = AuditLog::read(payload)?;
    if log.service_name != "k8s.io" {
        return Err(GkeDrop::NotK8sService);
    }
    let json = event_json(&log, &insert_id, receive, &annotations);
    if json.len() > max_event_size {
        return Err(GkeDrop::Oversized);
    }
    Ok(json)
}

/// The AuditLog fields the conversion reads.
struct AuditLog<'v> {
    service_name: String,
    method_name: String,
    resource_name: String,
    principal_email: String,
    caller_ip: String,
    user_agent: String,
    request: Option<&'v Value>,
    response: Option<&'v Value>,
}

impl<'v> AuditLog<'v> {
    fn read(p: &'v Map<String, Value>) -> Result<AuditLog<'v>, GkeDrop> {
        let auth = message_field(p, "authenticationInfo", "authentication_info")?;
        let meta = message_field(p, "requestMetadata", "request_metadata")?;
        let obj = |json, proto| match field(p, json, proto) {
            None => Ok(None),
            Some(v @ Value::Object(_)) => Ok(Some(v)),
            Some(_) => Err(GkeDrop::Unparsable),
        };
        Ok(AuditLog {
            service_name: string_field(p, "serviceName", "service_name")?,
            method_name: string_field(p, "methodName", "method_name")?,
            resource_name: string_field(p, "resourceName", "resource_name")?,
            principal_email: match auth {
                Some(a) => string_field(a, "principalEmail", "principal_email")?,
                None => String::new(),
            },
            caller_ip: match meta {
                Some(m) => string_field(m, "callerIp", "caller_ip")?,
                None => String::new(),
            },
            user_agent: match meta {
                Some(m) => {
                    string_field(m, "callerSuppliedUserAgent", "caller_supplied_user_agent")?
                }
                None => String::new(),
            },
            request: obj("request", "request")?,
            response: obj("response", "response")?,
        })
    }
}

/// The plugin's object reference (fields in Go's `ObjectReference` order; empty ones are omitted).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ObjectRef<'a> {
    pub resource: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub api_group: &'a str,
    pub api_version: &'a str,
    pub subresource: &'a str,
}

/// `resourceName` → objectRef, by the plugin's cases in its order.
pub fn object_ref(resource_name: &str) -> Option<ObjectRef<'_>> {
    if resource_name.is_empty() {
        return None;
    }
    let p: Vec<&str> = resource_name.split('/').collect();
    let part = |i: usize| p.get(i).copied().unwrap_or("");
    let ns = part(2) == "namespaces";
    let base = ObjectRef {
        api_group: part(0),
        api_version: part(1),
        ..ObjectRef::default()
    };
    let r = match p.len() {
        6 if ns => ObjectRef {
            namespace: part(3),
            resource: part(4),
            name: part(5),
            ..base
        },
        5 if ns => ObjectRef {
            namespace: part(3),
            resource: part(4),
            ..base
        },
        4 => ObjectRef {
            resource: part(2),
            name: part(3),
            ..base
        },
        n if n >= 7 && ns => ObjectRef {
            namespace: part(3),
            resource: part(4),
            name: part(5),
            subresource: part(6),
            ..base
        },
        n if n >= 5 && !ns => ObjectRef {
            resource: part(2),
            name: part(3),
            subresource: part(4),
            ..base
        },
        _ => return None,
    };
    Some(r)
}

/// The verb: what follows the last `.` of `methodName`.
pub fn verb(method_name: &str) -> &str {
    method_name.rsplit('.').next().unwrap_or("")
}

/// A timestamp as `metav1.MicroTime` marshals it: UTC with exactly six fraction digits (truncated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MicroTime {
    secs: i64,
    nanos: u32,
}

impl MicroTime {
    /// A LogEntry without `receiveTimestamp`: Go's `AsTime()` of a nil Timestamp is the Unix epoch.
    const EPOCH: MicroTime = MicroTime { secs: 0, nanos: 0 };

    /// protojson's Timestamp: RFC 3339, at most nine fraction digits.
    fn parse(s: &str) -> Option<MicroTime> {
        let frac_digits = match (s.rfind('.'), s.rfind(['Z', 'z', '+', '-'])) {
            (Some(i), Some(j)) if j > i => j - i - 1,
            _ => 0,
        };
        if frac_digits > 9 {
            return None;
        }
        let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
        Some(MicroTime {
            secs: t.timestamp(),
            nanos: t.timestamp_subsec_nanos(),
        })
    }

    fn push(self, out: &mut String) {
        // Go's zero time (0001-01-01T00:00:00Z) marshals as null.
        if self.secs == -62_135_596_800 && self.nanos == 0 {
            out.push_str("null");
            return;
        }
        match chrono::DateTime::from_timestamp(self.secs, self.nanos) {
            Some(t) => {
                out.push('"');
                out.push_str(&t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string());
                out.push('"');
            }
            None => out.push_str("null"),
        }
    }
}

fn push_member(out: &mut String, key: &str) {
    if !out.ends_with('{') {
        out.push(',');
    }
    push_str(out, key);
    out.push(':');
}

fn event_json(
    log: &AuditLog<'_>,
    insert_id: &str,
    time: MicroTime,
    annotations: &BTreeMap<String, String>,
) -> String {
    let verb = verb(&log.method_name);
    let obj = object_ref(&log.resource_name);
    let streaming = obj
        .as_ref()
        .is_some_and(|o| o.subresource == "attach" || o.subresource == "exec");
    let (level, stage) = if streaming {
        ("Request", "ResponseStarted")
    } else {
        ("RequestResponse", "ResponseComplete")
    };
    let (status, code) = if streaming {
        ("Switching Protocols (inferred)", 101)
    } else if verb == "create" {
        ("Created (inferred)", 201)
    } else {
        ("OK (inferred)", 200)
    };
    let mut o = String::with_capacity(512);
    o.push_str(r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1""#);
    for (k, v) in [("level", level), ("auditID", insert_id), ("stage", stage)] {
        push_member(&mut o, k);
        push_str(&mut o, v);
    }
    push_member(&mut o, "requestURI");
    push_str(&mut o, &format!("/{}", log.resource_name));
    push_member(&mut o, "verb");
    push_str(&mut o, verb);
    push_member(&mut o, "user");
    o.push('{');
    if !log.principal_email.is_empty() {
        push_member(&mut o, "username");
        push_str(&mut o, &log.principal_email);
    }
    o.push('}');
    push_member(&mut o, "sourceIPs");
    o.push('[');
    push_str(&mut o, &log.caller_ip);
    o.push(']');
    if !log.user_agent.is_empty() {
        push_member(&mut o, "userAgent");
        push_str(&mut o, &log.user_agent);
    }
    if let Some(r) = &obj {
        push_member(&mut o, "objectRef");
        o.push('{');
        for (k, v) in [
            ("resource", r.resource),
            ("namespace", r.namespace),
            ("name", r.name),
            ("apiGroup", r.api_group),
            ("apiVersion", r.api_version),
            ("subresource", r.subresource),
        ] {
            if !v.is_empty() {
                push_member(&mut o, k);
                push_str(&mut o, v);
            }
        }
        o.push('}');
    }
    push_member(&mut o, "responseStatus");
    o.push_str(r#"{"metadata":{}"#);
    push_member(&mut o, "status");
    push_str(&mut o, status);
    push_member(&mut o, "message");
    push_str(&mut o, status);
    push_member(&mut o, "code");
    o.push_str(&code.to_string());
    o.push('}');
    for (k, v) in [
        ("requestObject", log.request),
        ("responseObject", log.response),
    ] {
        if let Some(v) = v {
            push_member(&mut o, k);
            push_struct_value(&mut o, v);
        }
    }
    for k in ["requestReceivedTimestamp", "stageTimestamp"] {
        push_member(&mut o, k);
        time.push(&mut o);
    }
    if !annotations.is_empty() {
        push_member(&mut o, "annotations");
        o.push('{');
        for (k, v) in annotations {
            push_member(&mut o, k);
            push_str(&mut o, v);
        }
        o.push('}');
    }
    o.push('}');
    o
}
