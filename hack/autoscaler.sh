#!/usr/bin/env bash
# Builds the cluster-autoscaler (Cluster API cloud provider only) from the source archive in
# ../shared/third_party (it is not on the Go module proxy), once per version, into the user's cache:
#   ${XDG_CACHE_HOME:-~/.cache}/machinepool-operator/cluster-autoscaler/<version>/cluster-autoscaler
# and prints the binary's path. AUTOSCALER_SOURCE points at another archive. Exits 3, saying so, when the
# archive is absent (the autoscaler tests are then skipped).
set -euo pipefail

version=${AUTOSCALER_VERSION:-1.36.1}
top=$(cd "$(dirname "$0")/.." && pwd)
src=${AUTOSCALER_SOURCE:-$top/../shared/third_party/cluster-autoscaler-$version.tar.gz}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/machinepool-operator/cluster-autoscaler/$version
bin=$cache/cluster-autoscaler

if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
if [ ! -f "$src" ]; then
  echo "autoscaler: no source archive at $src; put cluster-autoscaler-$version.tar.gz there (or set AUTOSCALER_SOURCE)" >&2
  exit 3
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$src" -C "$tmp"
start=$SECONDS
echo "autoscaler: building cluster-autoscaler $version (clusterapi provider) from $src" >&2
(cd "$tmp/cluster-autoscaler" && GOWORK=off go build -tags clusterapi -trimpath -o "$tmp/cluster-autoscaler.bin" .)
mkdir -p "$cache"
mv "$tmp/cluster-autoscaler.bin" "$bin"
echo "autoscaler: built in $((SECONDS - start))s: $bin" >&2
echo "$bin"
