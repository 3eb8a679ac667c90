// Package helm tests the chart in charts/machinepool-operator with the real helm binary (built from the module
// proxy by make, pinned in hack/tools/helm): it renders the same CRDs, RBAC and webhooks as the kustomize config,
// its values are checked, and an install into a real API server gives the manager, run out of cluster with the
// chart's ServiceAccount token, enough access to drive a pool to Running with the chart's webhooks in the path.
// It has no non-test code.
package helm
