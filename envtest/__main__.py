"""`python -m envtest`: the test control plane for a person, until Ctrl-C.

Starts etcd, kube-apiserver and kwok (see :mod:`envtest.control_plane`), creates
`--nodes` Ready fake nodes, prints where everything is and how to point tools at it, then
waits. Ctrl-C, SIGTERM or SIGHUP stop everything and remove the work directory (unless
--keep); if a component dies, it says which, with the end of its log, and exits 1.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from .control_plane import ControlPlane, ControlPlaneError, ControlPlaneOptions


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m envtest",
        description="Run etcd + kube-apiserver + kwok locally until Ctrl-C.",
    )
    p.add_argument("--nodes", type=int, default=5, help="fake nodes to create (default 5)")
    p.add_argument("--node-cpu", default="32", help="allocatable cpu per node (default 32)")
    p.add_argument("--node-memory", default="256Gi", help="allocatable memory (default 256Gi)")
    p.add_argument("--node-pods", type=int, default=110, help="allocatable pods (default 110)")
    p.add_argument("--node-prefix", default="kwok-node-", help="node name prefix")
    p.add_argument("--assets", type=Path, help="binaries directory (default: $KUBEBUILDER_ASSETS)")
    p.add_argument("--work-root", type=Path, help="parent of the work directory (default: tmp)")
    p.add_argument("--keep", action="store_true", help="keep the work directory on exit")
    p.add_argument("--no-kwok", action="store_true", help="do not run kwok (implies --nodes 0)")
    p.add_argument("-v", "--verbosity", type=int, default=0, help="kube-apiserver -v level")
    return p.parse_args(argv)


def _stop_on_signal(signum: int, frame: FrameType | None) -> None:
    # SIGTERM/SIGHUP take Ctrl-C's path, so the `with` block below cleans up.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    # Also when started in the background of a script, where SIGINT arrives ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGHUP, _stop_on_signal)
    options = ControlPlaneOptions(
        assets_dir=args.assets,
        work_root=args.work_root,
        keep=args.keep,
        kwok=not args.no_kwok,
        verbosity=args.verbosity,
    )
    try:
        with ControlPlane.start(options) as cp:
            if args.nodes > 0 and not args.no_kwok:
                cp.create_nodes(
                    args.nodes,
                    cpu=args.node_cpu,
                    memory=args.node_memory,
                    pods=args.node_pods,
                    name_prefix=args.node_prefix,
                )
            env_file = cp.work_dir / "env.sh"
            env_file.write_text("".join(f"export {k}={v}\n" for k, v in cp.env().items()))
            print(_banner(cp, args.nodes if not args.no_kwok else 0, env_file), flush=True)
            while True:
                time.sleep(1)
                cp.check_alive()
    except KeyboardInterrupt:
        print("\nstopped; control plane cleaned up", file=sys.stderr)
        return 0
    except ControlPlaneError as e:
        print(f"\nerror: {e}", file=sys.stderr)
        return 1


def _banner(cp: ControlPlane, nodes: int, env_file: Path) -> str:
    pki = cp.work_dir / "pki"
    return f"""
pyscheduler test control plane is up ({nodes} kwok node(s))
  kube-apiserver        {cp.apiserver_url}
  etcd                  {cp.etcd_url}
  admin kubeconfig      {cp.admin_kubeconfig}
  scheduler kubeconfig  {cp.scheduler_kubeconfig}
  work directory        {cp.work_dir}  (component logs in logs/)

Point tools at it:
  source {env_file}          # KUBECONFIG=<admin kubeconfig> and friends
  export KUBECONFIG={cp.admin_kubeconfig}
  pyscheduler run --kubeconfig {cp.scheduler_kubeconfig}
  curl --cacert {pki}/ca.crt --cert {pki}/admin.crt --key {pki}/admin.key \\
       {cp.apiserver_url}/api/v1/nodes

Ctrl-C stops everything and {"keeps" if cp.options.keep else "removes"} the work directory.
"""


if __name__ == "__main__":
    sys.exit(main())
