// The client-under-test protocol's framing (proto/conformance/v1/client.proto):
// each message is a 4-byte big-endian length and that many bytes of protobuf,
// HarnessMessages on stdin, AdapterMessages on stdout.
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	pb "grpcconformance/conformance_v1"
)

// maxFrame bounds what one length prefix may claim, so that a stray byte
// stream is reported as malformed instead of making us allocate gigabytes.
const maxFrame = 64 << 20

// errEnd is a clean end of input: stdin closed on a frame boundary.
var errEnd = errors.New("end of input")

func readHarnessMessage(r *bufio.Reader) (*pb.HarnessMessage, error) {
	var prefix [4]byte
	n, err := io.ReadFull(r, prefix[:])
	if err == io.EOF && n == 0 {
		return nil, errEnd
	}
	if err != nil {
		return nil, fmt.Errorf("truncated length prefix (%d of 4 bytes): %w", n, err)
	}
	size := binary.BigEndian.Uint32(prefix[:])
	if size > maxFrame {
		return nil, fmt.Errorf("length prefix %d exceeds %d bytes", size, maxFrame)
	}
	body := make([]byte, size)
	if n, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("truncated message (%d of %d bytes): %w", n, size, err)
	}
	m := &pb.HarnessMessage{}
	if err := proto.Unmarshal(body, m); err != nil {
		return nil, fmt.Errorf("undecodable HarnessMessage of %d bytes: %w", size, err)
	}
	return m, nil
}

func writeAdapterMessage(w *bufio.Writer, m *pb.AdapterMessage) error {
	body, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	var prefix [4]byte
	binary.BigEndian.PutUint32(prefix[:], uint32(len(body)))
	if _, err := w.Write(prefix[:]); err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	return w.Flush()
}
