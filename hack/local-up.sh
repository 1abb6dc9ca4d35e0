#!/usr/bin/env bash
# The test control plane for a person: etcd + kube-apiserver + kwok on loopback, with Ready
# fake nodes, until Ctrl-C (then everything stops and the work directory goes).
#
#   hack/local-up.sh                 # 5 nodes
#   hack/local-up.sh --nodes 100 --node-cpu 8 --node-memory 32Gi
#   hack/local-up.sh --help
#
# It prints the admin and scheduler kubeconfig paths and an env file to `source`.
# Binaries: $KUBEBUILDER_ASSETS if set, else hack/build-components.sh (cached after one build).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
py="$root/.venv/bin/python"
if [ ! -x "$py" ]; then
  echo "local-up: $py not found; run 'make venv' first" >&2
  exit 1
fi
if [ -z "${KUBEBUILDER_ASSETS:-}" ]; then
  KUBEBUILDER_ASSETS="$("$here/build-components.sh")"
  export KUBEBUILDER_ASSETS
fi
cd "$root"
# exec: Ctrl-C and SIGTERM go straight to Python, which tears the control plane down.
exec "$py" -m envtest "$@"
