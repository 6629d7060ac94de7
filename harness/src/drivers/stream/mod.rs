//! The stream drivers (scenarios/stream/).

pub(super) mod call_order;
pub(super) mod cancel_half;
mod common;
pub(super) mod duplex_large;
pub(super) mod duplex_sequence;
pub(super) mod half_close;
pub(super) mod half_duplex;
pub(super) mod producers;
