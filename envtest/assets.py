"""Where the etcd, kube-apiserver and kwok binaries come from.

Contract: :func:`find_assets` returns a directory holding executable ``etcd``,
``kube-apiserver`` and ``kwok``: ``$KUBEBUILDER_ASSETS`` if set (the envtest convention), else
whatever ``hack/build-components.sh`` prints (it builds the pinned versions from the Go module
registry once, then answers from its cache in milliseconds). It raises :class:`AssetsError`
with the build's own output if neither works, rather than letting tests skip: a missing
control plane is a broken test setup, not a reason to pass.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REQUIRED_BINARIES = ("etcd", "kube-apiserver", "kwok")
# envtest/assets.py -> the repository root (only in a source checkout).
REPO_ROOT = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = REPO_ROOT / "hack" / "build-components.sh"


class AssetsError(RuntimeError):
    """The control plane's binaries are missing and could not be built."""


def _check(directory: Path) -> Path:
    missing = [b for b in REQUIRED_BINARIES if not os.access(directory / b, os.X_OK)]
    if missing:
        raise AssetsError(f"{directory} lacks executable {', '.join(missing)}")
    return directory


def find_assets(*, build: bool = True) -> Path:
    """The directory of the control plane's binaries (see module doc)."""
    env = os.environ.get("KUBEBUILDER_ASSETS")
    if env:
        return _check(Path(env))
    if not build:
        raise AssetsError("KUBEBUILDER_ASSETS is not set")
    if not BUILD_SCRIPT.is_file():
        raise AssetsError(
            f"KUBEBUILDER_ASSETS is not set and {BUILD_SCRIPT} does not exist "
            "(not a source checkout); point KUBEBUILDER_ASSETS at etcd, kube-apiserver and kwok"
        )
    # stderr is inherited: a cold build takes minutes and its progress should be visible.
    proc = subprocess.run([str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise AssetsError(f"{BUILD_SCRIPT} failed with exit code {proc.returncode}")
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise AssetsError(f"{BUILD_SCRIPT} printed no directory")
    return _check(Path(lines[-1]))
