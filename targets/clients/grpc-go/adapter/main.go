// grpc-go client adapter: speaks the client-under-test protocol
// (proto/conformance/v1/client.proto) on stdin/stdout and carries out each
// instruction with grpc-go's client API: one grpc.ClientConn per
// instruction, a goroutine per task.
//
// Usage: grpc-go-client [--defect new-channel-per-call|global-lock|
//
//	send-all-then-receive|receive-after-half-close]
//
// Logs go to stderr. A malformed message on stdin: a line on stderr, exit 1.
// stdin closed: exit 0.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"os"

	"google.golang.org/grpc"

	pb "grpcconformance/conformance_v1"
)

const protocolVersion = 1

func main() {
	log.SetPrefix("grpc-go-client: ")
	log.SetFlags(0)
	flags := flag.NewFlagSet("grpc-go-client", flag.ContinueOnError)
	defectName := flags.String("defect", "", "a deliberate client defect")
	if err := flags.Parse(os.Args[1:]); err != nil || flags.NArg() != 0 {
		log.Printf("usage: grpc-go-client [--defect NAME]")
		os.Exit(2)
	}
	if *defectName != "" {
		if err := parseDefect(*defectName); err != nil {
			log.Print(err)
			os.Exit(2)
		}
	}

	in := bufio.NewReader(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	for {
		m, err := readHarnessMessage(in)
		if err == errEnd {
			return
		}
		if err != nil {
			log.Printf("malformed message on stdin: %v", err)
			os.Exit(1)
		}
		reply, err := answer(m)
		if err != nil {
			log.Printf("malformed message on stdin: %v", err)
			os.Exit(1)
		}
		if err := writeAdapterMessage(out, reply); err != nil {
			log.Printf("writing to stdout: %v", err)
			os.Exit(1)
		}
	}
}

// answer carries out one harness message and returns the adapter's answer.
func answer(m *pb.HarnessMessage) (*pb.AdapterMessage, error) {
	switch k := m.Kind.(type) {
	case *pb.HarnessMessage_Hello:
		if v := k.Hello.ProtocolVersion; v != protocolVersion {
			log.Printf("harness speaks protocol version %d, this adapter %d", v, protocolVersion)
		}
		return &pb.AdapterMessage{Kind: &pb.AdapterMessage_Hello{Hello: &pb.AdapterHello{
			ProtocolVersion: protocolVersion,
			Implementation:  "grpc-go",
			Version:         grpc.Version,
			Api:             "grpc.ClientConn, one goroutine per task",
			Defect:          defect,
		}}}, nil
	case *pb.HarnessMessage_Instruction:
		in := k.Instruction
		var res *pb.InstructionResult
		switch w := in.Work.(type) {
		case *pb.Instruction_Calls:
			res = runCalls(in, w.Calls)
		case *pb.Instruction_Exchange:
			res = runExchange(in, w.Exchange)
		default:
			res = &pb.InstructionResult{Id: in.Id, AdapterError: "instruction of a kind this adapter does not know (no calls, no exchange)"}
		}
		return &pb.AdapterMessage{Kind: &pb.AdapterMessage_Result{Result: res}}, nil
	default:
		return nil, fmt.Errorf("HarnessMessage with no known kind")
	}
}
