"""Gang scheduling: upstream's GangScheduling (scheduling.k8s.io PodGroup) and
scheduler-plugins' Coscheduling (scheduling.x-k8s.io PodGroup), one engine (plugin.py)."""
