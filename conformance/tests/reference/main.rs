//! Integration tests of the reference server: one test binary (one link
//! step), one module per feature.

mod interop;
mod probe;
mod support;
