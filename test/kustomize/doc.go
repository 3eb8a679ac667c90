// Package kustomize renders config/default with kubectl kustomize and checks what an install would create:
// names, namespace, image, the manager's security settings, webhook wiring to the Service and cert-manager, and
// that a real API server accepts every object (server-side apply). It has no non-test code.
package kustomize
