// grpc-cpp target adapter: grpc.testing.TestService and conformance.v1.ProbeService
// on gRPC C++'s synchronous API (Debian's libgrpc++ 1.51), with code generated
// from ../../proto by protoc + grpc_cpp_plugin.
//
// Usage: grpc-cpp-server PORT [--test-only] [--max-concurrent-streams N]
//        grpc-cpp-server --version
// (listens on 127.0.0.1:PORT, plaintext HTTP/2; logs to stderr).
//   --test-only                 ProbeService is not registered
//   --max-concurrent-streams N  channel argument GRPC_ARG_MAX_CONCURRENT_STREAMS
// Anything else: the usage on stderr, exit 2.
//
// Why the sync API: it is gRPC C++'s plain "thread per RPC" model, the one
// most C++ services written against grpc++ use, and the one the issue names.
// Each RPC runs on a thread of the sync server's own dynamic thread pool
// (grpc::ThreadManager: polling threads between MIN_POLLERS 1 and MAX_POLLERS
// 2 by default; when every poller has taken a call it starts a new thread, no
// cap unless a ResourceQuota sets max threads, none is set here), and the
// handler holds that thread for its whole call. Waits therefore occupy a
// thread: they sleep in slices of 1 ms and check ServerContext::IsCancelled()
// (the sync API has no cancellation callback), so a cancelled call is seen
// within about a millisecond.
//
// SIGTERM/SIGINT: Server::Shutdown(now + 5 s) (refuse new RPCs, let in-flight
// ones finish, cancel what is left at the deadline), then exit 0.
#include <grpcpp/grpcpp.h>
#include <grpcpp/server_context.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>
#include <signal.h>

#include "conformance/v1/probe.grpc.pb.h"
#include "grpc/testing/test.grpc.pb.h"

using Clock = std::chrono::steady_clock;
using grpc::ServerContext;
using grpc::Status;
using grpc::StatusCode;

namespace {

constexpr int64_t kMaxDurationMs = 120000;
constexpr auto kGrace = std::chrono::seconds(5);
constexpr auto kSlice = std::chrono::milliseconds(1);
const char kEchoInitial[] = "x-grpc-test-echo-initial";
const char kEchoTrailing[] = "x-grpc-test-echo-trailing-bin";
const char kUsage[] = "usage: grpc-cpp-server PORT [--test-only] [--max-concurrent-streams N]";

void Log(const std::string& msg) { std::cerr << "grpc-cpp-server: " << msg << std::endl; }

std::chrono::milliseconds CapMs(int64_t ms) {
  return std::chrono::milliseconds(std::min(std::max<int64_t>(ms, 0), kMaxDurationMs));
}

// Waits d unless the call is cancelled first; true when it waited it all.
bool WaitUnlessCancelled(ServerContext* ctx, Clock::duration d) {
  auto until = Clock::now() + d;
  while (true) {
    if (ctx->IsCancelled()) return false;
    auto now = Clock::now();
    if (now >= until) return true;
    std::this_thread::sleep_for(std::min<Clock::duration>(until - now, kSlice));
  }
}

// ---------------------------------------------------------------------------
// Metadata echo (every TestService method).

struct Echo {
  std::vector<std::string> initial, trailing;

  explicit Echo(ServerContext* ctx) {
    for (const auto& kv : ctx->client_metadata()) {
      std::string key(kv.first.data(), kv.first.size());
      std::string value(kv.second.data(), kv.second.size());
      if (key == kEchoInitial) initial.push_back(value);
      if (key == kEchoTrailing) trailing.push_back(value);  // decoded bytes
    }
    for (const auto& v : initial) ctx->AddInitialMetadata(kEchoInitial, v);
    for (const auto& v : trailing) ctx->AddTrailingMetadata(kEchoTrailing, v);
  }
};

Status EchoStatus(const grpc::testing::EchoStatus& s) {
  if (s.code() != 0) return Status(static_cast<StatusCode>(s.code()), s.message());
  return Status::OK;
}

bool FillPayload(int32_t size, grpc::testing::Payload* p, Status* err) {
  if (size < 0) {
    *err = Status(StatusCode::INVALID_ARGUMENT, "negative payload size " + std::to_string(size));
    return false;
  }
  p->set_type(grpc::testing::COMPRESSABLE);
  p->set_body(std::string(static_cast<size_t>(size), '\0'));
  return true;
}

// The StreamingOutputCall behaviour for one request: per entry, wait
// interval_us, send size zero bytes; then the requested status.
template <typename Writer>
Status StreamOutput(ServerContext* ctx, Writer* w,
                    const grpc::testing::StreamingOutputCallRequest& req) {
  for (const auto& rp : req.response_parameters()) {
    if (rp.interval_us() > 0 &&
        !WaitUnlessCancelled(ctx, std::chrono::microseconds(
                                      std::min<int64_t>(rp.interval_us(), kMaxDurationMs * 1000)))) {
      return Status::CANCELLED;
    }
    grpc::testing::StreamingOutputCallResponse resp;
    Status err;
    if (!FillPayload(rp.size(), resp.mutable_payload(), &err)) return err;
    if (!w->Write(resp)) return Status::CANCELLED;
  }
  return EchoStatus(req.response_status());
}

class TestServiceImpl final : public grpc::testing::TestService::Service {
 public:
  Status EmptyCall(ServerContext* ctx, const grpc::testing::Empty*,
                   grpc::testing::Empty*) override {
    Echo echo(ctx);
    return Status::OK;
  }

  Status UnaryCall(ServerContext* ctx, const grpc::testing::SimpleRequest* req,
                   grpc::testing::SimpleResponse* resp) override {
    Echo echo(ctx);
    Status st = EchoStatus(req->response_status());
    if (!st.ok()) return st;
    Status err;
    if (!FillPayload(req->response_size(), resp->mutable_payload(), &err)) return err;
    return Status::OK;
  }

  Status CacheableUnaryCall(ServerContext* ctx, const grpc::testing::SimpleRequest* req,
                            grpc::testing::SimpleResponse* resp) override {
    return UnaryCall(ctx, req, resp);
  }

  Status StreamingOutputCall(
      ServerContext* ctx, const grpc::testing::StreamingOutputCallRequest* req,
      grpc::ServerWriter<grpc::testing::StreamingOutputCallResponse>* w) override {
    Echo echo(ctx);
    w->SendInitialMetadata();  // headers at once, before any response
    return StreamOutput(ctx, w, *req);
  }

  Status StreamingInputCall(ServerContext* ctx,
                            grpc::ServerReader<grpc::testing::StreamingInputCallRequest>* r,
                            grpc::testing::StreamingInputCallResponse* resp) override {
    Echo echo(ctx);
    int32_t sum = 0;
    grpc::testing::StreamingInputCallRequest req;
    while (r->Read(&req)) sum += static_cast<int32_t>(req.payload().body().size());
    resp->set_aggregated_payload_size(sum);
    return Status::OK;
  }

  Status FullDuplexCall(
      ServerContext* ctx,
      grpc::ServerReaderWriter<grpc::testing::StreamingOutputCallResponse,
                               grpc::testing::StreamingOutputCallRequest>* rw) override {
    Echo echo(ctx);
    rw->SendInitialMetadata();
    grpc::testing::StreamingOutputCallRequest req;
    while (rw->Read(&req)) {  // each request answered as it arrives
      Status st = StreamOutput(ctx, rw, req);
      if (!st.ok()) return st;
    }
    return Status::OK;
  }

  Status HalfDuplexCall(
      ServerContext* ctx,
      grpc::ServerReaderWriter<grpc::testing::StreamingOutputCallResponse,
                               grpc::testing::StreamingOutputCallRequest>* rw) override {
    Echo echo(ctx);
    rw->SendInitialMetadata();
    std::vector<grpc::testing::StreamingOutputCallRequest> buffered;
    grpc::testing::StreamingOutputCallRequest req;
    while (rw->Read(&req)) buffered.push_back(req);  // until the client half-closes
    for (const auto& r : buffered) {
      Status st = StreamOutput(ctx, rw, r);
      if (!st.ok()) return st;
    }
    return Status::OK;
  }

  // UnimplementedCall is left to the generated base class: UNIMPLEMENTED.
};

// ---------------------------------------------------------------------------
// ProbeService state: barriers, gauges, outcomes (one mutex each).

namespace pb = conformance::v1;

struct Barrier {
  uint32_t parties = 0;
  uint64_t generation = 0;
  uint32_t arrived = 0;
};

struct Gauge {
  uint32_t in_flight = 0, max_in_flight = 0;
};

struct Outcome {
  pb::HandlerState state = pb::RUNNING;
  std::string conn;
  uint32_t deadline_ms = 0;
  Clock::time_point entered, ended;
  uint64_t serial = 0;
};

constexpr size_t kMaxOutcomes = 100000;

uint32_t DeadlineMs(ServerContext* ctx) {
  auto dl = ctx->deadline();
  if (dl >= std::chrono::system_clock::time_point::max() - std::chrono::hours(24 * 365)) return 0;
  auto left = dl - std::chrono::system_clock::now();
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  if (ms < 1) return 1;
  return static_cast<uint32_t>(std::min<int64_t>(ms, UINT32_MAX));
}

class ProbeServiceImpl final : public pb::ProbeService::Service {
 public:
  explicit ProbeServiceImpl(std::string variant) : variant_(std::move(variant)) {}

  Status Info(ServerContext*, const pb::InfoRequest*, pb::InfoResponse* resp) override {
    resp->set_implementation("grpc-c++");
    resp->set_version(grpc::Version());
    resp->set_unsafe_holds_enabled(true);
    resp->set_handler_threads(0);
    std::string t =
        "sync API: a thread per RPC from grpc++'s dynamic sync-server pool (ThreadManager, "
        "no thread cap), held for the whole call";
    if (!variant_.empty()) t += " [" + variant_ + "]";
    resp->set_threading(t);
    return Status::OK;
  }

  Status Rendezvous(ServerContext* ctx, const pb::RendezvousRequest* req,
                    pb::RendezvousResponse* resp) override {
    std::string conn = ctx->peer();
    uint32_t parties = req->parties();
    if (parties < 1) return Status(StatusCode::INVALID_ARGUMENT, "rendezvous needs at least 1 party");
    std::unique_lock<std::mutex> lock(barriers_mu_);
    auto it = barriers_.find(req->group());
    if (it != barriers_.end() && it->second->parties != parties) {
      if (it->second->arrived > 0) {
        return Status(StatusCode::INVALID_ARGUMENT,
                      "rendezvous group \"" + req->group() + "\" is waiting for " +
                          std::to_string(it->second->parties) + " parties, this call asked for " +
                          std::to_string(parties));
      }
      barriers_.erase(it);
      it = barriers_.end();
    }
    if (it == barriers_.end()) {
      it = barriers_.emplace(req->group(), std::make_shared<Barrier>()).first;
      it->second->parties = parties;
    }
    std::shared_ptr<Barrier> b = it->second;
    auto leave = EnterGauge(req->scope(), nullptr);
    b->arrived++;
    uint32_t arrival = b->arrived;
    resp->set_connection_id(conn);
    resp->set_arrival(arrival);
    if (arrival >= b->parties) {
      b->generation++;
      b->arrived = 0;
      // Forget groups nobody waits in, so unique names do not grow the map.
      for (auto i = barriers_.begin(); i != barriers_.end();) {
        if (i->second->arrived == 0) i = barriers_.erase(i);
        else ++i;
      }
      barriers_cv_.notify_all();
      lock.unlock();
      leave();
      return Status::OK;
    }
    uint64_t gen = b->generation;
    auto until = Clock::now() + CapMs(req->timeout_ms());
    Status end = Status::OK;
    while (b->generation == gen) {
      if (ctx->IsCancelled()) {
        end = Status(StatusCode::CANCELLED, "call cancelled");
        break;
      }
      auto now = Clock::now();
      if (now >= until) {
        end = Status(StatusCode::ABORTED, "rendezvous \"" + req->group() + "\": " +
                                              std::to_string(parties) +
                                              " parties not reached within " +
                                              std::to_string(req->timeout_ms()) + " ms");
        break;
      }
      barriers_cv_.wait_for(lock, std::min<Clock::duration>(until - now, kSlice));
    }
    if (b->generation != gen) end = Status::OK;  // released: counted in, so it passes
    else b->arrived--;
    lock.unlock();
    leave();
    return end;
  }

  Status Hold(ServerContext* ctx, const pb::HoldRequest* req, pb::HoldResponse* resp) override {
    if (!pb::HoldMode_IsValid(req->mode())) {
      return Status(StatusCode::INVALID_ARGUMENT, "unknown hold mode " + std::to_string(req->mode()));
    }
    // (Unsafe holds are always enabled in this adapter, as the suite expects.)
    uint32_t now = 0;
    auto leave = EnterGauge(req->scope(), &now);
    std::string conn = ctx->peer();
    auto settle = Begin(req->tag(), conn, DeadlineMs(ctx));
    resp->set_connection_id(conn);
    resp->set_in_flight_at_entry(now);
    auto d = CapMs(req->duration_ms());
    switch (req->mode()) {
      case pb::SLEEP:
      case pb::UNTIL_CANCELLED:
        if (!WaitUnlessCancelled(ctx, d)) {
          settle(pb::CANCELLED);
          leave();
          return Status(StatusCode::CANCELLED, "call cancelled");
        }
        break;
      case pb::BLOCK_THREAD:
        std::this_thread::sleep_for(d);
        break;
      case pb::SPIN: {
        auto until = Clock::now() + d;
        volatile uint64_t n = 0;
        while (Clock::now() < until) n = n + 1;
        break;
      }
      case pb::PANIC:
        settle(pb::PANICKED);
        leave();
        // An unhandled exception out of the handler: grpc++'s method handler
        // (grpcpp/impl/codegen/method_handler.h, CatchingFunctionHandler)
        // catches it and ends the call with UNKNOWN; the server keeps serving.
        throw std::runtime_error("ProbeService.Hold PANIC requested (tag \"" + req->tag() + "\")");
      default:
        break;
    }
    settle(pb::FINISHED);
    leave();
    return Status::OK;
  }

  Status Observe(ServerContext* ctx, const pb::ObserveRequest* req,
                 pb::ObserveResponse* resp) override {
    auto until = Clock::now() + CapMs(req->wait_ms());
    std::unique_lock<std::mutex> lock(outcomes_mu_);
    while (true) {
      auto it = outcomes_.find(req->tag());
      bool settled = it != outcomes_.end() && it->second.state != pb::RUNNING;
      auto now = Clock::now();
      if (settled || now >= until) {
        if (it == outcomes_.end()) {
          resp->set_state(pb::UNKNOWN);
        } else {
          const Outcome& o = it->second;
          resp->set_state(o.state);
          resp->set_connection_id(o.conn);
          resp->set_deadline_ms(o.deadline_ms);
          if (o.state != pb::RUNNING) {
            resp->set_elapsed_ms(static_cast<uint32_t>(
                std::chrono::duration_cast<std::chrono::milliseconds>(o.ended - o.entered).count()));
          }
        }
        return Status::OK;
      }
      if (ctx->IsCancelled()) return Status(StatusCode::CANCELLED, "call cancelled");
      outcomes_cv_.wait_for(lock, std::min<Clock::duration>(until - now, kSlice));
    }
  }

  Status Gauge(ServerContext*, const pb::GaugeRequest* req, pb::GaugeResponse* resp) override {
    std::lock_guard<std::mutex> lock(gauges_mu_);
    auto it = gauges_.find(req->scope());
    if (it == gauges_.end()) return Status::OK;
    resp->set_in_flight(it->second.in_flight);
    resp->set_max_in_flight(it->second.max_in_flight);
    if (req->reset_max()) it->second.max_in_flight = it->second.in_flight;
    return Status::OK;
  }

  Status Pipe(ServerContext* ctx,
              grpc::ServerReaderWriter<pb::PipeResponse, pb::PipeRequest>* rw) override {
    rw->SendInitialMetadata();  // headers before the first request
    std::string conn = ctx->peer();
    uint32_t deadline = DeadlineMs(ctx);
    pb::PipeRequest req;
    if (!rw->Read(&req)) return Status::OK;
    auto leave = EnterGauge(req.scope(), nullptr);
    std::function<void(pb::HandlerState)> settle = [](pb::HandlerState) {};
    if (!req.tag().empty()) settle = Begin(req.tag(), conn, deadline);
    uint64_t received = 0;
    while (true) {
      received++;
      pb::PipeResponse resp;
      *resp.mutable_echo() = req;
      resp.set_received(received);
      resp.set_connection_id(conn);
      if (!rw->Write(resp)) {
        settle(pb::CANCELLED);
        leave();
        return Status::CANCELLED;
      }
      if (!rw->Read(&req)) break;
    }
    // Read() is false on a half-close and on a cancellation (reset, deadline).
    if (ctx->IsCancelled()) {
      settle(pb::CANCELLED);
      leave();
      return Status::CANCELLED;
    }
    settle(pb::FINISHED);
    leave();
    return Status::OK;
  }

 private:
  // Counts a handler into scope; the returned function counts it out (once).
  std::function<void()> EnterGauge(const std::string& scope, uint32_t* now) {
    std::lock_guard<std::mutex> lock(gauges_mu_);
    auto& g = gauges_[scope];
    g.in_flight++;
    g.max_in_flight = std::max(g.max_in_flight, g.in_flight);
    if (now) *now = g.in_flight;
    auto left = std::make_shared<std::atomic<bool>>(false);
    return [this, scope, left] {
      if (left->exchange(true)) return;
      std::lock_guard<std::mutex> l(gauges_mu_);
      auto& g2 = gauges_[scope];
      if (g2.in_flight > 0) g2.in_flight--;
    };
  }

  // Records a handler entering under tag (replacing an older one); the
  // returned function settles it once (first final state wins).
  std::function<void(pb::HandlerState)> Begin(const std::string& tag, const std::string& conn,
                                              uint32_t deadline) {
    std::lock_guard<std::mutex> lock(outcomes_mu_);
    if (outcomes_.size() >= kMaxOutcomes) {
      for (auto i = outcomes_.begin(); i != outcomes_.end();) {
        if (i->second.state != pb::RUNNING) i = outcomes_.erase(i);
        else ++i;
      }
    }
    uint64_t serial = next_serial_++;
    Outcome o;
    o.conn = conn;
    o.deadline_ms = deadline;
    o.entered = Clock::now();
    o.serial = serial;
    outcomes_[tag] = o;
    outcomes_cv_.notify_all();
    return [this, tag, serial](pb::HandlerState st) {
      std::lock_guard<std::mutex> l(outcomes_mu_);
      auto it = outcomes_.find(tag);
      if (it != outcomes_.end() && it->second.serial == serial && it->second.state == pb::RUNNING) {
        it->second.state = st;
        it->second.ended = Clock::now();
        outcomes_cv_.notify_all();
      }
    };
  }

  std::string variant_;
  std::mutex barriers_mu_;
  std::condition_variable barriers_cv_;
  std::map<std::string, std::shared_ptr<Barrier>> barriers_;
  std::mutex gauges_mu_;
  std::map<std::string, ::Gauge> gauges_;
  std::mutex outcomes_mu_;
  std::condition_variable outcomes_cv_;
  std::map<std::string, Outcome> outcomes_;
  uint64_t next_serial_ = 0;
};

[[noreturn]] void Bad(const std::string& why) {
  std::cerr << "grpc-cpp-server: " << why << "\n" << kUsage << std::endl;
  std::exit(2);
}

bool ParseUint(const char* s, long max, long* out) {
  if (!s || !*s) return false;
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < 0 || v > max) return false;
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--version") == 0) {
    std::cout << "grpc++ " << grpc::Version() << std::endl;
    return 0;
  }
  if (argc < 2) Bad("missing PORT");
  long port = 0;
  if (!ParseUint(argv[1], 65535, &port)) Bad(std::string("bad PORT \"") + argv[1] + "\"");
  bool test_only = false;
  long max_streams = 0;
  for (int i = 2; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--test-only" && !test_only) {
      test_only = true;
    } else if (a == "--max-concurrent-streams" && max_streams == 0) {
      if (!ParseUint(i + 1 < argc ? argv[i + 1] : nullptr, INT_MAX, &max_streams) ||
          max_streams < 1) {
        Bad("--max-concurrent-streams needs a positive integer");
      }
      i++;
    } else {
      Bad("unknown argument \"" + a + "\"");
    }
  }
  std::string variant;
  if (test_only) variant = "TestService only";
  if (max_streams > 0) {
    if (!variant.empty()) variant += ", ";
    variant += "max_concurrent_streams " + std::to_string(max_streams);
  }

  // Block the stop signals before any gRPC thread starts (threads inherit the
  // mask): only the sigwait below receives them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  TestServiceImpl test;
  ProbeServiceImpl probe(variant);
  grpc::ServerBuilder builder;
  std::string addr = "127.0.0.1:" + std::to_string(port);
  int bound = 0;
  builder.AddListeningPort(addr, grpc::InsecureServerCredentials(), &bound);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  if (max_streams > 0) builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, static_cast<int>(max_streams));
  builder.RegisterService(&test);
  if (!test_only) builder.RegisterService(&probe);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound == 0) {
    Log("cannot listen on " + addr);
    return 1;
  }
  Log("grpc++ " + grpc::Version() + " listening on " + addr + " (sync API; " +
      (variant.empty() ? "faithful default" : variant) + ")");

  int sig = 0;
  sigwait(&stop, &sig);
  Log(std::string(sig == SIGTERM ? "SIGTERM" : "SIGINT") + ": graceful stop (grace 5 s)");
  server->Shutdown(std::chrono::system_clock::now() + kGrace);
  Log("stopped");
  std::fflush(stderr);
  // Handler threads still inside BLOCK_THREAD/SPIN must not delay the exit.
  std::_Exit(0);
}
