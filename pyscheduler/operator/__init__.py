"""Operator work, done by kopf in a thread of its own: watching the ConfigMap that holds the
profile (configmap.py) and, later, custom resources' status. See docs/ARCHITECTURE.md."""
