//! The oracle: what each RPC of a schedule must observe, derived from the
//! schedule alone. A cancellation may affect only its own RPC.

use tonic::Code;

use super::executor::{Execution, Observed};
use super::schedule::{Fault, Kind, Rpc, Schedule};

fn expected_code(rpc: &Rpc) -> Code {
    match rpc.fault {
        Fault::Status(code) => Code::from_i32(code),
        _ => Code::Ok,
    }
}

fn check_one(index: usize, rpc: &Rpc, seen: &Observed) -> Result<(), String> {
    let who = format!("RPC #{index} ({rpc})");
    if seen.stalled {
        return Err(format!("{who}: did not finish within its bound"));
    }
    match rpc.fault {
        Fault::CancelBeforeFirstReply | Fault::CancelMidStream | Fault::CancelAfterHalfClose => {
            // Cancelled by the client: only its own outcome may be cut short,
            // but whatever did arrive must be right.
            if seen.replies.iter().any(|size| *size != rpc.size) {
                return Err(format!(
                    "{who}: a reply of the wrong size before the cancellation: {:?}",
                    seen.replies
                ));
            }
            return Ok(());
        }
        Fault::Deadline => {
            return match seen.code {
                Some(Code::DeadlineExceeded | Code::Cancelled) if seen.replies.is_empty() => Ok(()),
                other => Err(format!(
                    "{who}: expected DEADLINE_EXCEEDED with no reply, got {other:?} \"{}\" with {} replies",
                    seen.message,
                    seen.replies.len()
                )),
            };
        }
        Fault::None | Fault::Status(_) => {}
    }
    let code = expected_code(rpc);
    if seen.code != Some(code) {
        return Err(format!(
            "{who}: expected status {code:?}, got {:?} \"{}\"",
            seen.code, seen.message
        ));
    }
    let replies = match (rpc.kind, rpc.fault) {
        (Kind::Unary, Fault::Status(_)) => Vec::new(),
        (Kind::Unary, _) => vec![rpc.size],
        (Kind::ServerStreaming | Kind::Bidi, _) => vec![rpc.size; rpc.messages],
        (Kind::ClientStreaming, _) => Vec::new(),
    };
    if seen.replies != replies {
        return Err(format!(
            "{who}: expected {} replies of {} B, got {} ({:?}…)",
            replies.len(),
            rpc.size,
            seen.replies.len(),
            &seen.replies[..seen.replies.len().min(4)]
        ));
    }
    if rpc.kind == Kind::ClientStreaming && seen.aggregated != Some(rpc.size * rpc.messages) {
        return Err(format!(
            "{who}: sent {} B in total, the server counted {:?}",
            rpc.size * rpc.messages,
            seen.aggregated
        ));
    }
    let echoed = matches!(rpc.kind, Kind::Unary | Kind::Bidi) && code == Code::Ok;
    if echoed && seen.echo.as_deref() != Some(format!("rpc-{index}").as_str()) {
        return Err(format!(
            "{who}: its echoed metadata is {:?}, not its own \"rpc-{index}\"",
            seen.echo
        ));
    }
    Ok(())
}

/// Checks every RPC and the exchange; the first deviation fails the
/// schedule.
pub fn check(schedule: &Schedule, observed: &Execution) -> Result<(), String> {
    if let Some(Err(reason)) = &observed.exchange {
        return Err(format!("the exchange: {reason}"));
    }
    if observed.rpcs.len() != schedule.rpcs.len() {
        return Err(format!(
            "{} of {} RPCs were observed",
            observed.rpcs.len(),
            schedule.rpcs.len()
        ));
    }
    for (index, (rpc, seen)) in schedule.rpcs.iter().zip(&observed.rpcs).enumerate() {
        check_one(index, rpc, seen)?;
    }
    Ok(())
}
