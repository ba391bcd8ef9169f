//! The audit event view (owned by the fields work; this is the interface others build on).
//!
//! `Event::parse(bytes)` validates the JSON and indexes top-level members without copying;
//! `requestObject`/`responseObject` are parsed only when a field needs them.

/// A parsed audit event borrowing its JSON bytes (stub until the event view lands).
pub struct Event<'a> {
    pub raw: &'a [u8],
}
