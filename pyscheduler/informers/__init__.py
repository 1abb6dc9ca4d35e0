"""client-go's tools/cache and util/workqueue, in asyncio idiom.

Reflector (list+watch) -> DeltaFIFO -> SharedInformer (Indexer, then handlers); workqueues with
client-go's rate limiters for the work that handlers hand off.
"""

from pyscheduler.informers.delta_fifo import (
    DeletedFinalStateUnknown,
    Delta,
    DeltaFIFO,
    DeltaType,
)
from pyscheduler.informers.factory import SharedInformerFactory
from pyscheduler.informers.indexer import (
    NAMESPACE_INDEX,
    NODE_NAME_INDEX,
    Indexer,
    index_by,
    index_by_namespace,
)
from pyscheduler.informers.ratelimit import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    default_controller_rate_limiter,
)
from pyscheduler.informers.reflector import Reflector
from pyscheduler.informers.shared_informer import (
    HandlerRegistration,
    SharedInformer,
    unwrap,
    wait_for_cache_sync,
)
from pyscheduler.informers.workqueue import (
    DelayingQueue,
    QueueShutDownError,
    RateLimitingQueue,
    WorkQueue,
)

__all__ = [
    "NAMESPACE_INDEX",
    "NODE_NAME_INDEX",
    "BucketRateLimiter",
    "DelayingQueue",
    "DeletedFinalStateUnknown",
    "Delta",
    "DeltaFIFO",
    "DeltaType",
    "HandlerRegistration",
    "Indexer",
    "ItemExponentialFailureRateLimiter",
    "MaxOfRateLimiter",
    "QueueShutDownError",
    "RateLimitingQueue",
    "Reflector",
    "SharedInformer",
    "SharedInformerFactory",
    "WorkQueue",
    "default_controller_rate_limiter",
    "index_by",
    "index_by_namespace",
    "unwrap",
    "wait_for_cache_sync",
]
