#!/usr/bin/env bash
# Copies real infrastructure providers' MachinePool CRDs and MachinePool cluster templates, at pinned versions,
# from the Go module cache into a gitignored directory, for test/providers. Nothing it writes is committed.
#
#   config/crd/external/providers/aws/crds/       Cluster API Provider AWS: AWSMachinePool, AWSManagedMachinePool,
#                                                 AWSMachine (installable)
#   config/crd/external/providers/aws/templates/  its cluster-template-machinepool*.yaml and
#                                                 cluster-template-eks-managedmachinepool.yaml
#   config/crd/external/providers/gcp/crds/       Cluster API Provider GCP: GCPMachinePool, GCPManagedMachinePool
#   config/crd/external/providers/gcp/templates/  its cluster-template-gke.yaml (the one with a MachinePool)
#
# The CRDs get what each provider's config/crd kustomization adds to them and nothing else: its commonLabels
# (the contract labels, cluster.x-k8s.io/v1beta1: v1beta1_v1beta2 for AWS), read from that kustomization.yaml.
# Its conversion-webhook patches point at the provider's Service, which does not exist here: a spec.conversion
# stanza in a base file (none today; the patches add them) is dropped, so the API server never calls one.
set -euo pipefail

CAPA_VERSION=${CAPA_VERSION:-v2.13.0}
CAPG_VERSION=${CAPG_VERSION:-v1.13.1}
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/config/crd/external/providers
stamp=$out/.version

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$CAPA_VERSION $CAPG_VERSION" ]; then
  exit 0
fi

moddir() { # module version
  GOWORK=off GOFLAGS=-mod=mod go mod download -json "$1@$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

# contract_labels prints the cluster.x-k8s.io/* labels of a kustomization's commonLabels, one "key: value" a line.
contract_labels() {
  awk '/^commonLabels:/ { in_labels = 1; next }
       in_labels && /^[^[:space:]#]/ { in_labels = 0 }
       in_labels && $1 ~ /^cluster\.x-k8s\.io\/v[0-9a-z]+:$/ { print $1 " " $2 }' "$1"
}

# copy_crd src dest labels: copies a CRD, adding the labels under metadata and dropping spec.conversion.
copy_crd() {
  local src=$1 dest=$2 labels=$3
  [ -f "$src" ] || { echo "provider-crds: no CRD $src" >&2; return 1; }
  if grep -q '^  labels:' "$src"; then
    echo "provider-crds: $src has metadata.labels already; merge them by hand in this script" >&2
    return 1
  fi
  awk -v labels="$labels" '
    /^metadata:$/ && !done { print; print "  labels:"; n = split(labels, l, "\n"); for (i = 1; i <= n; i++) if (l[i] != "") print "    " l[i]; done = 1; next }
    /^  conversion:/ { skipping = 1; next }
    skipping && /^(  )?[^[:space:]]/ { skipping = 0 }
    !skipping { print }' "$src" >"$dest"
  grep -q '^  labels:' "$dest" || { echo "provider-crds: could not label $dest" >&2; return 1; }
}

# provider name module version crd-file... -- template-glob...: copies one provider's CRDs and templates.
provider() {
  local name=$1 module=$2 version=$3
  shift 3
  local dir
  dir=$(moddir "$module" "$version")
  [ -n "$dir" ] && [ -d "$dir" ] || { echo "provider-crds: could not download $module@$version from the Go module proxy" >&2; exit 1; }
  local labels
  labels=$(contract_labels "$dir/config/crd/kustomization.yaml")
  [ -n "$labels" ] || { echo "provider-crds: no contract labels in $dir/config/crd/kustomization.yaml" >&2; exit 1; }
  mkdir -p "$out/$name/crds" "$out/$name/templates"
  while [ "$1" != "--" ]; do
    copy_crd "$dir/config/crd/bases/$1" "$out/$name/crds/$1" "$labels"
    shift
  done
  shift
  local pattern f found
  for pattern in "$@"; do
    found=0
    for f in "$dir"/templates/$pattern; do
      [ -f "$f" ] || continue
      install -m 0644 "$f" "$out/$name/templates/"
      found=1
    done
    [ "$found" = 1 ] || { echo "provider-crds: no template $pattern in $module@$version" >&2; exit 1; }
  done
}

rm -rf "$out"
mkdir -p "$out"
provider aws sigs.k8s.io/cluster-api-provider-aws/v2 "$CAPA_VERSION" \
  infrastructure.cluster.x-k8s.io_awsmachinepools.yaml \
  infrastructure.cluster.x-k8s.io_awsmanagedmachinepools.yaml \
  infrastructure.cluster.x-k8s.io_awsmachines.yaml \
  -- 'cluster-template-machinepool*.yaml' cluster-template-eks-managedmachinepool.yaml
provider gcp sigs.k8s.io/cluster-api-provider-gcp "$CAPG_VERSION" \
  infrastructure.cluster.x-k8s.io_gcpmachinepools.yaml \
  infrastructure.cluster.x-k8s.io_gcpmanagedmachinepools.yaml \
  -- cluster-template-gke.yaml
echo "$CAPA_VERSION $CAPG_VERSION" >"$stamp"
echo "provider-crds: CAPA $CAPA_VERSION and CAPG $CAPG_VERSION MachinePool CRDs and templates in $out" >&2
