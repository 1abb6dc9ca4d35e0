"""The scheduling queue: activeQ, backoffQ, unschedulable pool, in-flight pods, nominator."""

from pyscheduler.backend.queue.metrics import QueueMetrics
from pyscheduler.backend.queue.nominator import Nominator
from pyscheduler.backend.queue.scheduling_queue import PriorityQueue

__all__ = ["Nominator", "PriorityQueue", "QueueMetrics"]
