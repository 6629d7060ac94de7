//! Generated protobuf and gRPC code for the services the suite speaks.

/// `grpc.testing`: the standard interop service (wire-compatible with every
/// official interop server).
pub mod grpc_testing {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("grpc.testing");
}

/// `conformance.v1`: the suite's own ProbeService.
pub mod probe {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("conformance.v1");
}

/// Interop metadata a TestService echoes: this request header's value comes
/// back as a response header.
pub const ECHO_INITIAL: &str = "x-grpc-test-echo-initial";
/// Interop metadata a TestService echoes: this binary request header's
/// value comes back as a trailer.
pub const ECHO_TRAILING: &str = "x-grpc-test-echo-trailing-bin";
