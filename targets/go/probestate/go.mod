module conformance-targets/probestate

go 1.24
