//! The real [`Hub`]: Azure's `azure_messaging_eventhubs` consumer, logged in with the namespace
//! connection string, one receiver per partition kept open between receives and reopened at the
//! requested position when the caller asks for another one (after an error, or at start).
//!
//! Not tested against a real Event Hub (there is no emulator here); the consumer loop above it is
//! tested with a stand-in of [`Hub`].

use super::bridge::{self, TlsBridge};
use super::hub::{Hub, HubEvent};
use azure_messaging_eventhubs::models::ReceivedEventData;
use azure_messaging_eventhubs::{
    ConnectionString, ConsumerClient, EventReceiver, OpenReceiverOptions, StartLocation,
    StartPosition,
};
use futures_util::StreamExt as _;
use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

/// Events after the first one are taken while they arrive within this time of each other.
const NEXT_EVENT_WAIT: Duration = Duration::from_millis(20);
/// Messages the SDK may buffer per partition ahead of a receive (its default is 300). A message is at
/// most 1 MiB, so this bounds what a partition can hold in memory to 32 MiB.
const PREFETCH: u32 = 32;

pub struct EventHub {
    connection_string: String,
    hub: String,
    group: String,
    namespace: String,
    client: Option<ConsumerClient>,
    /// Per partition: the receiver and the sequence number of the last event it handed out.
    receivers: HashMap<String, (EventReceiver, Option<i64>)>,
    bridge: Option<TlsBridge>,
}

/// The namespace host name of an Event Hubs connection string.
pub fn namespace_of(connection_string: &str) -> Result<String, String> {
    let cs: ConnectionString = connection_string
        .parse()
        .map_err(|_| "the Event Hubs namespace connection string cannot be read".to_string())?;
    Ok(cs.fully_qualified_namespace.to_lowercase())
}

impl EventHub {
    pub fn new(connection_string: &str, hub: &str, group: &str) -> Result<EventHub, String> {
        Ok(EventHub {
            namespace: namespace_of(connection_string)?,
            connection_string: connection_string.to_string(),
            hub: hub.to_string(),
            group: group.to_string(),
            client: None,
            receivers: HashMap::new(),
            bridge: None,
        })
    }

    async fn client(&mut self) -> Result<&ConsumerClient, String> {
        if self.client.is_none() {
            if self.bridge.is_none() {
                let cfg = bridge::client_config()?;
                self.bridge =
                    Some(TlsBridge::start(&self.namespace, bridge::AMQPS_PORT, cfg).await?);
            }
            let local = self
                .bridge
                .as_ref()
                .map(|b| b.local)
                .ok_or("no TLS bridge")?;
            let c = ConsumerClient::builder()
                .with_consumer_group(self.group.clone())
                .with_custom_endpoint(format!("amqp://{local}"))
                .open_with_connection_string(&self.connection_string, Some(&self.hub))
                .await
                .map_err(|e| format!("connecting to Event Hub {}: {e}", self.hub))?;
            self.client = Some(c);
        }
        self.client
            .as_ref()
            .ok_or_else(|| "not connected".to_string())
    }

    /// Forgets the connection after an error: the next call connects again.
    fn reset(&mut self) {
        self.receivers.clear();
        self.client = None;
    }
}

fn hub_event(e: &ReceivedEventData) -> Option<HubEvent> {
    Some(HubEvent {
        sequence_number: e.sequence_number()?,
        offset: e.offset().clone(),
        enqueued_ns: e
            .enqueued_time()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as u64),
        body: e.event_data().body().unwrap_or_default().to_vec(),
    })
}

impl Hub for EventHub {
    async fn partitions(&mut self) -> Result<Vec<String>, String> {
        let r = async {
            let c = self.client().await?;
            c.get_eventhub_properties()
                .await
                .map(|p| p.partition_ids)
                .map_err(|e| format!("reading the hub's partitions: {e}"))
        }
        .await;
        if r.is_err() {
            self.reset();
        }
        r
    }

    async fn receive(
        &mut self,
        partition: &str,
        after: Option<i64>,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<HubEvent>, String> {
        let current = self
            .receivers
            .get(partition)
            .is_some_and(|(_, last)| after.is_none() || *last == after);
        if !current {
            self.receivers.remove(partition);
            let location = match after {
                Some(seq) => StartLocation::SequenceNumber(seq),
                None => StartLocation::Latest,
            };
            let opts = OpenReceiverOptions {
                start_position: Some(StartPosition {
                    location,
                    inclusive: false,
                }),
                prefetch: Some(PREFETCH),
                ..Default::default()
            };
            let rx = match self.client().await {
                Ok(c) => c
                    .open_receiver_on_partition(partition.to_string(), Some(opts))
                    .await
                    .map_err(|e| format!("opening a receiver: {e}")),
                Err(e) => Err(e),
            };
            match rx {
                Ok(rx) => {
                    self.receivers.insert(partition.to_string(), (rx, after));
                }
                Err(e) => {
                    self.reset();
                    return Err(e);
                }
            }
        }
        let Some((rx, last)) = self.receivers.get_mut(partition) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut failed = None;
        {
            let stream = rx.stream_events();
            futures_util::pin_mut!(stream);
            let mut limit = wait;
            while out.len() < max {
                match tokio::time::timeout(limit, stream.next()).await {
                    Err(_) | Ok(None) => break,
                    Ok(Some(Err(e))) => {
                        failed = Some(format!("receiving: {e}"));
                        break;
                    }
                    Ok(Some(Ok(ev))) => {
                        if let Some(h) = hub_event(&ev) {
                            *last = Some(h.sequence_number);
                            out.push(h);
                        }
                    }
                }
                limit = NEXT_EVENT_WAIT;
            }
        }
        if let Some(e) = failed {
            // Events received before the error are still handed out; the receiver reopens after them.
            self.receivers.remove(partition);
            if out.is_empty() {
                return Err(e);
            }
        }
        Ok(out)
    }
}
