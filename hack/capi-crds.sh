#!/usr/bin/env bash
# Copies Cluster API's own CRDs and sample manifests, at the pinned version, from the Go module cache into
# gitignored directories, for tests, the quickstart and e2e. Nothing it writes is committed.
#
#   config/crd/external/            Cluster, Machine, MachineSet, MachineDeployment, MachineHealthCheck CRDs
#                                   (installable)
#   config/crd/external/core/       every CRD of Cluster API's core provider, for the test that runs its own
#                                   controllers next to the Sim provider (test/capicore)
#   config/crd/external/reference/  Cluster API's MachinePool CRD and example MachinePool manifests, which
#                                   our tests compare against (never installed)
#   config/crd/external/reference/$CAPI_V1BETA2_VERSION/  the same of the Cluster API release whose v1beta2
#                                   MachinePool ours follows (v1.14.2 keeps its CRDs under core/config/crd/bases)
#   charts/machinepool-operator/capi-crds/  Machine, MachineSet, MachineDeployment, MachineHealthCheck CRDs, which the chart
#                                   installs with crds.clusterAPI (Helm reads only files inside the chart)
set -euo pipefail

CAPI_VERSION=${CAPI_VERSION:-v1.7.1}
CAPI_V1BETA2_VERSION=${CAPI_V1BETA2_VERSION:-v1.14.2}
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/config/crd/external
chart=$top/charts/machinepool-operator/capi-crds
stamp=$out/.version

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$CAPI_VERSION $CAPI_V1BETA2_VERSION" ] && [ -f "$chart/cluster.x-k8s.io_machinehealthchecks.yaml" ] && [ -d "$out/core" ] && [ -f "$out/reference/$CAPI_V1BETA2_VERSION/cluster.x-k8s.io_clusters.yaml" ]; then
  exit 0
fi

moddir() { # module version
  GOWORK=off GOFLAGS=-mod=mod go mod download -json "$1@$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

# crddir finds a release's CRDs: config/crd/bases up to v1.10, core/config/crd/bases since.
crddir() {
  for d in "$1/config/crd/bases" "$1/core/config/crd/bases"; do
    if [ -f "$d/cluster.x-k8s.io_machinepools.yaml" ]; then echo "$d"; return; fi
  done
  echo "capi-crds: no MachinePool CRD under $1" >&2
  return 1
}

core=$(moddir sigs.k8s.io/cluster-api "$CAPI_VERSION")
testmod=$(moddir sigs.k8s.io/cluster-api/test "$CAPI_VERSION")
[ -d "$core" ] && [ -d "$testmod" ] || { echo "capi-crds: could not download Cluster API $CAPI_VERSION" >&2; exit 1; }
core2=$(moddir sigs.k8s.io/cluster-api "$CAPI_V1BETA2_VERSION")
testmod2=$(moddir sigs.k8s.io/cluster-api/test "$CAPI_V1BETA2_VERSION")
[ -d "$core2" ] && [ -d "$testmod2" ] || { echo "capi-crds: could not download Cluster API $CAPI_V1BETA2_VERSION" >&2; exit 1; }
bases=$(crddir "$core")
bases2=$(crddir "$core2")

rm -rf "$out" "$chart"
mkdir -p "$out/reference/$CAPI_V1BETA2_VERSION" "$out/core" "$chart"
install -m 0644 "$bases"/*.yaml "$out/core/"
for kind in clusters machines machinesets machinedeployments machinehealthchecks; do
  install -m 0644 "$bases/cluster.x-k8s.io_$kind.yaml" "$out/"
done
for kind in machines machinesets machinedeployments machinehealthchecks; do
  install -m 0644 "$bases/cluster.x-k8s.io_$kind.yaml" "$chart/"
done
for pair in "$bases:$testmod:$out/reference" "$bases2:$testmod2:$out/reference/$CAPI_V1BETA2_VERSION"; do
  IFS=: read -r b t dest <<<"$pair"
  install -m 0644 "$b/cluster.x-k8s.io_machinepools.yaml" "$dest/"
  install -m 0644 "$t/infrastructure/docker/examples/machine-pool.yaml" "$dest/example-machine-pool.yaml"
  install -m 0644 "$t/e2e/data/infrastructure-docker/main/bases/mp.yaml" "$dest/e2e-mp.yaml"
done
# The v1beta2 Cluster, which test/clusterctl applies the 0.2 series' template against.
install -m 0644 "$bases2/cluster.x-k8s.io_clusters.yaml" "$out/reference/$CAPI_V1BETA2_VERSION/"
echo "$CAPI_VERSION $CAPI_V1BETA2_VERSION" >"$stamp"
echo "capi-crds: Cluster API $CAPI_VERSION CRDs in $out, $CAPI_V1BETA2_VERSION's MachinePool in $out/reference/$CAPI_V1BETA2_VERSION" >&2
