// Package image checks the manager's Dockerfile without a Docker engine: its stages, pinned base images,
// non-root user, and that it builds the binary `make build` builds. It has no non-test code.
package image
