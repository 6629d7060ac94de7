//! The failing call: a UnaryCall the server is asked to end with a status.

use conformance::proto::grpc_testing::{EchoStatus, SimpleRequest, SimpleResponse};

use crate::drivers::handler::common::checked;
use crate::drivers::prelude::*;

/// A UnaryCall asking the server (EchoStatus) to end with `code` and
/// `message`.
pub(super) fn request(code: i32, message: &str) -> SimpleRequest {
    let status = EchoStatus {
        code,
        message: message.to_owned(),
    };
    SimpleRequest {
        response_status: Some(status),
        ..unary_request(16, 0)
    }
}

/// Records a problem unless the call ended with exactly `code` and
/// `message`; returns the line describing how it ended.
pub(super) fn judge(
    failing: &Result<SimpleResponse, RpcError>,
    code: i32,
    message: &str,
    checks: &mut Checks,
) -> String {
    let as_asked = match failing {
        Ok(_) => Err(format!(
            "the failing call answered OK instead of code {code}"
        )),
        Err(RpcError::Status(status))
            if i32::from(status.code()) == code && status.message() == message =>
        {
            Ok(())
        }
        Err(RpcError::Status(status)) => Err(format!(
            "the failing call ended with {} instead of code {code} and its own message",
            brief(status)
        )),
        Err(other) => Err(format!(
            "the failing call did not end with a status: {other}"
        )),
    };
    checked(checks, as_asked);
    match failing {
        Ok(_) => "the failing call answered OK".to_owned(),
        Err(RpcError::Status(status)) => format!("the failing call ended with {}", brief(status)),
        Err(other) => format!("the failing call: {other}"),
    }
}
