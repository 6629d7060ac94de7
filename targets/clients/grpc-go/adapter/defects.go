// The deliberate client-side defects selected by --defect (the counterparts
// of the server targets' defect fixtures), and the process-wide lock of
// global-lock.
package main

import (
	"fmt"
	"strings"
	"sync"
)

const (
	defectNone                  = ""
	defectNewChannelPerCall     = "new-channel-per-call"
	defectGlobalLock            = "global-lock"
	defectSendAllThenReceive    = "send-all-then-receive"
	defectReceiveAfterHalfClose = "receive-after-half-close"
)

var knownDefects = []string{
	defectNewChannelPerCall, defectGlobalLock, defectSendAllThenReceive, defectReceiveAfterHalfClose,
}

// defect is set once by main before any instruction runs.
var defect = defectNone

// globalLock serialises whole RPCs under --defect global-lock.
var globalLock sync.Mutex

func parseDefect(name string) error {
	for _, d := range knownDefects {
		if d == name {
			defect = name
			return nil
		}
	}
	return fmt.Errorf("unknown defect %q (known: %s)", name, strings.Join(knownDefects, ", "))
}

// lockRPC takes the global lock when the defect asks for it and returns its
// release (a no-op otherwise).
func lockRPC() func() {
	if defect != defectGlobalLock {
		return func() {}
	}
	globalLock.Lock()
	return globalLock.Unlock
}
