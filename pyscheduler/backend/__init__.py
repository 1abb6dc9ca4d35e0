"""State the scheduling cycle reads and the writes it makes (upstream pkg/scheduler/backend):
the cache (cache/), the scheduling queue (queue/) and the API dispatcher."""
