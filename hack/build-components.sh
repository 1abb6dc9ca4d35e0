#!/usr/bin/env bash
# Obtain pinned etcd, kube-apiserver, kwok (and, on demand, kube-scheduler) from the Go module
# registry, build them with the local Go toolchain, and cache them in a versioned directory
# outside the repository. Prints the directory (KUBEBUILDER_ASSETS style) on stdout.
#
#   hack/build-components.sh                  # etcd, kube-apiserver, kwok
#   hack/build-components.sh kube-scheduler   # also (or only) kube-scheduler
#   hack/build-components.sh kustomize        # kustomize, which renders manifests/ in tests
#   hack/build-components.sh metrics-server   # metrics-server, the load-aware tests' pipeline
#   hack/build-components.sh prometheus       # Prometheus, for the load-aware Prometheus source
#   hack/build-components.sh scheduler-plugins  # scheduler-plugins' kube-scheduler (Coscheduling)
#
# Why a wrapper module: k8s.io/kubernetes replaces its staging modules with ./staging paths,
# which `go install pkg@version` refuses. A small module of our own requires
# k8s.io/kubernetes at the pinned tag and replaces each staging module with the published
# k8s.io/<name> v0.Y.Z, the list read from that tag's own go.mod.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

cache_root="${PYSCHEDULER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pyscheduler}"
assets="$cache_root/assets/k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}"
mkdir -p "$assets"
log() { echo "[build-components] $*" >&2; }

wanted=("$@")
if [ ${#wanted[@]} -eq 0 ]; then wanted=(etcd kube-apiserver kwok); fi

command -v go >/dev/null || { log "the Go toolchain is required (go not on PATH)"; exit 1; }
export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0
# Two cores: let go use both, but no more than that for the linker's memory.
export GOMAXPROCS="${GOMAXPROCS:-2}"

k8s_minor="${K8S_VERSION#v1.}"          # 37.2
staging_version="v0.${k8s_minor}"       # v0.37.2

k8s_wrapper() {
  local dir="$cache_root/src/k8s-wrapper-${K8S_VERSION}"
  if [ ! -f "$dir/.ready" ]; then
    mkdir -p "$dir"
    log "preparing wrapper module for k8s.io/kubernetes ${K8S_VERSION} in $dir"
    (cd "$dir" && rm -f go.mod go.sum && go mod init pyscheduler.local/k8s-wrapper >/dev/null 2>&1)
    local modfile
    modfile="$(cd "$dir" && go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    local go_directive
    go_directive="$(awk '/^go [0-9]/{print $2; exit}' "$modfile")"
    {
      echo "module pyscheduler.local/k8s-wrapper"
      echo
      echo "go ${go_directive}"
      echo
      echo "godebug default=go${go_directive%.*}"
      echo
      echo "require k8s.io/kubernetes ${K8S_VERSION}"
      echo
      echo "replace ("
      # every `k8s.io/<name> => ./staging/src/k8s.io/<name>` becomes the published module
      sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/.*#\t\1 => \1 '"${staging_version}"'#p' "$modfile"
      echo ")"
    } > "$dir/go.mod"
    touch "$dir/.ready"
  fi
  echo "$dir"
}

build_k8s() {
  local name="$1"
  local out="$assets/$name"
  if [ -x "$out" ]; then log "$name cached"; return; fi
  local dir; dir="$(k8s_wrapper)"
  log "building $name ${K8S_VERSION} (cold: several minutes on 2 cores)"
  local pkg="k8s.io/component-base/version"
  local major="1" minor="${k8s_minor%%.*}"
  local ldflags="-s -w -X ${pkg}.gitVersion=${K8S_VERSION} -X ${pkg}.gitMajor=${major} -X ${pkg}.gitMinor=${minor} -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=1970-01-01T00:00:00Z"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=${K8S_VERSION} -X k8s.io/client-go/pkg/version.gitMajor=${major} -X k8s.io/client-go/pkg/version.gitMinor=${minor}"
  (cd "$dir" && go build -trimpath -ldflags "$ldflags" -o "$out.tmp" "k8s.io/kubernetes/cmd/$name")
  mv "$out.tmp" "$out"
}

build_etcd() {
  local out="$assets/etcd"
  if [ -x "$out" ]; then log "etcd cached"; return; fi
  # etcd's root module (the one holding main.go) also uses local replaces, so build its
  # server module's etcdmain from a two-line main of our own.
  local dir="$cache_root/src/etcd-wrapper-${ETCD_VERSION}"
  mkdir -p "$dir"
  log "building etcd ${ETCD_VERSION}"
  cat > "$dir/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$dir" && { [ -f go.mod ] || go mod init pyscheduler.local/etcd-wrapper >/dev/null 2>&1; } \
     && go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >/dev/null 2>&1 \
     && go build -trimpath -ldflags "-s -w" -o "$out.tmp" .)
  mv "$out.tmp" "$out"
}

build_kwok() {
  local out="$assets/kwok"
  if [ -x "$out" ]; then log "kwok cached"; return; fi
  log "building kwok ${KWOK_VERSION}"
  GOBIN="$assets/.gobin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}"
  mv "$assets/.gobin/kwok" "$out"
}

build_go_tool() {
  # A tool whose go.mod has no local replaces, so `go install pkg@version` builds it as
  # released: its own versioned directory (the assets directory's name does not carry its
  # version, and renaming that would rebuild everything), linked into the assets directory.
  # Optional build tags ($4) are part of the directory's name, so changing them rebuilds.
  local name="$1" version="$2" pkg="$3" tags="${4:-}"
  local dir="$cache_root/tools/${name}-${version}${tags:+-${tags//,/-}}"
  if [ ! -x "$dir/$name" ]; then
    log "building $name ${version}${tags:+ (tags ${tags})} (cold: minutes on 2 cores)"
    GOBIN="$dir/.gobin" go install -trimpath -ldflags "-s -w" ${tags:+-tags "$tags"} \
      "${pkg}@${version}"
    mv "$dir/.gobin/$name" "$dir/$name"
  else
    log "$name cached"
  fi
  ln -sfn "$dir/$name" "$assets/$name"
}

build_scheduler_plugins() {
  # sigs.k8s.io/scheduler-plugins' go.mod replaces every k8s.io module with a published
  # version, which `go install pkg@version` refuses: a wrapper module of our own requires it
  # and copies those replaces from the tag's own go.mod. Its own versioned directory, linked
  # into the assets directory as kube-scheduler-plugins (its binary is a kube-scheduler).
  local version="$SCHEDULER_PLUGINS_VERSION"
  local dir="$cache_root/tools/scheduler-plugins-${version}"
  local out="$dir/kube-scheduler-plugins"
  if [ ! -x "$out" ]; then
    mkdir -p "$dir"
    log "building scheduler-plugins ${version} (cold: several minutes on 2 cores)"
    (cd "$dir" && rm -f go.mod go.sum && go mod init pyscheduler.local/scheduler-plugins-wrapper >/dev/null 2>&1)
    local modfile
    modfile="$(cd "$dir" && go mod download -json "sigs.k8s.io/scheduler-plugins@${version}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    {
      echo "module pyscheduler.local/scheduler-plugins-wrapper"
      echo
      awk '/^go [0-9]/{print; exit}' "$modfile"
      echo
      echo "require sigs.k8s.io/scheduler-plugins ${version}"
      echo
      # the tag's replace block and single-line replaces, as they are, except
      # k8s.io/csi-translation-lib: the registry refuses its v0.34.7 (403), so the pinned
      # Kubernetes release's is used; its API (in-tree volume plugin names) is unchanged.
      awk '/^replace \($/{on=1} on{print} on&&/^\)$/{on=0} /^replace [^(]/{print}' "$modfile" \
        | sed 's#\(k8s.io/csi-translation-lib => k8s.io/csi-translation-lib\) v[0-9.]*#\1 '"${staging_version}"'#'
    } > "$dir/go.mod"
    # Its version is the Kubernetes release it is built on (the emulation-version check
    # refuses anything else, e.g. "emulation version 0.34 is not between [1.31, 0.34.0]").
    local k8s pkg="k8s.io/component-base/version"
    k8s="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v1[.]/ {print $2; exit}' "$modfile")"
    (cd "$dir" && go build -trimpath -ldflags "-s -w -X ${pkg}.gitVersion=${k8s}" \
       -o "$out.tmp" sigs.k8s.io/scheduler-plugins/cmd/scheduler)
    mv "$out.tmp" "$out"
  else
    log "scheduler-plugins cached"
  fi
  ln -sfn "$out" "$assets/kube-scheduler-plugins"
}

for w in "${wanted[@]}"; do
  case "$w" in
    etcd) build_etcd ;;
    kube-apiserver|kube-scheduler|kube-controller-manager) build_k8s "$w" ;;
    kwok) build_kwok ;;
    kustomize) build_go_tool kustomize "$KUSTOMIZE_VERSION" sigs.k8s.io/kustomize/kustomize/v5 ;;
    # metrics.k8s.io for the load-aware tests (issue 18).
    metrics-server) build_go_tool metrics-server "$METRICS_SERVER_VERSION" \
                      sigs.k8s.io/metrics-server/cmd/metrics-server ;;
    # Module tags v0.3xx.y are Prometheus 3.xx.y; built without the embedded web UI (build
    # tag builtinassets) and without every service-discovery provider (remove_all_sd, since
    # 3.10: the cloud SDKs are most of its build time on a cold machine): the tests scrape
    # static targets and query its HTTP API only.
    prometheus) build_go_tool prometheus "$PROMETHEUS_VERSION" \
                  github.com/prometheus/prometheus/cmd/prometheus remove_all_sd ;;
    # scheduler-plugins' Coscheduling, for the competing-gangs comparison (issue 16).
    scheduler-plugins) build_scheduler_plugins ;;
    *) log "unknown component: $w"; exit 2 ;;
  esac
done
log "assets in $assets"
echo "$assets"
