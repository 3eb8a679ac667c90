// Package bench holds benchmarks that print figures (time, API requests, reconciles) for the MachinePool
// controller against real control planes. They never assert timings; run them with `make bench` (the manager as a
// process, build tag bench) and `make bench-nodes` (Node mapping in this process).
package bench
