#!/usr/bin/env bash
# Builds the envtest control-plane binaries (kube-apiserver, etcd) and kubectl from source, into
# setup-envtest's cache layout, so that they are built once per version and reused by every clone:
#
#   ${ENVTEST_ASSETS_ROOT:-~/.local/share/kubebuilder-envtest}/k8s/<k8s-version>-<os>-<arch>/{kube-apiserver,etcd,kubectl}
#
# kube-apiserver and kubectl come from module k8s.io/kubernetes, whose go.mod replaces every k8s.io/*
# staging module with a local directory; a throwaway module replaces each of them with the published
# module of the matching v0.x version instead. etcd comes from go.etcd.io/etcd/server/v3 through a
# two-line main. Nothing here touches the project's own go.mod.
#
# Prints the assets directory on stdout (everything else goes to stderr). A KUBEBUILDER_ASSETS that already
# holds the three binaries is used as it is.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.37.2}
ETCD_VERSION=${ETCD_VERSION:-3.6.16}
root=${ENVTEST_ASSETS_ROOT:-${XDG_DATA_HOME:-$HOME/.local/share}/kubebuilder-envtest}
goos=$(go env GOOS)
goarch=$(go env GOARCH)
assets=$root/k8s/$K8S_VERSION-$goos-$goarch

log() { printf '[envtest-bins] %s\n' "$*" >&2; }

have() { [ -x "$1/kube-apiserver" ] && [ -x "$1/etcd" ] && [ -x "$1/kubectl" ]; }

# A KUBEBUILDER_ASSETS that already holds the binaries wins (setup-envtest users, other caches).
if [ -n "${KUBEBUILDER_ASSETS:-}" ] && have "$KUBEBUILDER_ASSETS"; then
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

if have "$assets"; then
  log "cached: $assets"
  echo "$assets"
  exit 0
fi

mkdir -p "$assets"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Both builds are module-mode builds of throwaway modules; never let a parent go.work interfere.
export GOWORK=off GOFLAGS=-mod=mod

if [ ! -x "$assets/etcd" ]; then
  log "building etcd v$ETCD_VERSION"
  mkdir -p "$work/etcd"
  cat >"$work/etcd/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (
    cd "$work/etcd"
    go mod init envtest.local/etcd >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >&2
    go mod tidy >&2
    go build -trimpath -o "$assets/etcd.tmp" . >&2
  )
  mv "$assets/etcd.tmp" "$assets/etcd"
fi

if [ ! -x "$assets/kube-apiserver" ] || [ ! -x "$assets/kubectl" ]; then
  log "building kube-apiserver and kubectl v$K8S_VERSION (about 5-10 minutes on 2 cores, cold)"
  mod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  [ -n "$mod" ] || { log "could not download k8s.io/kubernetes@v$K8S_VERSION"; exit 1; }
  staging_version=v0.${K8S_VERSION#1.}
  mkdir -p "$work/k8s"
  {
    echo "module envtest.local/kubernetes"
    echo
    echo "go $(sed -n 's/^go \(.*\)$/\1/p' "$mod")"
    sed -n 's/^godebug .*/&/p' "$mod"
    echo
    echo "require k8s.io/kubernetes v$K8S_VERSION"
    echo
    echo "tool ("
    echo "	k8s.io/kubernetes/cmd/kube-apiserver"
    echo "	k8s.io/kubernetes/cmd/kubectl"
    echo ")"
    echo
    echo "replace ("
    # "k8s.io/x => ./staging/src/k8s.io/x" becomes "k8s.io/x => k8s.io/x v0.N.P".
    sed -n "s#^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/src/.*#	\1 => \1 $staging_version#p" "$mod"
    echo ")"
  } >"$work/k8s/go.mod"
  (
    cd "$work/k8s"
    go mod tidy >&2
    pkg=k8s.io/component-base/version
    ldflags="-s -w -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=${K8S_VERSION%%.*}"
    minor=${K8S_VERSION#*.}
    ldflags="$ldflags -X $pkg.gitMinor=${minor%%.*} -X $pkg.gitTreeState=clean"
    ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION"
    go build -trimpath -ldflags "$ldflags" -o "$work/out/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl >&2
  )
  mv "$work/out/kube-apiserver" "$assets/kube-apiserver"
  mv "$work/out/kubectl" "$assets/kubectl"
fi

have "$assets" || { log "binaries missing in $assets after the build"; exit 1; }
log "built: $assets"
echo "$assets"
