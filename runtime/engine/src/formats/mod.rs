//! Audit logs as the clouds deliver them, turned into `audit.k8s.io/v1` documents for `ingest`.
//!
//! Plain functions (bytes → audit documents + drop counts by reason), shared by `kaudit replay` (which
//! detects each line's format) and the cloud sources (which know theirs): a GKE `LogEntry` (`gke`), an
//! AKS diagnostic records document (`aks`), a CloudWatch Logs subscription document (`cloudwatch`). An
//! audit Event, EventList or array passes through unchanged.

pub mod aks;
pub mod cloudwatch;
pub mod gke;
pub mod gojson;

use serde_json::Value;

/// The formats a document can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An audit Event, EventList or array of those.
    Audit,
    /// A Cloud Logging LogEntry, or an array of them (a "download as JSON" export).
    GkeLogEntry,
    /// An Azure diagnostic records document.
    AksRecords,
    /// A CloudWatch Logs subscription document.
    CloudWatch,
}

impl Format {
    /// The names `--input-format` accepts.
    pub const NAMES: &'static [&'static str] = &["audit", "gke", "aks", "cloudwatch"];

    pub fn from_name(s: &str) -> Option<Format> {
        Some(match s {
            "audit" => Format::Audit,
            "gke" => Format::GkeLogEntry,
            "aks" => Format::AksRecords,
            "cloudwatch" => Format::CloudWatch,
            _ => return None,
        })
    }

    /// The format a parsed document looks like, by its distinctive members; `None` = none of them.
    pub fn detect(v: &Value) -> Option<Format> {
        match v {
            Value::Object(m) => {
                if matches!(
                    m.get("kind").and_then(Value::as_str),
                    Some("Event" | "EventList")
                ) {
                    Some(Format::Audit)
                } else if m.get("records").is_some_and(Value::is_array) {
                    Some(Format::AksRecords)
                } else if m.contains_key("messageType") && m.contains_key("logEvents") {
                    Some(Format::CloudWatch)
                } else if ["protoPayload", "proto_payload", "logName", "log_name"]
                    .iter()
                    .any(|k| m.contains_key(*k))
                {
                    Some(Format::GkeLogEntry)
                } else {
                    None
                }
            }
            Value::Array(items) => match items.first().and_then(Format::detect) {
                Some(Format::GkeLogEntry) => Some(Format::GkeLogEntry),
                Some(_) => Some(Format::Audit),
                None => None,
            },
            _ => None,
        }
    }
}

/// Audit documents made from one input document, and what was dropped on the way.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Converted {
    /// Audit documents (Event/EventList/array JSON), for `ingest`.
    pub docs: Vec<Vec<u8>>,
    /// Records read (log entries, records, log events).
    pub records: u64,
    /// Records that gave no document, by reason.
    pub dropped: Vec<(&'static str, u64)>,
    /// Newest record time (ns since the epoch), when the format carries one.
    pub newest_record_ns: Option<u64>,
}

impl Converted {
    /// Counts one record dropped for `why`.
    pub fn drop(&mut self, why: &'static str) {
        match self.dropped.iter_mut().find(|(w, _)| *w == why) {
            Some((_, n)) => *n += 1,
            None => self.dropped.push((why, 1)),
        }
    }

    /// Total records dropped.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().map(|(_, n)| n).sum()
    }
}

/// Converts a parsed document of a known format. `max_event_size` bounds converted GKE events (the
/// other formats carry audit JSON that `ingest` checks). `Err` = the document is not of that format.
pub fn convert_value(
    format: Format,
    v: &Value,
    max_event_size: usize,
) -> Result<Converted, String> {
    match format {
        // Audit documents pass through `convert` untouched (their text is what the rules see).
        Format::Audit => Err("internal: audit documents are not converted".into()),
        Format::GkeLogEntry => {
            let mut out = Converted::default();
            let entries = match v {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            for e in entries {
                out.records += 1;
                match gke::convert_entry(e, max_event_size) {
                    Ok(json) => out.docs.push(json.into_bytes()),
                    Err(why) => out.drop(why.label()),
                }
            }
            Ok(out)
        }
        Format::AksRecords => aks::records_value(v),
        Format::CloudWatch => cloudwatch::data_message_value(v),
    }
}

/// Converts the text of one document: `format` forces one, `None` detects it.
pub fn convert(
    format: Option<Format>,
    doc: &[u8],
    max_event_size: usize,
) -> Result<Converted, String> {
    if format == Some(Format::Audit) {
        return Ok(Converted {
            docs: vec![doc.to_vec()],
            records: 1,
            ..Converted::default()
        });
    }
    let v: Value = serde_json::from_slice(doc).map_err(|e| format!("cannot parse JSON: {e}"))?;
    let f = match format {
        Some(f) => f,
        None => Format::detect(&v).ok_or(
            "data not recognized as a k8s audit event, a GKE LogEntry, AKS records or a CloudWatch Logs document",
        )?,
    };
    if f == Format::Audit {
        return Ok(Converted {
            docs: vec![doc.to_vec()],
            records: 1,
            ..Converted::default()
        });
    }
    convert_value(f, &v, max_event_size)
}
