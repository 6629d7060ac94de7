// grpc-java target adapter: grpc.testing.TestService and conformance.v1.ProbeService
// written against grpc-java's public API (grpc-java 1.85.1, Netty transport),
// with messages generated from ../../proto by protoc (protobuf-java) and the
// service definitions built with grpc-java's public API (Services.java:
// MethodDescriptor + ProtoUtils.marshaller + ServerCalls, what
// protoc-gen-grpc-java generates; its binary is not served here).
//
// Usage: GrpcJavaServer PORT [--test-only] [--max-concurrent-streams N]
// (listens on 127.0.0.1:PORT, plaintext HTTP/2). Without flags: the faithful
// default.
//   --test-only                 ProbeService is not registered
//   --max-concurrent-streams N  NettyServerBuilder.maxConcurrentCallsPerConnection(N)
//                               (advertised as SETTINGS_MAX_CONCURRENT_STREAMS)
// Anything else: the usage on stderr, exit 2.
//
// Threading: Netty event loops do the I/O; grpc-java runs every call's
// callbacks (the handlers below) on the server's executor, grpc-java's default
// (an unbounded cached thread pool), serialized per call. Handlers here never
// block a thread to wait: timed waits are scheduled on a timer, barriers and
// Observe complete from callbacks. Only BLOCK_THREAD and SPIN hold a thread,
// as the suite asks.
//
// Logs go to stderr. SIGTERM/SIGINT: Server.shutdown (refuse new RPCs, let
// in-flight ones finish) bounded to 5 s, then shutdownNow, then exit 0.
package conformance;

import conformance.v1.Probe;
import grpc.testing.EmptyOuterClass;
import grpc.testing.Messages;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Deadline;
import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import com.google.protobuf.ByteString;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

public final class GrpcJavaServer {
  static final long MAX_DURATION_MS = 120_000;
  static final long GRACE_MS = 5_000;
  static final String USAGE =
      "usage: GrpcJavaServer PORT [--test-only] [--max-concurrent-streams N]";

  static final Metadata.Key<String> ECHO_INITIAL =
      Metadata.Key.of("x-grpc-test-echo-initial", Metadata.ASCII_STRING_MARSHALLER);
  static final Metadata.Key<byte[]> ECHO_TRAILING =
      Metadata.Key.of("x-grpc-test-echo-trailing-bin", Metadata.BINARY_BYTE_MARSHALLER);

  /** The peer address of the call's connection, as the server sees it. */
  static final Context.Key<String> PEER = Context.key("conformance-peer");

  /** Timed waits: one timer thread schedules them, none is held while waiting. */
  static final ScheduledExecutorService TIMER =
      Executors.newSingleThreadScheduledExecutor(
          r -> {
            Thread t = new Thread(r, "conformance-timer");
            t.setDaemon(true);
            return t;
          });

  static void log(String msg) {
    System.err.println("grpc-java-server: " + msg);
  }

  static long capMs(long ms) {
    return Math.min(Math.max(ms, 0), MAX_DURATION_MS);
  }

  // -------------------------------------------------------------------------
  // Interceptors: the peer address into the Context, metadata echo.

  static final class PeerInterceptor implements ServerInterceptor {
    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(
        ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
      SocketAddress addr = call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
      String peer = "";
      if (addr instanceof InetSocketAddress) {
        InetSocketAddress a = (InetSocketAddress) addr;
        peer = a.getAddress().getHostAddress() + ":" + a.getPort();
      } else if (addr != null) {
        peer = addr.toString();
      }
      return Contexts.interceptCall(Context.current().withValue(PEER, peer), call, headers, next);
    }
  }

  /** Echoes x-grpc-test-echo-initial in the headers, -trailing-bin in the trailers. */
  static final class EchoInterceptor implements ServerInterceptor {
    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(
        ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
      final Iterable<String> initial = headers.getAll(ECHO_INITIAL);
      final Iterable<byte[]> trailing = headers.getAll(ECHO_TRAILING);
      if (initial == null && trailing == null) {
        return next.startCall(call, headers);
      }
      ServerCall<Q, R> wrapped =
          new SimpleForwardingServerCall<Q, R>(call) {
            boolean headersSent;

            @Override
            public synchronized void sendHeaders(Metadata responseHeaders) {
              // Sent once, at once, below; the stub's own sendHeaders before
              // its first message then has nothing left to send.
              if (headersSent) return;
              headersSent = true;
              if (initial != null) {
                for (String v : initial) responseHeaders.put(ECHO_INITIAL, v);
              }
              super.sendHeaders(responseHeaders);
            }

            @Override
            public void close(Status status, Metadata trailers) {
              if (trailing != null) {
                for (byte[] v : trailing) trailers.put(ECHO_TRAILING, v);
              }
              super.close(status, trailers);
            }
          };
      ServerCall.Listener<Q> listener = next.startCall(wrapped, headers);
      // Send the initial echo at once, before any message, as the other
      // adapters do.
      if (initial != null) {
        wrapped.sendHeaders(new Metadata());
      }
      return listener;
    }
  }

  // -------------------------------------------------------------------------
  // TestService

  static Messages.Payload payload(int size) {
    if (size < 0) {
      throw Status.INVALID_ARGUMENT
          .withDescription("negative payload size " + size)
          .asRuntimeException();
    }
    return Messages.Payload.newBuilder()
        .setType(Messages.PayloadType.COMPRESSABLE)
        .setBody(ByteString.copyFrom(new byte[size]))
        .build();
  }

  static Status echoStatus(Messages.EchoStatus s) {
    if (s != null && s.getCode() != 0) {
      return Status.fromCodeValue(s.getCode()).withDescription(s.getMessage());
    }
    return null;
  }

  /**
   * Sends one StreamingOutputCallRequest's responses (wait interval_us, send
   * size zero bytes, per entry) on a timer, then runs {@code done} with the
   * status to end with (null: none asked) unless the call was cancelled.
   */
  static final class Output {
    final ServerCallStreamObserver<Messages.StreamingOutputCallResponse> out;
    volatile ScheduledFuture<?> pending;

    Output(ServerCallStreamObserver<Messages.StreamingOutputCallResponse> out) {
      this.out = out;
    }

    void send(Messages.StreamingOutputCallRequest req, java.util.function.Consumer<Status> done) {
      step(req, 0, done);
    }

    private void step(
        Messages.StreamingOutputCallRequest req, int i, java.util.function.Consumer<Status> done) {
      if (out.isCancelled()) return;
      if (i >= req.getResponseParametersCount()) {
        done.accept(echoStatus(req.getResponseStatus()));
        return;
      }
      Messages.ResponseParameters rp = req.getResponseParameters(i);
      Runnable send =
          () -> {
            synchronized (this) {
              if (out.isCancelled()) return;
              Messages.Payload p;
              try {
                p = payload(rp.getSize());
              } catch (RuntimeException e) {
                done.accept(Status.fromThrowable(e));
                return;
              }
              out.onNext(Messages.StreamingOutputCallResponse.newBuilder().setPayload(p).build());
            }
            step(req, i + 1, done);
          };
      long us = rp.getIntervalUs();
      if (us <= 0) {
        send.run();
      } else {
        pending = TIMER.schedule(send, Math.min(us, MAX_DURATION_MS * 1000), TimeUnit.MICROSECONDS);
      }
    }

    void cancel() {
      ScheduledFuture<?> f = pending;
      if (f != null) f.cancel(false);
    }
  }

  static final class TestServiceImpl implements Services.TestService {
    @Override
    public void emptyCall(
        EmptyOuterClass.Empty req, StreamObserver<EmptyOuterClass.Empty> out) {
      out.onNext(EmptyOuterClass.Empty.getDefaultInstance());
      out.onCompleted();
    }

    @Override
    public void unaryCall(
        Messages.SimpleRequest req, StreamObserver<Messages.SimpleResponse> out) {
      Status st = echoStatus(req.getResponseStatus());
      if (st != null) {
        out.onError(st.asRuntimeException());
        return;
      }
      Messages.Payload p;
      try {
        p = payload(req.getResponseSize());
      } catch (RuntimeException e) {
        out.onError(e);
        return;
      }
      out.onNext(Messages.SimpleResponse.newBuilder().setPayload(p).build());
      out.onCompleted();
    }

    @Override
    public void cacheableUnaryCall(
        Messages.SimpleRequest req, StreamObserver<Messages.SimpleResponse> out) {
      unaryCall(req, out);
    }

    @Override
    public void streamingOutputCall(
        Messages.StreamingOutputCallRequest req,
        StreamObserver<Messages.StreamingOutputCallResponse> plain) {
      ServerCallStreamObserver<Messages.StreamingOutputCallResponse> out =
          (ServerCallStreamObserver<Messages.StreamingOutputCallResponse>) plain;
      Output o = new Output(out);
      out.setOnCancelHandler(o::cancel);
      o.send(req, st -> finish(out, st));
    }

    @Override
    public StreamObserver<Messages.StreamingInputCallRequest> streamingInputCall(
        StreamObserver<Messages.StreamingInputCallResponse> out) {
      return new StreamObserver<Messages.StreamingInputCallRequest>() {
        int sum;

        @Override
        public void onNext(Messages.StreamingInputCallRequest req) {
          sum += req.getPayload().getBody().size();
        }

        @Override
        public void onError(Throwable t) {}

        @Override
        public void onCompleted() {
          out.onNext(
              Messages.StreamingInputCallResponse.newBuilder()
                  .setAggregatedPayloadSize(sum)
                  .build());
          out.onCompleted();
        }
      };
    }

    /** Each request is answered as it arrives; the next one is read after (manual flow control). */
    @Override
    public StreamObserver<Messages.StreamingOutputCallRequest> fullDuplexCall(
        StreamObserver<Messages.StreamingOutputCallResponse> plain) {
      ServerCallStreamObserver<Messages.StreamingOutputCallResponse> out =
          (ServerCallStreamObserver<Messages.StreamingOutputCallResponse>) plain;
      out.disableAutoRequest();
      Output o = new Output(out);
      out.setOnCancelHandler(o::cancel);
      // grpc-java's onNext never blocks: it queues outbound messages without
      // bound. As grpc-java's manual flow-control example does, the next
      // request is only asked for while the outbound side is ready (the
      // client reads), so a client that stops reading stalls this handler.
      boolean[] wantNext = {false};
      Runnable requestNext =
          () -> {
            synchronized (wantNext) {
              if (!wantNext[0] || !out.isReady()) return;
              wantNext[0] = false;
            }
            out.request(1);
          };
      out.setOnReadyHandler(requestNext);
      out.request(1);
      return new StreamObserver<Messages.StreamingOutputCallRequest>() {
        // grpc-java delivers the half-close as soon as the last request was
        // handed over, while its responses may still be on their timer: the
        // call ends only once both happened.
        boolean busy;
        boolean halfClosed;

        @Override
        public void onNext(Messages.StreamingOutputCallRequest req) {
          synchronized (this) {
            busy = true;
          }
          o.send(
              req,
              st -> {
                if (st != null) {
                  finish(out, st);
                  return;
                }
                boolean end;
                synchronized (this) {
                  busy = false;
                  end = halfClosed;
                }
                if (end) {
                  finish(out, null);
                } else {
                  synchronized (wantNext) {
                    wantNext[0] = true;
                  }
                  requestNext.run();
                }
              });
        }

        @Override
        public void onError(Throwable t) {
          o.cancel();
        }

        @Override
        public void onCompleted() {
          boolean end;
          synchronized (this) {
            halfClosed = true;
            end = !busy;
          }
          if (end) finish(out, null);
        }
      };
    }

    @Override
    public StreamObserver<Messages.StreamingOutputCallRequest> halfDuplexCall(
        StreamObserver<Messages.StreamingOutputCallResponse> plain) {
      ServerCallStreamObserver<Messages.StreamingOutputCallResponse> out =
          (ServerCallStreamObserver<Messages.StreamingOutputCallResponse>) plain;
      Output o = new Output(out);
      out.setOnCancelHandler(o::cancel);
      List<Messages.StreamingOutputCallRequest> buffered = new ArrayList<>();
      return new StreamObserver<Messages.StreamingOutputCallRequest>() {
        @Override
        public void onNext(Messages.StreamingOutputCallRequest req) {
          buffered.add(req);
        }

        @Override
        public void onError(Throwable t) {
          o.cancel();
        }

        @Override
        public void onCompleted() {
          sendAll(0);
        }

        void sendAll(int i) {
          if (i >= buffered.size()) {
            finish(out, null);
            return;
          }
          o.send(
              buffered.get(i),
              st -> {
                if (st != null) finish(out, st);
                else sendAll(i + 1);
              });
        }
      };
    }

    // UnimplementedCall: Services.testService answers UNIMPLEMENTED, as the
    // generated ImplBase does.
  }

  static <T> void finish(ServerCallStreamObserver<T> out, Status st) {
    synchronized (out) {
      if (out.isCancelled()) return;
      if (st == null) out.onCompleted();
      else out.onError(st.asRuntimeException());
    }
  }

  // -------------------------------------------------------------------------
  // ProbeService state: barriers, gauges, outcomes (one lock each).

  static final class Barrier {
    final int parties;
    long generation;
    int arrived;
    final Map<Long, Runnable> waiters = new LinkedHashMap<>();

    Barrier(int parties) {
      this.parties = parties;
    }
  }

  static final class Gauge {
    int inFlight;
    int maxInFlight;
  }

  static final class Outcome {
    Probe.HandlerState state = Probe.HandlerState.RUNNING;
    final String conn;
    final int deadlineMs;
    final long entered = System.nanoTime();
    long ended;
    final long serial;

    Outcome(String conn, int deadlineMs, long serial) {
      this.conn = conn;
      this.deadlineMs = deadlineMs;
      this.serial = serial;
    }
  }

  static final int MAX_OUTCOMES = 100_000;

  interface Settle {
    void settle(Probe.HandlerState state);
  }

  interface Leave {
    void leave();
  }

  static final class ProbeServiceImpl implements Services.ProbeService {
    final String variant;

    final Object barriersLock = new Object();
    final Map<String, Barrier> barriers = new HashMap<>();
    long nextWaiter;

    final Object gaugesLock = new Object();
    final Map<String, Gauge> gauges = new HashMap<>();

    final Object outcomesLock = new Object();
    final Map<String, Outcome> outcomes = new HashMap<>();
    long nextSerial;
    final List<Runnable> outcomeListeners = new ArrayList<>();

    ProbeServiceImpl(String variant) {
      this.variant = variant;
    }

    int enterGauge(String scope, Leave[] leaveOut) {
      Gauge g;
      int now;
      synchronized (gaugesLock) {
        g = gauges.computeIfAbsent(scope, k -> new Gauge());
        g.inFlight++;
        if (g.inFlight > g.maxInFlight) g.maxInFlight = g.inFlight;
        now = g.inFlight;
      }
      final Gauge gauge = g;
      AtomicBoolean left = new AtomicBoolean();
      leaveOut[0] =
          () -> {
            if (left.compareAndSet(false, true)) {
              synchronized (gaugesLock) {
                if (gauge.inFlight > 0) gauge.inFlight--;
              }
            }
          };
      return now;
    }

    void notifyOutcomesLocked() {
      for (Runnable r : new ArrayList<>(outcomeListeners)) TIMER.execute(r);
    }

    /** Records a handler under tag (replacing an older one); settle: first final state wins. */
    Settle begin(String tag, String conn, int deadlineMs) {
      synchronized (outcomesLock) {
        if (outcomes.size() >= MAX_OUTCOMES) {
          outcomes.values().removeIf(o -> o.state != Probe.HandlerState.RUNNING);
        }
        final long serial = nextSerial++;
        outcomes.put(tag, new Outcome(conn, deadlineMs, serial));
        notifyOutcomesLocked();
        return state -> {
          synchronized (outcomesLock) {
            Outcome o = outcomes.get(tag);
            if (o != null && o.serial == serial && o.state == Probe.HandlerState.RUNNING) {
              o.state = state;
              o.ended = System.nanoTime();
              notifyOutcomesLocked();
            }
          }
        };
      }
    }

    @Override
    public void info(Probe.InfoRequest req, StreamObserver<Probe.InfoResponse> out) {
      String threading =
          "Netty event loops for I/O; handlers on grpc-java's default executor"
              + " (unbounded cached thread pool), serialized per call";
      if (!variant.isEmpty()) threading += " [" + variant + "]";
      out.onNext(
          Probe.InfoResponse.newBuilder()
              .setImplementation("grpc-java")
              .setVersion(grpcVersion())
              .setUnsafeHoldsEnabled(true)
              .setHandlerThreads(0)
              .setThreading(threading)
              .build());
      out.onCompleted();
    }

    @Override
    public void rendezvous(
        Probe.RendezvousRequest req, StreamObserver<Probe.RendezvousResponse> plain) {
      ServerCallStreamObserver<Probe.RendezvousResponse> out =
          (ServerCallStreamObserver<Probe.RendezvousResponse>) plain;
      String conn = PEER.get();
      int parties = req.getParties();
      if (parties < 1) {
        out.onError(
            Status.INVALID_ARGUMENT
                .withDescription("rendezvous needs at least 1 party")
                .asRuntimeException());
        return;
      }
      Probe.RendezvousResponse.Builder resp =
          Probe.RendezvousResponse.newBuilder().setConnectionId(conn);
      Leave[] leave = new Leave[1];
      AtomicBoolean done = new AtomicBoolean();
      ScheduledFuture<?>[] timer = new ScheduledFuture<?>[1];
      final Barrier b;
      final long gen;
      final long id;
      final int arrival;
      List<Runnable> release = null;
      synchronized (barriersLock) {
        Barrier found = barriers.get(req.getGroup());
        if (found != null && found.parties != parties) {
          if (found.arrived > 0) {
            out.onError(
                Status.INVALID_ARGUMENT
                    .withDescription(
                        String.format(
                            "rendezvous group \"%s\" is waiting for %d parties, this call asked for %d",
                            req.getGroup(), found.parties, parties))
                    .asRuntimeException());
            return;
          }
          found = null;
        }
        if (found == null) {
          found = new Barrier(parties);
          barriers.put(req.getGroup(), found);
        }
        b = found;
        enterGauge(req.getScope(), leave);
        b.arrived++;
        arrival = b.arrived;
        gen = b.generation;
        id = nextWaiter++;
        if (arrival >= b.parties) {
          b.generation++;
          b.arrived = 0;
          release = new ArrayList<>(b.waiters.values());
          b.waiters.clear();
          // Forget groups nobody waits in, so unique names do not grow the map.
          barriers.values().removeIf(other -> other.arrived == 0);
        } else {
          // Registered under the same lock as the arrival: a release that
          // comes later finds this waiter.
          b.waiters.put(
              id,
              () -> {
                if (!done.compareAndSet(false, true)) return;
                if (timer[0] != null) timer[0].cancel(false);
                leave[0].leave();
                synchronized (out) {
                  if (!out.isCancelled()) {
                    out.onNext(resp.setArrival(arrival).build());
                    out.onCompleted();
                  }
                }
              });
        }
      }
      if (release != null) {
        for (Runnable r : release) r.run();
        leave[0].leave();
        out.onNext(resp.setArrival(arrival).build());
        out.onCompleted();
        return;
      }
      // Gives up (timeout or cancel) unless released first; a waiter that
      // is released while giving up was counted in, so it passes.
      java.util.function.Consumer<Status> giveUp =
          st -> {
            synchronized (barriersLock) {
              if (b.generation != gen || b.waiters.remove(id) == null) return;
              b.arrived--;
            }
            if (!done.compareAndSet(false, true)) return;
            leave[0].leave();
            synchronized (out) {
              if (!out.isCancelled()) out.onError(st.asRuntimeException());
            }
          };
      out.setOnCancelHandler(
          () -> giveUp.accept(Status.CANCELLED.withDescription("call cancelled")));
      timer[0] =
          TIMER.schedule(
              () ->
                  giveUp.accept(
                      Status.ABORTED.withDescription(
                          String.format(
                              "rendezvous \"%s\": %d parties not reached within %d ms",
                              req.getGroup(), parties, req.getTimeoutMs()))),
              capMs(Integer.toUnsignedLong(req.getTimeoutMs())),
              TimeUnit.MILLISECONDS);
    }

    @Override
    public void hold(Probe.HoldRequest req, StreamObserver<Probe.HoldResponse> plain) {
      ServerCallStreamObserver<Probe.HoldResponse> out =
          (ServerCallStreamObserver<Probe.HoldResponse>) plain;
      if (Probe.HoldMode.forNumber(req.getModeValue()) == null) {
        out.onError(
            Status.INVALID_ARGUMENT
                .withDescription("unknown hold mode " + req.getModeValue())
                .asRuntimeException());
        return;
      }
      // (Unsafe holds are always enabled in this adapter, as the suite expects.)
      Leave[] leave = new Leave[1];
      int now = enterGauge(req.getScope(), leave);
      String conn = PEER.get();
      Settle settle = begin(req.getTag(), conn, deadlineMs());
      Probe.HoldResponse resp =
          Probe.HoldResponse.newBuilder().setConnectionId(conn).setInFlightAtEntry(now).build();
      long ms = capMs(Integer.toUnsignedLong(req.getDurationMs()));
      AtomicBoolean done = new AtomicBoolean();
      Runnable finished =
          () -> {
            if (!done.compareAndSet(false, true)) return;
            settle.settle(Probe.HandlerState.FINISHED);
            leave[0].leave();
            synchronized (out) {
              if (!out.isCancelled()) {
                out.onNext(resp);
                out.onCompleted();
              }
            }
          };
      switch (req.getMode()) {
        case HOLD_MODE_UNSPECIFIED:
          finished.run();
          return;
        case BLOCK_THREAD:
          // Blocks this executor thread (the pool gives other calls new ones).
          sleepThread(ms);
          finished.run();
          return;
        case SPIN:
          spin(ms);
          finished.run();
          return;
        case PANIC:
          // A real unhandled exception thrown out of the handler: grpc-java
          // catches it (ServerImpl's listener wrapper) and closes the call
          // with UNKNOWN; the server keeps serving.
          settle.settle(Probe.HandlerState.PANICKED);
          leave[0].leave();
          throw new IllegalStateException(
              "ProbeService.Hold PANIC requested (tag \"" + req.getTag() + "\")");
        case SLEEP:
        case UNTIL_CANCELLED:
        default:
          ScheduledFuture<?> timer = TIMER.schedule(finished, ms, TimeUnit.MILLISECONDS);
          out.setOnCancelHandler(
              () -> {
                timer.cancel(false);
                if (!done.compareAndSet(false, true)) return;
                settle.settle(Probe.HandlerState.CANCELLED);
                leave[0].leave();
              });
          return;
      }
    }

    @Override
    public void observe(Probe.ObserveRequest req, StreamObserver<Probe.ObserveResponse> plain) {
      ServerCallStreamObserver<Probe.ObserveResponse> out =
          (ServerCallStreamObserver<Probe.ObserveResponse>) plain;
      String tag = req.getTag();
      AtomicBoolean done = new AtomicBoolean();
      ScheduledFuture<?>[] timer = new ScheduledFuture<?>[1];
      Runnable[] listener = new Runnable[1];
      java.util.function.Consumer<Boolean> finish =
          force -> {
            Probe.ObserveResponse a;
            synchronized (outcomesLock) {
              a = answerLocked(tag);
              boolean settled =
                  a.getState() != Probe.HandlerState.UNKNOWN
                      && a.getState() != Probe.HandlerState.RUNNING;
              if (!settled && !force) return;
              outcomeListeners.remove(listener[0]);
            }
            if (!done.compareAndSet(false, true)) return;
            if (timer[0] != null) timer[0].cancel(false);
            synchronized (out) {
              if (!out.isCancelled()) {
                out.onNext(a);
                out.onCompleted();
              }
            }
          };
      listener[0] = () -> finish.accept(false);
      synchronized (outcomesLock) {
        Probe.ObserveResponse a = answerLocked(tag);
        if (a.getState() != Probe.HandlerState.UNKNOWN
            && a.getState() != Probe.HandlerState.RUNNING) {
          out.onNext(a);
          out.onCompleted();
          return;
        }
        outcomeListeners.add(listener[0]);
      }
      out.setOnCancelHandler(
          () -> {
            synchronized (outcomesLock) {
              outcomeListeners.remove(listener[0]);
            }
            done.set(true);
            if (timer[0] != null) timer[0].cancel(false);
          });
      timer[0] =
          TIMER.schedule(
              () -> finish.accept(true),
              capMs(Integer.toUnsignedLong(req.getWaitMs())),
              TimeUnit.MILLISECONDS);
    }

    Probe.ObserveResponse answerLocked(String tag) {
      Outcome o = outcomes.get(tag);
      if (o == null) {
        return Probe.ObserveResponse.newBuilder().setState(Probe.HandlerState.UNKNOWN).build();
      }
      Probe.ObserveResponse.Builder b =
          Probe.ObserveResponse.newBuilder()
              .setState(o.state)
              .setConnectionId(o.conn)
              .setDeadlineMs(o.deadlineMs);
      if (o.state != Probe.HandlerState.RUNNING) {
        b.setElapsedMs((int) TimeUnit.NANOSECONDS.toMillis(o.ended - o.entered));
      }
      return b.build();
    }

    @Override
    public void gauge(Probe.GaugeRequest req, StreamObserver<Probe.GaugeResponse> out) {
      Probe.GaugeResponse resp;
      synchronized (gaugesLock) {
        Gauge g = gauges.get(req.getScope());
        if (g == null) {
          resp = Probe.GaugeResponse.getDefaultInstance();
        } else {
          resp =
              Probe.GaugeResponse.newBuilder()
                  .setInFlight(g.inFlight)
                  .setMaxInFlight(g.maxInFlight)
                  .build();
          if (req.getResetMax()) g.maxInFlight = g.inFlight;
        }
      }
      out.onNext(resp);
      out.onCompleted();
    }

    @Override
    public StreamObserver<Probe.PipeRequest> pipe(StreamObserver<Probe.PipeResponse> plain) {
      ServerCallStreamObserver<Probe.PipeResponse> out =
          (ServerCallStreamObserver<Probe.PipeResponse>) plain;
      String conn = PEER.get();
      int deadline = deadlineMs();
      return new StreamObserver<Probe.PipeRequest>() {
        long received;
        Leave[] leave;
        Settle settle;
        final AtomicBoolean closed = new AtomicBoolean();

        {
          out.setOnCancelHandler(() -> close(Probe.HandlerState.CANCELLED));
        }

        void close(Probe.HandlerState state) {
          if (!closed.compareAndSet(false, true)) return;
          if (settle != null) settle.settle(state);
          if (leave != null) leave[0].leave();
        }

        @Override
        public void onNext(Probe.PipeRequest req) {
          if (received == 0) {
            leave = new Leave[1];
            enterGauge(req.getScope(), leave);
            if (!req.getTag().isEmpty()) settle = begin(req.getTag(), conn, deadline);
          }
          received++;
          synchronized (out) {
            if (out.isCancelled()) return;
            out.onNext(
                Probe.PipeResponse.newBuilder()
                    .setEcho(req)
                    .setReceived(received)
                    .setConnectionId(conn)
                    .build());
          }
        }

        @Override
        public void onError(Throwable t) {
          // Client cancel, deadline or RST_STREAM.
          close(Probe.HandlerState.CANCELLED);
        }

        @Override
        public void onCompleted() {
          // The client half-closed, after the last echo was written.
          close(Probe.HandlerState.FINISHED);
          synchronized (out) {
            if (!out.isCancelled()) out.onCompleted();
          }
        }
      };
    }
  }

  /** The call's deadline as the handler sees it now, ms from now rounded up (>= 1); 0 if none. */
  static int deadlineMs() {
    Deadline d = Context.current().getDeadline();
    if (d == null) return 0;
    long ns = d.timeRemaining(TimeUnit.NANOSECONDS);
    long ms = (ns + 999_999) / 1_000_000;
    if (ms < 1) return 1;
    return (int) Math.min(ms, 0xffffffffL);
  }

  /** Blocks the calling thread for ms (Thread.sleep; an interrupt just loops). */
  static void sleepThread(long ms) {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms);
    for (long left = ms; left > 0; ) {
      try {
        Thread.sleep(left);
      } catch (InterruptedException e) {
        // keep blocking for the time left
      }
      left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
    }
  }

  static long spin(long ms) {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms);
    long n = 0;
    while (System.nanoTime() < deadline) n++;
    return n;
  }

  static String grpcVersion() {
    // grpc-java's own version string (io.grpc.internal.GrpcUtil), e.g. "1.85.1".
    return io.grpc.internal.GrpcUtil.IMPLEMENTATION_VERSION;
  }

  // -------------------------------------------------------------------------

  static void bad(String why) {
    System.err.println("GrpcJavaServer: " + why + "\n" + USAGE);
    System.exit(2);
  }

  public static void main(String[] args) throws Exception {
    if (args.length == 1 && args[0].equals("--version")) {
      System.out.println("grpc-java " + grpcVersion());
      return;
    }
    if (args.length < 1) bad("missing PORT");
    int port = -1;
    try {
      port = Integer.parseInt(args[0]);
    } catch (NumberFormatException e) {
      // reported below
    }
    if (port < 0 || port > 65535) bad("bad PORT \"" + args[0] + "\"");
    boolean testOnly = false;
    int maxStreams = 0;
    ArrayDeque<String> rest = new ArrayDeque<>(List.of(args).subList(1, args.length));
    while (!rest.isEmpty()) {
      String a = rest.poll();
      if (a.equals("--test-only") && !testOnly) {
        testOnly = true;
      } else if (a.equals("--max-concurrent-streams") && maxStreams == 0) {
        String v = rest.poll();
        try {
          maxStreams = v == null ? 0 : Integer.parseInt(v);
        } catch (NumberFormatException e) {
          maxStreams = 0;
        }
        if (maxStreams < 1) bad("--max-concurrent-streams needs a positive integer");
      } else {
        bad("unknown argument \"" + a + "\"");
      }
    }
    List<String> parts = new ArrayList<>();
    if (testOnly) parts.add("TestService only");
    if (maxStreams > 0) parts.add("max_concurrent_streams " + maxStreams);
    String variant = String.join(", ", parts);

    NettyServerBuilder builder =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", port))
            .intercept(new PeerInterceptor())
            .addService(
                ServerInterceptors.intercept(
                    Services.testService(new TestServiceImpl()), new EchoInterceptor()));
    if (!testOnly) builder.addService(Services.probeService(new ProbeServiceImpl(variant)));
    if (maxStreams > 0) builder.maxConcurrentCallsPerConnection(maxStreams);
    Server server = builder.build().start();

    Object stopped = new Object();
    boolean[] stopping = {false};
    sun.misc.SignalHandler onSignal =
        sig -> {
          synchronized (stopped) {
            if (stopping[0]) return;
            stopping[0] = true;
          }
          new Thread(
                  () -> {
                    log("SIG" + sig.getName() + ": graceful stop (grace " + GRACE_MS + " ms)");
                    server.shutdown();
                    try {
                      if (!server.awaitTermination(GRACE_MS, TimeUnit.MILLISECONDS)) {
                        log("grace period over: stopping in-flight RPCs");
                        server.shutdownNow();
                        server.awaitTermination(GRACE_MS, TimeUnit.MILLISECONDS);
                      }
                    } catch (InterruptedException e) {
                      server.shutdownNow();
                    }
                    log("stopped");
                    System.exit(0);
                  },
                  "conformance-stop")
              .start();
        };
    sun.misc.Signal.handle(new sun.misc.Signal("TERM"), onSignal);
    sun.misc.Signal.handle(new sun.misc.Signal("INT"), onSignal);

    log(
        "grpc-java "
            + grpcVersion()
            + " listening on 127.0.0.1:"
            + server.getPort()
            + " ("
            + (variant.isEmpty() ? "faithful default" : variant)
            + ")");
    server.awaitTermination();
  }
}
