"""Operator work: the ConfigMap profile reload (kopf in a thread of its own: kopf_thread.py,
configmap.py, reload.py) and controllers that write the status of objects the scheduler reads
(podgroup_status.py). See docs/ARCHITECTURE.md."""
