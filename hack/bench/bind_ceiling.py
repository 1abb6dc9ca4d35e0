"""The bind ceiling: a "scheduler" that does no scheduling at all.

    python -m hack.bench.bind_ceiling --kubeconfig K --qps Q --burst B

Every pending pod of the bench's profile (spec.schedulerName = bench-scheduler, no nodeName)
is bound to the next node in name order, round robin, as soon as the informer delivers it.
It uses what `pyscheduler run` uses between the API and the scheduling cycle: the same
informers (list + watch, DeltaFIFO, handlers) and the same write path (the API dispatcher with
the same client-side QPS/burst limit, one binding task per pod). So its pods/s is the most any
scheduler built on this client can reach against this control plane on this machine; the bench
reports each scheduler's throughput as a fraction of it (docs/BENCHMARKS.md).

The bench starts it like the schedulers (a process, SIGSTOP/SIGCONT in drain mode, CPU from
/proc) and judges it the same way: the warm-up pod must be bound, then every measured pod.

With ``--events`` (the bench's ``bind-event-ceiling``) it also records the Normal
``Scheduled`` event of each bound pod through pyscheduler's own writers (the reporter and its
separate event dispatcher), as kube-scheduler and pyscheduler both do: the API server then
takes every write a scheduler makes for a pod that fits, and nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal

from hack.bench.workloads import SCHEDULER_NAME
from pyscheduler.api.client import new_api_client
from pyscheduler.api.resources import NODES, PODS
from pyscheduler.informers.factory import SharedInformerFactory
from pyscheduler.model.node import Node
from pyscheduler.model.pod import Pod
from pyscheduler.scheduler.writers import api_writers


async def run(kubeconfig: str, qps: float, burst: int, events: bool = False) -> None:
    """Bind (and with ``events`` record each Scheduled event) until SIGTERM/SIGINT."""
    client = await new_api_client(kubeconfig)
    factory = SharedInformerFactory(client)
    nodes = factory.informer_for(NODES, Node)
    pods = factory.informer_for(PODS, Pod, field_selector="spec.nodeName=")
    writers = api_writers(client, qps=qps, burst=burst)
    for d in writers.dispatchers:
        d.start()
    pending: asyncio.Queue[Pod] = asyncio.Queue()

    def on_add(pod: Pod) -> None:
        if pod.spec.scheduler_name == SCHEDULER_NAME and not pod.spec.node_name:
            pending.put_nowait(pod)

    pods.add_event_handler(on_add=on_add)
    factory.start()
    await factory.wait_for_cache_sync()
    names = sorted(n.metadata.name for n in nodes.indexer.list())
    if not names:
        raise SystemExit("bind_ceiling: the cluster has no nodes")
    ring = itertools.cycle(names)
    tasks: set[asyncio.Task[None]] = set()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def bind(pod: Pod, node: str) -> None:
        try:
            await writers.binder.bind(pod, node)
            if events:
                writers.reporter.scheduled(pod, node)
        except Exception as err:  # a pod deleted meanwhile, a conflict: the bench counts
            m = pod.metadata
            print(f"bind {m.namespace}/{m.name}: {type(err).__name__}: {err}", flush=True)

    async def feed() -> None:
        while True:
            pod = await pending.get()
            task = asyncio.create_task(bind(pod, next(ring)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    feeder = asyncio.create_task(feed())
    print(f"bind_ceiling: {len(names)} nodes, qps={qps:g} burst={burst}, events={events}",
          flush=True)
    await stop.wait()
    feeder.cancel()
    await factory.shutdown()
    for d in writers.dispatchers:
        await d.shutdown()
    await client.close()


def main() -> None:
    """Parse the flags and run."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--qps", type=float, required=True)
    ap.add_argument("--burst", type=int, required=True)
    ap.add_argument("--events", action="store_true",
                    help="also record each bound pod's Scheduled event, as a scheduler does")
    args = ap.parse_args()
    asyncio.run(run(args.kubeconfig, args.qps, args.burst, args.events))


if __name__ == "__main__":
    main()
