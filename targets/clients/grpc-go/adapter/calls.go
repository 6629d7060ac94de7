// The Calls instruction: every call in a goroutine of its own, all at once,
// on the instruction's one ClientConn (one per call under
// new-channel-per-call), each with the instruction's deadline.
package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "grpcconformance/conformance_v1"
	tpb "grpcconformance/grpc_testing"
)

func runCalls(in *pb.Instruction, calls *pb.Calls) *pb.InstructionResult {
	res := &pb.InstructionResult{Id: in.Id}
	for _, c := range calls.Calls {
		if c.Rpc == nil {
			res.AdapterError = fmt.Sprintf("call %q: no rpc set (an rpc kind this adapter does not know?)", c.Caller)
			return res
		}
	}
	var shared *grpc.ClientConn
	if defect != defectNewChannelPerCall {
		conn, err := dial(in.Server)
		if err != nil {
			res.AdapterError = fmt.Sprintf("opening the channel to %s: %v", in.Server, err)
			return res
		}
		defer conn.Close()
		shared = conn
	}
	deadline := time.Duration(in.DeadlineMs) * time.Millisecond
	results := make([]*pb.CallResult, len(calls.Calls))
	var wg sync.WaitGroup
	for i, c := range calls.Calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = runCall(in.Server, shared, deadline, c)
		}()
	}
	wg.Wait()
	res.Calls = results
	return res
}

// runCall makes one call on conn, or on a ClientConn of its own when conn is
// nil (new-channel-per-call), and reports its outcome; it never fails.
func runCall(server string, conn *grpc.ClientConn, deadline time.Duration, c *pb.Call) *pb.CallResult {
	start := time.Now()
	res := &pb.CallResult{Caller: c.Caller}
	defer func() { res.ElapsedMs = uint32(time.Since(start).Milliseconds()) }()
	if conn == nil {
		own, err := dial(server)
		if err != nil {
			res.Code, res.Message = int32(codes.Unavailable), err.Error()
			return res
		}
		defer own.Close()
		conn = own
	}
	// The deadline runs from the task's start: a call queued behind the
	// global lock spends its own time waiting, so every task stays bounded.
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	unlock := lockRPC()
	defer unlock()

	var err error
	switch rpc := c.Rpc.(type) {
	case *pb.Call_Gather:
		var r *pb.GatherResponse
		r, err = pb.NewClientObserverClient(conn).Gather(ctx, rpc.Gather)
		if err == nil {
			res.ReplyCaller = r.Caller
		}
	case *pb.Call_GatherStream:
		res.ReplyCaller, err = gatherStream(ctx, pb.NewClientObserverClient(conn), rpc.GatherStream)
	case *pb.Call_Rendezvous:
		r := rpc.Rendezvous
		_, err = pb.NewProbeServiceClient(conn).Rendezvous(ctx, &pb.RendezvousRequest{
			Group: r.Group, Parties: r.Parties, TimeoutMs: r.TimeoutMs, Scope: r.Scope,
		})
	case *pb.Call_UnaryResponseSize:
		var r *tpb.SimpleResponse
		r, err = tpb.NewTestServiceClient(conn).UnaryCall(ctx, &tpb.SimpleRequest{
			ResponseSize: int32(rpc.UnaryResponseSize),
		})
		if err == nil {
			res.ReplySize = uint32(len(r.GetPayload().GetBody()))
		}
	}
	if err != nil {
		st := status.Convert(err)
		res.Code, res.Message = int32(st.Code()), st.Message()
	}
	return res
}

// gatherStream sends the one request, reads the one response, half-closes,
// then reads to the end of the stream; it returns the response's caller.
func gatherStream(ctx context.Context, client pb.ClientObserverClient, req *pb.GatherRequest) (string, error) {
	stream, err := client.GatherStream(ctx)
	if err != nil {
		return "", err
	}
	if err := stream.Send(req); err != nil && err != io.EOF {
		return "", err
	}
	// A failed Send (io.EOF) means the stream ended: Recv gives its status.
	r, err := stream.Recv()
	if err != nil {
		return "", err
	}
	if err := stream.CloseSend(); err != nil {
		return r.Caller, err
	}
	for {
		if _, err := stream.Recv(); err == io.EOF {
			return r.Caller, nil
		} else if err != nil {
			return r.Caller, err
		}
	}
}
