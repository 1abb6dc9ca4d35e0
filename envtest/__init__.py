"""A real throwaway control plane (etcd, kube-apiserver, kwok), like controller-runtime's envtest.

Use it from a script::

    from envtest import ControlPlane

    with ControlPlane.start() as cp:
        cp.create_nodes(5)
        print(cp.admin_kubeconfig, cp.scheduler_kubeconfig)

or from pytest through the ``control_plane`` fixture of tests/integration/conftest.py, or by
hand through ``hack/local-up.sh`` (``python -m envtest``). See
:mod:`envtest.control_plane` for the contract and docs/TESTING.md for how the
binaries are built and cached.
"""

from ._process import kill_all_live
from ._rest import ApiError, RestClient
from .assets import AssetsError, find_assets
from .audit import DEFAULT_AUDIT_POLICY, AuditRecord, read_audit_log
from .control_plane import (
    KUBERNETES_SERVICE_IP,
    SCHEDULER_NAMESPACE,
    SCHEDULER_SERVICE_ACCOUNT,
    SERVICE_CLUSTER_IP_RANGE,
    ControlPlane,
    ControlPlaneError,
    ControlPlaneOptions,
    SchedulerIdentity,
    start_control_plane,
)
from .nodes import (
    KWOK_NODE_ANNOTATION,
    KWOK_NODE_LABEL,
    KWOK_NODE_LABEL_VALUE,
    KWOK_NODE_SELECTOR,
    fake_node,
    node_is_ready,
)

__all__ = [
    "DEFAULT_AUDIT_POLICY",
    "KUBERNETES_SERVICE_IP",
    "KWOK_NODE_ANNOTATION",
    "KWOK_NODE_LABEL",
    "KWOK_NODE_LABEL_VALUE",
    "KWOK_NODE_SELECTOR",
    "SCHEDULER_NAMESPACE",
    "SCHEDULER_SERVICE_ACCOUNT",
    "SERVICE_CLUSTER_IP_RANGE",
    "ApiError",
    "AssetsError",
    "AuditRecord",
    "ControlPlane",
    "ControlPlaneError",
    "ControlPlaneOptions",
    "RestClient",
    "SchedulerIdentity",
    "fake_node",
    "find_assets",
    "kill_all_live",
    "node_is_ready",
    "read_audit_log",
    "start_control_plane",
]
