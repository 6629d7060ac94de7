// Opening the instruction's channel: one grpc.ClientConn, plaintext h2c to
// the loopback reference server.
package main

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// dial opens a ClientConn. grpc.NewClient connects lazily, so errors of the
// connection itself surface as the RPCs' UNAVAILABLE statuses. passthrough
// hands "host:port" to the dialer unchanged (no name resolution).
func dial(server string) (*grpc.ClientConn, error) {
	return grpc.NewClient("passthrough:///"+server,
		grpc.WithTransportCredentials(insecure.NewCredentials()))
}
