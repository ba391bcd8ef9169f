//! Where each partition's position is kept between runs.

use std::future::Future;

/// A partition's position: every event up to and including `sequence_number` was evaluated and its
/// alerts handed to the outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionCheckpoint {
    pub sequence_number: i64,
    pub offset: Option<String>,
}

pub trait CheckpointStore: Send {
    /// The saved position of `partition`, `None` when there is none.
    fn load(
        &mut self,
        partition: &str,
    ) -> impl Future<Output = Result<Option<PartitionCheckpoint>, String>> + Send;

    /// Saves the position of `partition`. A store never moves a position backwards.
    fn save(
        &mut self,
        partition: &str,
        cp: &PartitionCheckpoint,
    ) -> impl Future<Output = Result<(), String>> + Send;
}
