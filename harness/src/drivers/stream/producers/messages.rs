//! What the producers of `producers` send, and how each echo is checked.

use conformance::proto::probe::{PipeRequest, PipeResponse};
use conformance::sync::duplex;

/// A producer: `messages` messages tagged (producer, seq) through its clone
/// of the send half, which drops when it is done. False if a send failed.
pub(super) async fn produce(
    send: duplex::SendHalf<PipeRequest>,
    tag: String,
    producer: u32,
    messages: u64,
) -> bool {
    for seq in 0..messages {
        let payload = body(producer, seq);
        let request = PipeRequest {
            tag: tag.clone(),
            scope: String::new(),
            producer,
            seq,
            payload,
        };
        if send.send(request).await.is_err() {
            return false;
        }
    }
    true
}

/// The payload of (producer, seq): its bytes are a checksum of its identity.
fn body(producer: u32, seq: u64) -> Vec<u8> {
    let size = 64 + ((seq as usize * 37 + producer as usize * 11) % 960);
    (0..size)
        .map(|i| (i as u64 ^ seq.wrapping_mul(2_654_435_761) ^ (u64::from(producer) * 97)) as u8)
        .collect()
}

/// Checks one echo against the next seq expected of its producer.
pub(super) fn check(next: &mut [u64], response: PipeResponse) -> Result<(), String> {
    let echo = response.echo.ok_or("an echo without its message")?;
    let producer = echo.producer as usize;
    let expected = next
        .get_mut(producer)
        .ok_or_else(|| format!("an echo from unknown producer {producer}"))?;
    let wanted = std::mem::replace(expected, echo.seq.saturating_add(1));
    if echo.seq != wanted {
        return Err(format!(
            "producer {producer}: expected seq {wanted}, got {}",
            echo.seq
        ));
    }
    if echo.payload != body(echo.producer, echo.seq) {
        return Err(format!(
            "producer {producer} seq {}: payload corrupted",
            echo.seq
        ));
    }
    Ok(())
}
