#!/usr/bin/env python3
"""Benchmark: decode a LIST of pods/nodes and cache it in an Indexer, msgspec vs kubernetes-asyncio.

Not a test. Usage (from the repository root)::

    .venv/bin/python hack/bench_decode.py                # 100,000 pods, 5,000 nodes
    .venv/bin/python hack/bench_decode.py --pods 20000   # quicker

What it does:

1. Generates a PodList and a NodeList in the JSON shape kube-apiserver serves for KWOK-run
   objects (managedFields, ownerReferences, tolerations, containers with resources, status
   conditions, containerStatuses, ...), writes them to a temporary directory.
2. Runs each path in its own subprocess, so peak RSS (``ru_maxrss``) belongs to that path alone:
   * ``msgspec``: read the body, decode it with ListWatch's ``ListDecoder`` (msgspec
     ``ObjectList[Pod]``, ``pyscheduler.model.pod.Pod`` when importable, else a stand-in, GC
     paused while decoding), index it in ``pyscheduler.informers.Indexer`` with the
     ``namespace`` and ``nodeName`` indexes;
   * ``models``: the generated client's path: ``ApiClient().deserialize(resp, "V1PodList")``
     (json.loads + model construction), then the same Indexer. Models are slow, so this runs on
     a ``--model-sample`` subset (default 5,000) and the total is *extrapolated* linearly;
   * ``msgspec`` on the same subset, for a like-for-like ratio.
3. Reports time, peak RSS, and the memory the Indexer adds per cached pod beyond the decoded
   objects themselves (tracemalloc over the indexing step, plus the RSS delta).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# --------------------------------------------------------------------------- JSON generation

_TS = "2026-11-20T10:{:02d}:{:02d}Z"


def _ts(i: int) -> str:
    return _TS.format((i // 60) % 60, i % 60)


def _managed_fields_pod(i: int) -> list[dict[str, Any]]:
    return [
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "apiVersion": "v1",
            "time": _ts(i),
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {
                    "f:generateName": {},
                    "f:labels": {".": {}, "f:app": {}, "f:pod-template-hash": {}},
                    "f:ownerReferences": {".": {}, 'k:{"uid":"rs"}': {}},
                },
                "f:spec": {
                    "f:containers": {
                        'k:{"name":"app"}': {
                            ".": {},
                            "f:image": {},
                            "f:imagePullPolicy": {},
                            "f:name": {},
                            "f:ports": {".": {}, 'k:{"containerPort":8080,"protocol":"TCP"}': {}},
                            "f:resources": {".": {}, "f:limits": {}, "f:requests": {}},
                            "f:terminationMessagePath": {},
                            "f:terminationMessagePolicy": {},
                        }
                    },
                    "f:dnsPolicy": {},
                    "f:enableServiceLinks": {},
                    "f:restartPolicy": {},
                    "f:schedulerName": {},
                    "f:securityContext": {},
                    "f:terminationGracePeriodSeconds": {},
                    "f:tolerations": {},
                },
            },
        },
        {
            "manager": "kwok",
            "operation": "Update",
            "apiVersion": "v1",
            "time": _ts(i + 5),
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:status": {
                    "f:conditions": {
                        'k:{"type":"ContainersReady"}': {".": {}, "f:status": {}, "f:type": {}},
                        'k:{"type":"Initialized"}': {".": {}, "f:status": {}, "f:type": {}},
                        'k:{"type":"Ready"}': {".": {}, "f:status": {}, "f:type": {}},
                    },
                    "f:containerStatuses": {},
                    "f:hostIP": {},
                    "f:phase": {},
                    "f:podIP": {},
                    "f:podIPs": {".": {}, 'k:{"ip":"10.0.0.1"}': {".": {}, "f:ip": {}}},
                    "f:startTime": {},
                }
            },
            "subresource": "status",
        },
    ]


def make_pod(i: int, nodes: int, rng: random.Random) -> dict[str, Any]:
    app = f"app-{i % 500}"
    rs_hash = f"{(i % 500) * 7919 % 100000:05d}"
    # Unique per pod (a bijection of i mod 2**20), random-looking like a ReplicaSet's suffix.
    name = f"{app}-{rs_hash}-{(i * 2654435761) % 16**5:05x}"
    node = f"kwok-node-{i % nodes}"
    cpu, mem = rng.choice([("100m", "128Mi"), ("250m", "256Mi"), ("500m", "512Mi"), ("1", "1Gi")])
    containers = [
        {
            "name": "app",
            "image": f"registry.example.com/team/{app}:v1.{i % 17}.0",
            "ports": [{"containerPort": 8080, "protocol": "TCP", "name": "http"}],
            "env": [{"name": "APP_NAME", "value": app}, {"name": "LOG_LEVEL", "value": "info"}],
            "resources": {"requests": {"cpu": cpu, "memory": mem}, "limits": {"memory": mem}},
            "volumeMounts": [
                {
                    "name": "kube-api-access-x7k2p",
                    "readOnly": True,
                    "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                }
            ],
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
            "imagePullPolicy": "IfNotPresent",
        }
    ]
    if i % 5 == 0:
        containers.append(
            {
                "name": "sidecar",
                "image": "registry.example.com/infra/proxy:2.4.1",
                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent",
            }
        )
    conditions = [
        {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": _ts(i + k)}
        for k, t in enumerate(
            ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
        )
    ]
    return {
        "metadata": {
            "name": name,
            "generateName": f"{app}-{rs_hash}-",
            "namespace": f"ns-{i % 50}",
            "uid": str(uuid.UUID(int=rng.getrandbits(128))),
            "resourceVersion": str(1000 + i),
            "creationTimestamp": _ts(i),
            "labels": {"app": app, "pod-template-hash": rs_hash, "tier": "backend"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"{app}-{rs_hash}",
                    "uid": str(uuid.UUID(int=(i % 500) + 1)),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            "managedFields": _managed_fields_pod(i),
        },
        "spec": {
            "volumes": [
                {
                    "name": "kube-api-access-x7k2p",
                    "projected": {
                        "sources": [
                            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                            {
                                "configMap": {
                                    "name": "kube-root-ca.crt",
                                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                                }
                            },
                            {
                                "downwardAPI": {
                                    "items": [
                                        {
                                            "path": "namespace",
                                            "fieldRef": {
                                                "apiVersion": "v1",
                                                "fieldPath": "metadata.namespace",
                                            },
                                        }
                                    ]
                                }
                            },
                        ],
                        "defaultMode": 420,
                    },
                }
            ],
            "containers": containers,
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "nodeSelector": {"type": "kwok"},
            "serviceAccountName": "default",
            "serviceAccount": "default",
            "nodeName": node,
            "securityContext": {},
            "schedulerName": "default-scheduler",
            "tolerations": [
                {"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"},
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
                {
                    "key": "node.kubernetes.io/unreachable",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
            ],
            "priority": 0,
            "enableServiceLinks": True,
            "preemptionPolicy": "PreemptLowerPriority",
        },
        "status": {
            "phase": "Running",
            "conditions": conditions,
            "hostIP": f"10.1.{(i % nodes) // 250}.{(i % nodes) % 250}",
            "hostIPs": [{"ip": f"10.1.{(i % nodes) // 250}.{(i % nodes) % 250}"}],
            "podIP": f"10.244.{(i // 250) % 250}.{i % 250}",
            "podIPs": [{"ip": f"10.244.{(i // 250) % 250}.{i % 250}"}],
            "startTime": _ts(i + 1),
            "containerStatuses": [
                {
                    "name": c["name"],
                    "state": {"running": {"startedAt": _ts(i + 2)}},
                    "lastState": {},
                    "ready": True,
                    "restartCount": 0,
                    "image": c["image"],
                    "imageID": "",
                    "started": True,
                }
                for c in containers
            ],
            "qosClass": "Burstable",
        },
    }


def make_node(i: int) -> dict[str, Any]:
    name = f"kwok-node-{i}"
    zone = f"zone-{i % 3}"
    conditions = [
        {
            "type": t,
            "status": s,
            "lastHeartbeatTime": _ts(i),
            "lastTransitionTime": _ts(i),
            "reason": r,
            "message": m,
        }
        for t, s, r, m in [
            ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ("MemoryPressure", "False", "KubeletHasSufficientMemory",
             "kubelet has sufficient memory available"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure",
             "kubelet has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID",
             "kubelet has sufficient PID available"),
            ("NetworkUnavailable", "False", "RouteCreated", "RouteController created a route"),
        ]
    ]
    resources = {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "1Ti"}
    return {
        "metadata": {
            "name": name,
            "uid": str(uuid.UUID(int=10**9 + i)),
            "resourceVersion": str(500 + i),
            "creationTimestamp": _ts(i),
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/role": "agent",
                "node-role.kubernetes.io/agent": "",
                "topology.kubernetes.io/zone": zone,
                "type": "kwok",
            },
            "annotations": {
                "kwok.x-k8s.io/node": "fake",
                "node.alpha.kubernetes.io/ttl": "0",
            },
            "managedFields": [
                {
                    "manager": "envtest",
                    "operation": "Apply",
                    "apiVersion": "v1",
                    "time": _ts(i),
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        "f:metadata": {"f:annotations": {"f:kwok.x-k8s.io/node": {}},
                                       "f:labels": {"f:type": {}}},
                        "f:status": {"f:allocatable": {}, "f:capacity": {}},
                    },
                },
                {
                    "manager": "kwok",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": _ts(i),
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:status": {"f:conditions": {}, "f:addresses": {},
                                              "f:daemonEndpoints": {}, "f:nodeInfo": {}}},
                    "subresource": "status",
                },
            ],
        },
        "spec": {
            "podCIDR": f"10.244.{i % 250}.0/24",
            "podCIDRs": [f"10.244.{i % 250}.0/24"],
            "taints": [{"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}],
        },
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": f"10.1.{i // 250}.{i % 250}"},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
                "kernelVersion": "",
                "osImage": "",
                "containerRuntimeVersion": "",
                "kubeletVersion": "fake",
                "kubeProxyVersion": "fake",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }


class ListWriter:
    """Streams a List document to a file item by item (the driver never holds them all)."""

    def __init__(self, path: Path, kind: str) -> None:
        self.file = path.open("w")
        self.file.write(
            f'{{"kind":"{kind}","apiVersion":"v1","metadata":{{"resourceVersion":"123456"}},'
            '"items":['
        )
        self.first = True

    def add(self, item: dict[str, Any]) -> None:
        if not self.first:
            self.file.write(",")
        self.first = False
        self.file.write(json.dumps(item, separators=(",", ":")))

    def close(self) -> None:
        self.file.write("]}")
        self.file.close()


# --------------------------------------------------------------------------- workers


def _rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def _types(kind: str) -> tuple[type[Any], str]:
    """The real model type when importable, else a stand-in (reported in the output)."""
    try:
        if kind == "pods":
            from pyscheduler.model.pod import Pod as Real
        else:
            from pyscheduler.model.node import Node as Real
        return Real, f"pyscheduler.model.{kind[:-1]}.{Real.__name__}"
    except ImportError:
        import msgspec

        from pyscheduler.model.meta import ObjectMeta

        class Spec(msgspec.Struct, rename="camel"):
            node_name: str = ""

        class Standin(msgspec.Struct):
            metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
            spec: Spec = msgspec.field(default_factory=Spec)

        return Standin, "stand-in Struct (model not importable)"


def _indexer() -> Any:
    from pyscheduler.informers.indexer import (
        NAMESPACE_INDEX,
        NODE_NAME_INDEX,
        Indexer,
        index_by,
        index_by_namespace,
    )

    return Indexer(
        {
            NAMESPACE_INDEX: index_by_namespace,
            NODE_NAME_INDEX: index_by(lambda obj: getattr(obj.spec, "node_name", "")),
        }
    )


def _fill(indexer: Any, items: list[Any]) -> None:
    # What the informer does for an initial list: one add per object.
    for obj in items:
        indexer.add(obj)


_DECODERS: dict[tuple[str, str], Any] = {}


def _type_name(path_kind: str, kind: str) -> str:
    if path_kind == "msgspec":
        return _types(kind)[1]
    if path_kind == "models":
        return "kubernetes_asyncio V1PodList" if kind == "pods" else "kubernetes_asyncio V1NodeList"
    return "json.loads dicts"


def _decode(path_kind: str, kind: str, body: bytes) -> list[Any]:
    """Decode a list body into its items, the way each path would in an informer."""
    decode = _DECODERS.get((path_kind, kind))
    if decode is None:
        decode = _DECODERS[(path_kind, kind)] = _make_decoder(path_kind, kind)
    items: list[Any] = decode(body)
    return items


def _make_decoder(path_kind: str, kind: str) -> Any:
    if path_kind == "msgspec":
        # ListWatch's own list decoder (msgspec, GC paused while decoding).
        from pyscheduler.api.listwatch import ListDecoder

        decoder = ListDecoder(_types(kind)[0])
        return lambda body: decoder.decode(body)[0]
    if path_kind == "models":
        import asyncio

        from kubernetes_asyncio.client import ApiClient

        class Response:
            def __init__(self, data: bytes) -> None:
                self.data = data

        async def make_client() -> Any:
            # Inside a loop: its aiohttp session insists on one (it is never used here).
            return ApiClient()

        client = asyncio.run(make_client())
        klass = "V1PodList" if kind == "pods" else "V1NodeList"
        return lambda body: client.deserialize(Response(body), klass).items or []
    return lambda body: json.loads(body)["items"] or []


def worker(path_kind: str, file: Path, kind: str) -> dict[str, Any]:
    type_name = _type_name(path_kind, kind)
    _decode(path_kind, kind, b'{"items":[]}')  # warm up: imports, decoder and client creation
    gc.collect()
    base_rss = _rss_kib()

    # The measured path, as an informer's initial list: body in memory, decode, index.
    body = file.read_bytes()
    t0 = time.perf_counter()
    items = _decode(path_kind, kind, body)
    t_decode = time.perf_counter() - t0
    del body
    gc.collect()
    decoded_rss = _rss_kib()
    indexer = None
    t_index = 0.0
    if path_kind != "json":
        indexer = _indexer()
        t1 = time.perf_counter()
        _fill(indexer, items)
        t_index = time.perf_counter() - t1
        assert len(indexer) == len(items), "duplicate keys in the generated list"
    indexed_rss = _rss_kib()
    peak = _maxrss()  # before the accounting passes below, which hold extra copies

    # Exact accounting with tracemalloc (slower, so not timed): the bytes a second decode keeps
    # alive (its body excluded), and the bytes a second Indexer adds over the same objects.
    body = file.read_bytes()
    tracemalloc.start()
    again = _decode(path_kind, kind, body)
    decoded_bytes, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del again, body
    gc.collect()
    index_bytes = 0
    if indexer is not None:
        tracemalloc.start()
        second = _indexer()
        _fill(second, items)
        index_bytes, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del second
    n = max(1, len(items))
    return {
        "path": path_kind,
        "type": type_name,
        "kind": kind,
        "count": len(items),
        "decode_s": t_decode,
        "index_s": t_index,
        "maxrss_kib": peak,
        "base_rss_kib": base_rss,
        "decoded_rss_kib": decoded_rss - base_rss,
        "index_rss_delta_kib": indexed_rss - decoded_rss,
        "decoded_bytes_per_obj": decoded_bytes / n,
        "index_bytes_per_obj": index_bytes / n,
    }


def _maxrss() -> int:
    """Peak RSS of this process, KiB.

    VmHWM, not getrusage's ru_maxrss: on Linux ru_maxrss survives exec, so a worker forked from
    the (big) driver would report the driver's peak.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# --------------------------------------------------------------------------- driver


def run_worker(path_kind: str, file: Path, kind: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", path_kind, "--file", str(file), "--kind", kind],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        sys.exit(f"worker {path_kind} {kind} failed:\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def fmt(r: dict[str, Any], scale: float = 1.0) -> str:
    total = (r["decode_s"] + r["index_s"]) * scale
    extra = f"\n{'':8} decoded objects {r['decoded_bytes_per_obj']:.0f} B/obj (tracemalloc)"
    if r["path"] != "json":
        extra += (
            f"; Indexer adds {r['index_bytes_per_obj']:.0f} B/obj (tracemalloc),"
            f" {r['index_rss_delta_kib'] * 1024 / r['count']:.0f} B/obj (RSS delta)"
        )
    note = f" (x{scale:g} extrapolated)" if scale != 1.0 else ""
    # Extrapolated peak: the per-object part scales, the interpreter's baseline does not.
    peak = r["base_rss_kib"] + (r["maxrss_kib"] - r["base_rss_kib"]) * scale
    return (
        f"{r['path']:8} {r['kind']:5} n={r['count']:>7,}  decode {r['decode_s'] * scale:8.3f}s"
        f"  index {r['index_s'] * scale:7.3f}s  total {total:8.3f}s{note}\n"
        f"{'':8} peak RSS {peak / 1024:8.1f} MiB{' (extrapolated)' if scale != 1.0 else ''}"
        f"  RSS of decoded objects {r['decoded_rss_kib'] * scale / 1024:8.1f} MiB"
        f" ({r['decoded_rss_kib'] * 1024 / max(1, r['count']):.0f} B/obj){extra}\n"
        f"{'':8} type: {r['type']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--pods", type=int, default=100_000)
    parser.add_argument("--nodes", type=int, default=5_000)
    parser.add_argument("--model-sample", type=int, default=5_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--worker", choices=["msgspec", "models", "json"], help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--kind", choices=["pods", "nodes"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(worker(args.worker, args.file, args.kind)))
        return

    with tempfile.TemporaryDirectory(prefix="bench-decode-", dir=args.workdir) as tmp:
        work = Path(tmp)
        rng = random.Random(42)
        t0 = time.perf_counter()
        files = {
            "pods": work / "pods.json",
            "pods_sample": work / "pods_sample.json",
            "nodes": work / "nodes.json",
        }
        full = ListWriter(files["pods"], "PodList")
        sample = ListWriter(files["pods_sample"], "PodList")
        for i in range(args.pods):
            pod = make_pod(i, args.nodes, rng)
            full.add(pod)
            if i < args.model_sample:
                sample.add(pod)
        full.close()
        sample.close()
        node_writer = ListWriter(files["nodes"], "NodeList")
        for i in range(args.nodes):
            node_writer.add(make_node(i))
        node_writer.close()
        sizes = {k: f.stat().st_size for k, f in files.items()}
        print(
            f"generated in {time.perf_counter() - t0:.1f}s: {args.pods:,} pods "
            f"({sizes['pods'] / 2**20:.0f} MiB, {sizes['pods'] / args.pods:.0f} B/pod), "
            f"{args.nodes:,} nodes ({sizes['nodes'] / 2**20:.1f} MiB, "
            f"{sizes['nodes'] / max(1, args.nodes):.0f} B/node)\n"
        )

        results = {
            "msgspec_pods": run_worker("msgspec", files["pods"], "pods"),
            "msgspec_nodes": run_worker("msgspec", files["nodes"], "nodes"),
            "msgspec_sample": run_worker("msgspec", files["pods_sample"], "pods"),
            "models_sample": run_worker("models", files["pods_sample"], "pods"),
            "json_sample": run_worker("json", files["pods_sample"], "pods"),
        }

    scale = args.pods / args.model_sample
    print("== full list, msgspec path ==")
    print(fmt(results["msgspec_pods"]))
    print(fmt(results["msgspec_nodes"]))
    print(f"\n== like for like on {args.model_sample:,} pods ==")
    print(fmt(results["msgspec_sample"]))
    print(fmt(results["models_sample"]))
    print(fmt(results["json_sample"]))
    print(f"\n== models extrapolated to {args.pods:,} pods (linear, x{scale:g}) ==")
    print(fmt(results["models_sample"], scale))

    ms, md = results["msgspec_sample"], results["models_sample"]
    ratio = (md["decode_s"] + md["index_s"]) / (ms["decode_s"] + ms["index_s"])
    per_pod_index = results["msgspec_pods"]["index_bytes_per_obj"]
    print("\n== verdict ==")
    print(f"speed-up msgspec vs models (decode+index, same {args.model_sample:,} pods):"
          f" {ratio:.1f}x  [target >= 10x: {'OK' if ratio >= 10 else 'MISSED'}]")
    print(f"Indexer cost per cached pod beyond the decoded object: {per_pod_index:.0f} B"
          f"  [target < 1024 B: {'OK' if per_pod_index < 1024 else 'MISSED'}]")
    memory_ratio = md["decoded_bytes_per_obj"] / ms["decoded_bytes_per_obj"]
    print(f"models hold {memory_ratio:.1f}x the memory of msgspec objects per pod (tracemalloc)")


if __name__ == "__main__":
    main()
