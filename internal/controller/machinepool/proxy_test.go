package machinepool_test

import "github.com/machinepool-operator/machinepool-operator/test/support"

// workloadHost is host:port of the workload API server.
func workloadHost() string { return support.KubeconfigHost(workloadKubeconfig) }

// kubeconfigVia is the workload kubeconfig with its server moved to addr.
func kubeconfigVia(addr string) []byte { return support.KubeconfigVia(workloadKubeconfig, addr) }
