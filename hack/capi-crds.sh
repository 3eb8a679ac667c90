#!/usr/bin/env bash
# Copies Cluster API's own CRDs and sample manifests, at the pinned version, from the Go module cache into
# gitignored directories, for tests, the quickstart and e2e. Nothing it writes is committed.
#
#   config/crd/external/            Cluster, Machine, MachineSet, MachineDeployment CRDs (installable)
#   config/crd/external/core/       every CRD of Cluster API's core provider, for the test that runs its own
#                                   controllers next to the Sim provider (test/capicore)
#   config/crd/external/reference/  Cluster API's MachinePool CRD and example MachinePool manifests, which
#                                   our tests compare against (never installed)
#   charts/machinepool-operator/capi-crds/  Machine, MachineSet, MachineDeployment CRDs, which the chart
#                                   installs with crds.clusterAPI (Helm reads only files inside the chart)
set -euo pipefail

CAPI_VERSION=${CAPI_VERSION:-v1.7.1}
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/config/crd/external
chart=$top/charts/machinepool-operator/capi-crds
stamp=$out/.version

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$CAPI_VERSION" ] && [ -f "$chart/cluster.x-k8s.io_machines.yaml" ] && [ -d "$out/core" ]; then
  exit 0
fi

moddir() {
  GOWORK=off GOFLAGS=-mod=mod go mod download -json "$1@$CAPI_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

core=$(moddir sigs.k8s.io/cluster-api)
testmod=$(moddir sigs.k8s.io/cluster-api/test)
[ -d "$core" ] && [ -d "$testmod" ] || { echo "capi-crds: could not download Cluster API $CAPI_VERSION" >&2; exit 1; }

rm -rf "$out" "$chart"
mkdir -p "$out/reference" "$out/core" "$chart"
install -m 0644 "$core"/config/crd/bases/*.yaml "$out/core/"
for kind in clusters machines machinesets machinedeployments; do
  install -m 0644 "$core/config/crd/bases/cluster.x-k8s.io_$kind.yaml" "$out/"
done
for kind in machines machinesets machinedeployments; do
  install -m 0644 "$core/config/crd/bases/cluster.x-k8s.io_$kind.yaml" "$chart/"
done
install -m 0644 "$core/config/crd/bases/cluster.x-k8s.io_machinepools.yaml" "$out/reference/"
install -m 0644 "$testmod/infrastructure/docker/examples/machine-pool.yaml" "$out/reference/example-machine-pool.yaml"
install -m 0644 "$testmod/e2e/data/infrastructure-docker/main/bases/mp.yaml" "$out/reference/e2e-mp.yaml"
echo "$CAPI_VERSION" >"$stamp"
echo "capi-crds: Cluster API $CAPI_VERSION CRDs in $out" >&2
