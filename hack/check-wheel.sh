#!/usr/bin/env bash
# What a user (and the Dockerfile) gets: build the wheel, install it into a fresh virtualenv
# (the image's steps, which no container engine can run here), run `pyscheduler version`,
# validate the profile the shipped ConfigMap carries (manifests/base/config.yaml), import every
# module of the installed package (so a runtime dependency the code imports but pyproject does
# not declare fails here), and check that nothing
# test-only came along (the test control plane stays in the repository).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT

# Build from a copy of the files git tracks (or would track): a stale build/ directory in the
# checkout must not smuggle removed modules into the wheel.
src="$venv/src"
mkdir -p "$src"
(cd "$root" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) | tar -xf - -C "$src"

"$python" -m venv "$venv"
# As the Dockerfile: a wheel first (no dependencies), then the wheel with its pinned ones.
"$venv/bin/pip" wheel -q --disable-pip-version-check --no-deps --wheel-dir "$venv/wheels" "$src"
"$venv/bin/pip" install -q --disable-pip-version-check "$venv"/wheels/*.whl
"$venv/bin/pyscheduler" version
profile="$root/manifests/base/config.yaml"
if "$venv/bin/pyscheduler" config validate --help >/dev/null 2>&1; then
  "$venv/bin/pyscheduler" config validate "$profile"
else
  # Until `pyscheduler config validate` exists (issue 13): the loader it will run.
  "$venv/bin/python" -c 'import sys
from pyscheduler.config import load_config
from pyscheduler.plugins.registry import default_registry
cfg = load_config(sys.argv[1], plugins=default_registry())
print(f"{sys.argv[1]}: valid, profiles {[p.scheduler_name for p in cfg.profiles]}")' "$profile"
fi

cd "$venv"  # away from the source tree, so imports come from the installed wheel
"$venv/bin/python" - <<'EOF'
import importlib
import importlib.metadata as md
import pkgutil

import pyscheduler

names = [m.name for m in pkgutil.walk_packages(pyscheduler.__path__, "pyscheduler.")]
for name in names:
    if name.endswith("__main__"):
        continue
    importlib.import_module(name)
print(f"imported {len(names)} modules from {pyscheduler.__path__[0]}")

installed = {d.metadata["Name"].lower() for d in md.distributions()}
test_only = {"pytest", "pytest-asyncio", "hypothesis", "mypy", "ruff"}
leaked = sorted(installed & test_only)
assert not leaked, f"test-only packages installed by the product: {leaked}"
assert not any(n.startswith("pyscheduler.envtest") for n in names), "envtest is in the wheel"
print("no test-only package and no test control plane in the product")
EOF
