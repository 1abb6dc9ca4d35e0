"""The scheduling queue: activeQ, backoffQ, unschedulable pool, in-flight pods, nominator."""

from pyscheduler.queue.metrics import QueueMetrics
from pyscheduler.queue.nominator import Nominator
from pyscheduler.queue.scheduling_queue import PriorityQueue

__all__ = ["Nominator", "PriorityQueue", "QueueMetrics"]
