"""Benchmark harness (``make bench``): pyscheduler against kube-scheduler end to end on a real
control plane, and pyscheduler's own scheduling loop in process. See docs/BENCHMARKS.md.

Modules: ``workloads`` (scheduler_perf-like workloads), ``schedulers`` (starting both
schedulers alike), ``watcher`` (bind times from a watch), ``e2e`` and ``inproc`` (the two
modes), ``results`` (records and arithmetic), ``report`` (table, JSON, PNG), ``procstat``.
"""
