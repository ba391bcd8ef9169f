//! Reading a request body inside its byte budget: the declared `Content-Length` is reserved before the
//! first byte is read (and allocated once, at that size); a body without one reserves each chunk before
//! keeping it. Either way no byte is held that the budget has not granted.

use super::admission::{BodyBytes, Denied};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;

/// Why a body was not read.
#[derive(Debug)]
pub enum BodyError {
    /// Larger than `webhookMaxBatchSize` (413).
    TooLarge,
    /// The byte budget has no room now (503 + Retry-After).
    Busy(Denied),
    /// The client's stream failed (reset, bad chunking...).
    Read(hyper::Error),
}

/// Reads `body` (declared length `declared`, at most `max` bytes), reserving its bytes in `budget`.
pub async fn read(
    mut body: Incoming,
    declared: Option<u64>,
    max: usize,
    budget: &mut BodyBytes,
) -> Result<Bytes, BodyError> {
    let mut buf = match declared {
        Some(n) => {
            let n = usize::try_from(n).map_err(|_| BodyError::TooLarge)?;
            if n > max {
                return Err(BodyError::TooLarge);
            }
            budget.grow(n).map_err(BodyError::Busy)?;
            BytesMut::with_capacity(n)
        }
        None => BytesMut::new(),
    };
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(BodyError::Read)?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let len = buf.len() + data.len();
        if len > max {
            return Err(BodyError::TooLarge);
        }
        // hyper never yields more than the declared length; only chunked bodies grow the budget.
        if len > budget.held() {
            budget.grow(len - budget.held()).map_err(BodyError::Busy)?;
        }
        buf.extend_from_slice(&data);
    }
    Ok(buf.freeze())
}
