"""Operator work: controllers that write the status of objects the scheduler reads (the
scheduler-plugins PodGroup status here; the ConfigMap profile reload, through kopf). See
docs/ARCHITECTURE.md."""
