// The Exchange instruction: one ClientObserver.Interlock stream on a
// ClientConn of its own, a sender goroutine and a receiver goroutine on it at
// once (or, under the half-duplex defects, not at once).
package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "grpcconformance/conformance_v1"
)

// sendOutcome is what the sender did.
type sendOutcome struct {
	sent       uint32
	halfClosed bool
	err        string
}

func runExchange(in *pb.Instruction, ex *pb.Exchange) *pb.InstructionResult {
	res := &pb.InstructionResult{Id: in.Id}
	conn, err := dial(in.Server)
	if err != nil {
		res.AdapterError = fmt.Sprintf("opening the channel to %s: %v", in.Server, err)
		return res
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(in.DeadlineMs)*time.Millisecond)
	defer cancel()
	unlock := lockRPC()
	defer unlock()

	out := &pb.ExchangeResult{InOrder: true}
	res.Exchange = out
	stream, err := pb.NewClientObserverClient(conn).Interlock(ctx)
	if err != nil {
		st := status.Convert(err)
		out.Code, out.Message = int32(st.Code()), st.Message()
		return res
	}

	send := func() sendOutcome {
		var o sendOutcome
		payload := make([]byte, ex.RequestSize)
		for seq := uint64(1); seq <= uint64(ex.Messages); seq++ {
			// Send blocks while the stream's flow-control window is full.
			err := stream.Send(&pb.InterlockRequest{
				Tag: ex.Tag, Seq: seq, ResponseSize: ex.ResponseSize,
				AfterHalfClose: ex.AfterHalfClose, Payload: payload,
			})
			if err != nil {
				o.err = err.Error()
				return o
			}
			o.sent++
		}
		if err := stream.CloseSend(); err != nil {
			o.err = err.Error()
			return o
		}
		o.halfClosed = true
		return o
	}
	receive := func() {
		for {
			r, err := stream.Recv()
			if err == io.EOF {
				out.Code, out.Message = int32(codes.OK), ""
				return
			}
			if err != nil {
				st := status.Convert(err)
				out.Code, out.Message = int32(st.Code()), st.Message()
				return
			}
			out.Received++
			if r.Seq != uint64(out.Received) || uint32(len(r.Payload)) != ex.ResponseSize {
				out.InOrder = false
			}
			if ex.CancelAfter > 0 && out.Received >= ex.CancelAfter {
				cancel()
				// The final status as the library gives it after the cancel:
				// CANCELLED, unless the call had ended before (its deadline),
				// in which case grpc-go still hands out buffered responses.
				for {
					if _, err := stream.Recv(); err != nil {
						st := status.Convert(err)
						out.Code, out.Message = int32(st.Code()), st.Message()
						return
					}
				}
			}
		}
	}

	var o sendOutcome
	switch defect {
	case defectSendAllThenReceive:
		// One goroutine: every request (blocking on flow control), the
		// half-close, and only then the responses.
		o = send()
		receive()
	case defectReceiveAfterHalfClose:
		sent := make(chan sendOutcome, 1)
		go func() { sent <- send() }()
		o = <-sent
		receive()
	default:
		sent := make(chan sendOutcome, 1)
		go func() { sent <- send() }()
		receive()
		o = <-sent
	}
	out.Sent, out.HalfClosed, out.SenderError = o.sent, o.halfClosed, o.err
	return res
}
