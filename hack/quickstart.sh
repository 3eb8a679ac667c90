#!/usr/bin/env bash
# make quickstart: builds what it needs (envtest binaries once per version, the manager), then runs the whole
# MachinePool loop locally (hack/quickstart). KEEP=1 leaves it running.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOWORK=off
KUBEBUILDER_ASSETS="$(hack/envtest-bins.sh)"
export KUBEBUILDER_ASSETS
go build -o bin/manager ./cmd/manager
MANAGER_BIN="$PWD/bin/manager" exec go run ./hack/quickstart
