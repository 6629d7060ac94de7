//! The interop echo headers one RPC sends, or gets back.

use conformance::proto::{ECHO_INITIAL, ECHO_TRAILING};
use tonic::metadata::{AsciiMetadataValue, BinaryMetadataValue, MetadataMap};

use crate::drivers::prelude::*;

/// The echo values of one RPC: what it sent, or what came back.
#[derive(PartialEq)]
pub(super) struct Echo {
    pub initial: Option<String>,
    pub trailing: Option<Vec<u8>>,
}

impl Echo {
    pub fn of(initial: Option<&MetadataMap>, trailing: Option<&MetadataMap>) -> Self {
        let initial = initial.and_then(|metadata| metadata.get(ECHO_INITIAL));
        let trailing = trailing.and_then(|metadata| metadata.get_bin(ECHO_TRAILING));
        Self {
            initial: initial.and_then(|v| v.to_str().ok()).map(str::to_owned),
            trailing: trailing.and_then(|v| v.to_bytes().ok()).map(|b| b.to_vec()),
        }
    }

    /// `message` carrying these values in the echo headers.
    pub fn request<T>(&self, message: T) -> Result<tonic::Request<T>, DriverError> {
        let initial = self.initial.clone().unwrap_or_default();
        let value: AsciiMetadataValue = initial.parse().map_err(|_| {
            DriverError::harness(format!("{initial:?} is not a valid metadata value"))
        })?;
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert(ECHO_INITIAL, value);
        let trailing = self.trailing.as_deref().unwrap_or_default();
        let trailing = BinaryMetadataValue::from_bytes(trailing);
        request.metadata_mut().insert_bin(ECHO_TRAILING, trailing);
        Ok(request)
    }
}

pub(super) fn presence<T>(value: &Option<T>) -> &'static str {
    if value.is_some() {
        "present"
    } else {
        "missing"
    }
}
