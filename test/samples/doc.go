// Package samples checks that the manifests in config/samples work as their comments say, applied with kubectl
// to a management cluster where the manager binary runs. It has no non-test code.
package samples
