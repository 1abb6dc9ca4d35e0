"""What manifests/base/rbac.yaml grants the scheduler, and what it must not (that each grant is
used by the code is tests/unit/test_manifests.py's job).

The scheduler identity is the ServiceAccount pyscheduler-system/pyscheduler with a token from
the TokenRequest API, holding exactly what manifests/ grants, so these tests check the
manifests themselves: a missing rule fails a "can" test, an overly broad one a "cannot" test.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from envtest import SCHEDULER_NAMESPACE

from .test_control_plane import pod_body


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def test_identity_is_the_service_account(scheduler_client: Any) -> None:
    review = await client.AuthenticationV1Api(scheduler_client).create_self_subject_review(
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    )
    assert review.status.user_info.username == (
        f"system:serviceaccount:{SCHEDULER_NAMESPACE}:pyscheduler"
    )
    assert "system:masters" not in (review.status.user_info.groups or [])


async def test_scheduler_can_read_what_it_schedules_with(scheduler_client: Any) -> None:
    core = client.CoreV1Api(scheduler_client)
    await core.list_pod_for_all_namespaces(limit=1)
    await core.list_node(limit=1)
    await core.list_namespace(limit=1)
    await core.list_service_for_all_namespaces(limit=1)
    await core.list_replication_controller_for_all_namespaces(limit=1)
    await core.list_persistent_volume(limit=1)
    await core.list_persistent_volume_claim_for_all_namespaces(limit=1)
    apps = client.AppsV1Api(scheduler_client)
    await apps.list_replica_set_for_all_namespaces(limit=1)
    await apps.list_stateful_set_for_all_namespaces(limit=1)
    await client.PolicyV1Api(scheduler_client).list_pod_disruption_budget_for_all_namespaces(
        limit=1
    )
    storage = client.StorageV1Api(scheduler_client)
    await storage.list_storage_class(limit=1)
    await storage.list_csi_node(limit=1)
    await storage.list_csi_driver(limit=1)
    await storage.list_volume_attachment(limit=1)


async def test_scheduler_can_bind_patch_status_and_record_events(
    admin_client: Any,
    scheduler_client: Any,
    namespace: str,
    kwok_nodes: Callable[..., list[str]],
) -> None:
    (node,) = kwok_nodes(1)
    await client.CoreV1Api(admin_client).create_namespaced_pod(namespace, pod_body("p"))
    core = client.CoreV1Api(scheduler_client)

    # pods/status: the PodScheduled condition a scheduler writes on failure.
    patched = await core.patch_namespaced_pod_status(
        "p",
        namespace,
        {
            "status": {
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": "0/1 nodes are available: test.",
                        "lastTransitionTime": now(),
                    }
                ]
            }
        },
    )
    assert any(c.type == "PodScheduled" for c in patched.status.conditions)

    # pods/{name}/binding, as the scheduler binds (the legacy `bindings` is not granted).
    resp = await core.create_namespaced_pod_binding(
        "p",
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": "p"},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        },
        _preload_content=False,
    )
    assert resp.status == 201, await resp.text()
    admin_core = client.CoreV1Api(admin_client)
    assert (await admin_core.read_namespaced_pod("p", namespace)).spec.node_name == node

    involved = {"apiVersion": "v1", "kind": "Pod", "name": "p", "namespace": namespace}
    await client.EventsV1Api(scheduler_client).create_namespaced_event(
        namespace,
        {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": "p.events-k8s-io-event"},
            "regarding": involved,
            "reason": "Scheduled",
            "action": "Binding",
            "note": f"Successfully assigned {namespace}/p to {node}",
            "type": "Normal",
            "eventTime": now(),
            "reportingController": "pyscheduler",
            "reportingInstance": "pyscheduler-test",
        },
    )

    # Preemption deletes victims.
    await core.delete_namespaced_pod("p", namespace, grace_period_seconds=0)


async def test_scheduler_can_hold_its_lease_and_read_its_configmaps(
    admin_client: Any, scheduler_client: Any
) -> None:
    coord = client.CoordinationV1Api(scheduler_client)
    name = "pyscheduler"  # its own lease: the only one it may read or renew
    lease = await coord.create_namespaced_lease(
        SCHEDULER_NAMESPACE,
        {
            "metadata": {"name": name},
            "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15, "renewTime": now()},
        },
    )
    try:
        lease = await coord.read_namespaced_lease(name, SCHEDULER_NAMESPACE)
        lease.spec.holder_identity = "b"
        lease.spec.renew_time = dt.datetime.now(dt.UTC)
        updated = await coord.replace_namespaced_lease(name, SCHEDULER_NAMESPACE, lease)
        assert updated.spec.holder_identity == "b"

        await client.CoreV1Api(admin_client).create_namespaced_config_map(
            SCHEDULER_NAMESPACE, {"metadata": {"name": name}, "data": {"profile": "x"}}
        )
        core = client.CoreV1Api(scheduler_client)
        cm = await core.read_namespaced_config_map(name, SCHEDULER_NAMESPACE)
        assert cm.data == {"profile": "x"}
        await core.list_namespaced_config_map(SCHEDULER_NAMESPACE)
    finally:
        admin_coord = client.CoordinationV1Api(admin_client)
        await admin_coord.delete_namespaced_lease(name, SCHEDULER_NAMESPACE)
        try:
            await client.CoreV1Api(admin_client).delete_namespaced_config_map(
                name, SCHEDULER_NAMESPACE
            )
        except ApiException as e:
            if e.status != 404:
                raise


Forbidden = Callable[[Any, str, str], Awaitable[Any]]
"""(scheduler ApiClient, test namespace, a kwok node's name) -> the refused call."""

FORBIDDEN: dict[str, Forbidden] = {
    "create pods": lambda c, ns, node: client.CoreV1Api(c).create_namespaced_pod(
        ns, pod_body("evil")
    ),
    "patch pod spec/labels": lambda c, ns, node: client.CoreV1Api(c).patch_namespaced_pod(
        "victim", ns, {"metadata": {"labels": {"x": "y"}}}
    ),
    "list secrets cluster-wide": lambda c, ns, node: client.CoreV1Api(
        c
    ).list_secret_for_all_namespaces(),
    "list secrets in its own namespace": lambda c, ns, node: client.CoreV1Api(
        c
    ).list_namespaced_secret(SCHEDULER_NAMESPACE),
    "delete nodes": lambda c, ns, node: client.CoreV1Api(c).delete_node(node),
    "patch nodes": lambda c, ns, node: client.CoreV1Api(c).patch_node(
        node, {"metadata": {"labels": {"x": "y"}}}
    ),
    "patch node status": lambda c, ns, node: client.CoreV1Api(c).patch_node_status(
        node, {"status": {"capacity": {"cpu": "1"}}}
    ),
    "create nodes": lambda c, ns, node: client.CoreV1Api(c).create_node(
        {"metadata": {"name": "evil-node"}}
    ),
    "create clusterroles": lambda c, ns, node: client.RbacAuthorizationV1Api(c).create_cluster_role(
        {"metadata": {"name": "evil"}, "rules": []}
    ),
    "create rolebindings": lambda c, ns, node: client.RbacAuthorizationV1Api(
        c
    ).create_namespaced_role_binding(
        SCHEDULER_NAMESPACE,
        {
            "metadata": {"name": "evil"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": "pyscheduler", "namespace": SCHEDULER_NAMESPACE}
            ],
        },
    ),
    "read configmaps in another namespace": lambda c, ns, node: client.CoreV1Api(
        c
    ).list_namespaced_config_map(ns),
    "read configmaps in kube-system": lambda c, ns, node: client.CoreV1Api(
        c
    ).list_namespaced_config_map("kube-system"),
    "update another lease in its own namespace": lambda c, ns, node: client.CoordinationV1Api(
        c
    ).patch_namespaced_lease("kube-scheduler", SCHEDULER_NAMESPACE,
                             {"spec": {"holderIdentity": "evil"}}),
    "list leases in its own namespace": lambda c, ns, node: client.CoordinationV1Api(
        c
    ).list_namespaced_lease(SCHEDULER_NAMESPACE),
    "read another lease in its own namespace": lambda c, ns, node: client.CoordinationV1Api(
        c
    ).read_namespaced_lease("kube-scheduler", SCHEDULER_NAMESPACE),
    "create leases in another namespace": lambda c, ns, node: client.CoordinationV1Api(
        c
    ).create_namespaced_lease(ns, {"metadata": {"name": "evil"}, "spec": {}}),
    "create serviceaccount tokens": lambda c, ns, node: client.CoreV1Api(
        c
    ).create_namespaced_service_account_token(
        "pyscheduler", SCHEDULER_NAMESPACE, {"spec": {"audiences": []}}
    ),
    "delete namespaces": lambda c, ns, node: client.CoreV1Api(c).delete_namespace(ns),
    # Nothing in pyscheduler reads or writes these (tests/unit/test_manifests.py).
    "list priorityclasses": lambda c, ns, node: client.SchedulingV1Api(c).list_priority_class(),
    "get a pod": lambda c, ns, node: client.CoreV1Api(c).read_namespaced_pod("victim", ns),
    "create core events": lambda c, ns, node: client.CoreV1Api(c).create_namespaced_event(
        ns, {"metadata": {"name": "evil"}, "involvedObject": {"kind": "Pod", "name": "victim",
                                                              "namespace": ns}}),
    "create pod evictions": lambda c, ns, node: client.CoreV1Api(c).create_namespaced_pod_eviction(
        "victim",
        ns,
        {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "victim"}},
    ),
}


NEEDS_VICTIM_POD = {"patch pod spec/labels", "create pod evictions", "get a pod"}


@pytest.mark.parametrize("action", sorted(FORBIDDEN))
async def test_scheduler_is_refused(
    action: str,
    admin_client: Any,
    scheduler_client: Any,
    namespace: str,
    kwok_nodes: Callable[..., list[str]],
) -> None:
    (node,) = kwok_nodes(1, wait_ready=False)
    if action in NEEDS_VICTIM_POD:
        # So that 403 is RBAC's answer, not a 404 in disguise.
        await client.CoreV1Api(admin_client).create_namespaced_pod(namespace, pod_body("victim"))
    with pytest.raises(ApiException) as exc:
        await FORBIDDEN[action](scheduler_client, namespace, node)
    assert exc.value.status == 403, json.loads(exc.value.body or "{}").get("message")
