// The methods the adapter calls, as grpc-java MethodDescriptors: what
// protoc-gen-grpc-java's generated *Grpc classes hold (the plugin's binary is
// not served here, see pom.xml). Each is derived from the method's own
// descriptor in the generated protobuf code (name, streaming kinds), with
// grpc-protobuf's marshallers for its request and response messages.
package conformance.client;

import com.google.protobuf.Descriptors;
import com.google.protobuf.Message;
import conformance.v1.Probe;
import grpc.testing.Messages;
import grpc.testing.Test;
import io.grpc.MethodDescriptor;
import io.grpc.MethodDescriptor.MethodType;
import io.grpc.protobuf.ProtoUtils;
import io.grpcconformance.v1.Client;
import io.grpcconformance.v1.GatherRequest;
import io.grpcconformance.v1.GatherResponse;
import io.grpcconformance.v1.InterlockRequest;
import io.grpcconformance.v1.InterlockResponse;

final class Methods {
  private static final Descriptors.ServiceDescriptor OBSERVER =
      Client.getDescriptor().findServiceByName("ClientObserver");

  static final MethodDescriptor<GatherRequest, GatherResponse> GATHER =
      of(OBSERVER, "Gather", GatherRequest.getDefaultInstance(), GatherResponse.getDefaultInstance());
  static final MethodDescriptor<GatherRequest, GatherResponse> GATHER_STREAM =
      of(OBSERVER, "GatherStream", GatherRequest.getDefaultInstance(),
          GatherResponse.getDefaultInstance());
  static final MethodDescriptor<InterlockRequest, InterlockResponse> INTERLOCK =
      of(OBSERVER, "Interlock", InterlockRequest.getDefaultInstance(),
          InterlockResponse.getDefaultInstance());
  static final MethodDescriptor<Probe.RendezvousRequest, Probe.RendezvousResponse> RENDEZVOUS =
      of(Probe.getDescriptor().findServiceByName("ProbeService"), "Rendezvous",
          Probe.RendezvousRequest.getDefaultInstance(), Probe.RendezvousResponse.getDefaultInstance());
  static final MethodDescriptor<Messages.SimpleRequest, Messages.SimpleResponse> UNARY_CALL =
      of(Test.getDescriptor().findServiceByName("TestService"), "UnaryCall",
          Messages.SimpleRequest.getDefaultInstance(), Messages.SimpleResponse.getDefaultInstance());

  private Methods() {}

  private static <Q extends Message, R extends Message> MethodDescriptor<Q, R> of(
      Descriptors.ServiceDescriptor service, String name, Q request, R response) {
    Descriptors.MethodDescriptor m = service.findMethodByName(name);
    MethodType type = m.isClientStreaming()
        ? (m.isServerStreaming() ? MethodType.BIDI_STREAMING : MethodType.CLIENT_STREAMING)
        : (m.isServerStreaming() ? MethodType.SERVER_STREAMING : MethodType.UNARY);
    return MethodDescriptor.<Q, R>newBuilder(ProtoUtils.marshaller(request), ProtoUtils.marshaller(response))
        .setType(type)
        .setFullMethodName(MethodDescriptor.generateFullMethodName(service.getFullName(), m.getName()))
        .build();
  }
}
