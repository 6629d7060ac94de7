// The adapter's two service definitions, built with grpc-java's public API:
// one MethodDescriptor per method (protobuf marshallers from grpc-protobuf's
// ProtoUtils) bound to the handler with io.grpc.stub.ServerCalls, which is what
// protoc-gen-grpc-java's generated *Grpc classes do.
package conformance;

import com.google.protobuf.Message;
import conformance.v1.Probe;
import grpc.testing.EmptyOuterClass;
import grpc.testing.Messages;
import io.grpc.MethodDescriptor;
import io.grpc.MethodDescriptor.MethodType;
import io.grpc.ServerServiceDefinition;
import io.grpc.protobuf.ProtoUtils;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;

final class Services {
  private Services() {}

  static <Q extends Message, R extends Message> MethodDescriptor<Q, R> method(
      String service, String name, MethodType type, Q request, R response) {
    return MethodDescriptor.<Q, R>newBuilder()
        .setType(type)
        .setFullMethodName(MethodDescriptor.generateFullMethodName(service, name))
        .setRequestMarshaller(ProtoUtils.marshaller(request))
        .setResponseMarshaller(ProtoUtils.marshaller(response))
        .build();
  }

  interface TestService {
    void emptyCall(EmptyOuterClass.Empty req, StreamObserver<EmptyOuterClass.Empty> out);

    void unaryCall(Messages.SimpleRequest req, StreamObserver<Messages.SimpleResponse> out);

    void cacheableUnaryCall(
        Messages.SimpleRequest req, StreamObserver<Messages.SimpleResponse> out);

    void streamingOutputCall(
        Messages.StreamingOutputCallRequest req,
        StreamObserver<Messages.StreamingOutputCallResponse> out);

    StreamObserver<Messages.StreamingInputCallRequest> streamingInputCall(
        StreamObserver<Messages.StreamingInputCallResponse> out);

    StreamObserver<Messages.StreamingOutputCallRequest> fullDuplexCall(
        StreamObserver<Messages.StreamingOutputCallResponse> out);

    StreamObserver<Messages.StreamingOutputCallRequest> halfDuplexCall(
        StreamObserver<Messages.StreamingOutputCallResponse> out);
  }

  static ServerServiceDefinition testService(TestService impl) {
    String svc = "grpc.testing.TestService";
    EmptyOuterClass.Empty empty = EmptyOuterClass.Empty.getDefaultInstance();
    Messages.SimpleRequest simpleReq = Messages.SimpleRequest.getDefaultInstance();
    Messages.SimpleResponse simpleResp = Messages.SimpleResponse.getDefaultInstance();
    Messages.StreamingOutputCallRequest outReq =
        Messages.StreamingOutputCallRequest.getDefaultInstance();
    Messages.StreamingOutputCallResponse outResp =
        Messages.StreamingOutputCallResponse.getDefaultInstance();
    MethodDescriptor<EmptyOuterClass.Empty, EmptyOuterClass.Empty> unimplemented =
        method(svc, "UnimplementedCall", MethodType.UNARY, empty, empty);
    return ServerServiceDefinition.builder(svc)
        .addMethod(
            method(svc, "EmptyCall", MethodType.UNARY, empty, empty),
            ServerCalls.asyncUnaryCall(impl::emptyCall))
        .addMethod(
            method(svc, "UnaryCall", MethodType.UNARY, simpleReq, simpleResp),
            ServerCalls.asyncUnaryCall(impl::unaryCall))
        .addMethod(
            method(svc, "CacheableUnaryCall", MethodType.UNARY, simpleReq, simpleResp),
            ServerCalls.asyncUnaryCall(impl::cacheableUnaryCall))
        .addMethod(
            method(svc, "StreamingOutputCall", MethodType.SERVER_STREAMING, outReq, outResp),
            ServerCalls.asyncServerStreamingCall(impl::streamingOutputCall))
        .addMethod(
            method(
                svc,
                "StreamingInputCall",
                MethodType.CLIENT_STREAMING,
                Messages.StreamingInputCallRequest.getDefaultInstance(),
                Messages.StreamingInputCallResponse.getDefaultInstance()),
            ServerCalls.asyncClientStreamingCall(impl::streamingInputCall))
        .addMethod(
            method(svc, "FullDuplexCall", MethodType.BIDI_STREAMING, outReq, outResp),
            ServerCalls.asyncBidiStreamingCall(impl::fullDuplexCall))
        .addMethod(
            method(svc, "HalfDuplexCall", MethodType.BIDI_STREAMING, outReq, outResp),
            ServerCalls.asyncBidiStreamingCall(impl::halfDuplexCall))
        .addMethod(
            unimplemented,
            ServerCalls.asyncUnaryCall(
                (EmptyOuterClass.Empty req, StreamObserver<EmptyOuterClass.Empty> out) ->
                    ServerCalls.asyncUnimplementedUnaryCall(unimplemented, out)))
        .build();
  }

  interface ProbeService {
    void info(Probe.InfoRequest req, StreamObserver<Probe.InfoResponse> out);

    void rendezvous(Probe.RendezvousRequest req, StreamObserver<Probe.RendezvousResponse> out);

    void hold(Probe.HoldRequest req, StreamObserver<Probe.HoldResponse> out);

    void observe(Probe.ObserveRequest req, StreamObserver<Probe.ObserveResponse> out);

    void gauge(Probe.GaugeRequest req, StreamObserver<Probe.GaugeResponse> out);

    StreamObserver<Probe.PipeRequest> pipe(StreamObserver<Probe.PipeResponse> out);
  }

  static ServerServiceDefinition probeService(ProbeService impl) {
    String svc = "conformance.v1.ProbeService";
    return ServerServiceDefinition.builder(svc)
        .addMethod(
            method(
                svc,
                "Info",
                MethodType.UNARY,
                Probe.InfoRequest.getDefaultInstance(),
                Probe.InfoResponse.getDefaultInstance()),
            ServerCalls.asyncUnaryCall(impl::info))
        .addMethod(
            method(
                svc,
                "Rendezvous",
                MethodType.UNARY,
                Probe.RendezvousRequest.getDefaultInstance(),
                Probe.RendezvousResponse.getDefaultInstance()),
            ServerCalls.asyncUnaryCall(impl::rendezvous))
        .addMethod(
            method(
                svc,
                "Hold",
                MethodType.UNARY,
                Probe.HoldRequest.getDefaultInstance(),
                Probe.HoldResponse.getDefaultInstance()),
            ServerCalls.asyncUnaryCall(impl::hold))
        .addMethod(
            method(
                svc,
                "Observe",
                MethodType.UNARY,
                Probe.ObserveRequest.getDefaultInstance(),
                Probe.ObserveResponse.getDefaultInstance()),
            ServerCalls.asyncUnaryCall(impl::observe))
        .addMethod(
            method(
                svc,
                "Gauge",
                MethodType.UNARY,
                Probe.GaugeRequest.getDefaultInstance(),
                Probe.GaugeResponse.getDefaultInstance()),
            ServerCalls.asyncUnaryCall(impl::gauge))
        .addMethod(
            method(
                svc,
                "Pipe",
                MethodType.BIDI_STREAMING,
                Probe.PipeRequest.getDefaultInstance(),
                Probe.PipeResponse.getDefaultInstance()),
            ServerCalls.asyncBidiStreamingCall(impl::pipe))
        .build();
  }
}
