//! Generated protobuf and gRPC code for the services the suite speaks.

/// `grpc.testing`: the standard interop service (wire-compatible with every
/// official interop server).
pub mod grpc_testing {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("grpc.testing");
}

/// `conformance.v1`: the suite's own ProbeService, and the client-under-test
/// protocol with ClientObserver (`client.proto`; one package, one module:
/// `probe` is the name it has had since ProbeService was the only one).
pub mod probe {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("conformance.v1");
}

/// `grpc.health.v1`: the standard health service, which most production
/// servers expose (the health mode's only need).
pub mod health {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("grpc.health.v1");
}

/// `grpc.reflection.v1`: server reflection, only as far as listing a
/// server's services (the harness reports what a target serves).
pub mod reflection {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("grpc.reflection.v1");
}

/// The path of Health.Check, for calls made without a generated client.
pub const HEALTH_CHECK_PATH: &str = "/grpc.health.v1.Health/Check";

/// Interop metadata a TestService echoes: this request header's value comes
/// back as a response header.
pub const ECHO_INITIAL: &str = "x-grpc-test-echo-initial";
/// Interop metadata a TestService echoes: this binary request header's
/// value comes back as a trailer.
pub const ECHO_TRAILING: &str = "x-grpc-test-echo-trailing-bin";

/// The path of TestService.EmptyCall, for calls made without a generated
/// client (raw HTTP/2).
pub const EMPTY_CALL_PATH: &str = "/grpc.testing.TestService/EmptyCall";

/// An `grpc.testing.Empty` message as it travels: the five-byte gRPC
/// message prefix (not compressed, length 0) and no body.
pub const EMPTY_MESSAGE_FRAME: [u8; 5] = [0; 5];

/// A gRPC POST to `uri` with the headers every gRPC call carries
/// (`content-type: application/grpc`, `te: trailers`), for calls made
/// without a generated client.
pub fn grpc_post(uri: impl AsRef<str>) -> http::request::Builder {
    http::Request::post(uri.as_ref())
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .header(http::header::TE, "trailers")
}
