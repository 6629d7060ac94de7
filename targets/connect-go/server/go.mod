module conformance-targets/connect-go-server

go 1.26.0

require (
	conformance-targets/probestate v0.0.0
	connectrpc.com/connect v1.21.1
	grpcconformance v0.0.0
)

require google.golang.org/protobuf v1.36.12 // indirect

// The code generated from proto/ by install.sh (git-ignored).
replace grpcconformance => ../build/gen

// The ProbeService state shared with grpc-go (targets/go/probestate).
replace conformance-targets/probestate => ../../go/probestate
