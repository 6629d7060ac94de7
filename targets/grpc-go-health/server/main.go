// A health-only grpc-go server, as production services are: it serves
// grpc.health.v1.Health (google.golang.org/grpc/health, grpc-go's own
// implementation) and server reflection, and no grpc.testing.TestService,
// so the conformance harness runs it in health mode.
//
// Usage: grpc-go-health-server PORT [--max-concurrent-streams N]
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: grpc-go-health-server PORT [--max-concurrent-streams N]")
		os.Exit(2)
	}
	port := os.Args[1]
	flags := flag.NewFlagSet("grpc-go-health-server", flag.ExitOnError)
	maxStreams := flags.Uint("max-concurrent-streams", 0, "SETTINGS_MAX_CONCURRENT_STREAMS to advertise (0: grpc-go's default, no limit)")
	if err := flags.Parse(os.Args[2:]); err != nil {
		log.Fatalf("grpc-go-health-server: %v", err)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		log.Fatalf("grpc-go-health-server: cannot listen on 127.0.0.1:%s: %v", port, err)
	}
	var options []grpc.ServerOption
	if *maxStreams > 0 {
		options = append(options, grpc.MaxConcurrentStreams(uint32(*maxStreams)))
	}
	server := grpc.NewServer(options...)
	checker := health.NewServer()
	// The whole server (""), as Kubernetes probes ask for it.
	checker.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(server, checker)
	reflection.Register(server)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		checker.Shutdown()
		server.GracefulStop()
	}()
	log.Printf("grpc-go-health-server: listening on 127.0.0.1:%s", port)
	if err := server.Serve(listener); err != nil {
		log.Fatalf("grpc-go-health-server: %v", err)
	}
}
