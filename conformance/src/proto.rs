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
