//! The Event Hubs boundary: what the consumer loop needs from a hub, so that tests can stand in for
//! the SDK (there is no Event Hubs emulator to test against).

use std::future::Future;
use std::time::Duration;

/// One event received from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubEvent {
    /// Increases by one per event within a partition; the checkpoint and deduplication key.
    pub sequence_number: i64,
    /// The service's offset of the event (stored with the checkpoint, as Azure's SDKs do).
    pub offset: Option<String>,
    /// When the hub accepted the event, ns since the epoch (for the lag metric).
    pub enqueued_ns: Option<u64>,
    /// The message body: one diagnostic records document.
    pub body: Vec<u8>,
}

/// A hub the source reads every partition of.
pub trait Hub: Send {
    /// The hub's partition IDs.
    fn partitions(&mut self) -> impl Future<Output = Result<Vec<String>, String>> + Send;

    /// Up to `max` events of `partition` whose sequence number is greater than `after` (`None`: only
    /// events enqueued from now on), waiting at most `wait` for the first one. An empty answer means
    /// nothing new.
    fn receive(
        &mut self,
        partition: &str,
        after: Option<i64>,
        max: usize,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<HubEvent>, String>> + Send;
}
