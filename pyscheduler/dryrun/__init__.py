"""``pyscheduler dry-run``: where pending pods would go, and why, computed by the very engine
``pyscheduler run`` uses (docs/DRY_RUN.md).

Modules: snapshot.py (reading a ``kubectl get -o yaml`` snapshot), podspec.py (checking
``--pod`` specs), memory.py (in-memory informer source and writers), engine.py (the simulation
loop), explain.py (one pod in detail), result.py (the result model), render.py (table, JSON,
YAML), live.py (read-only listing of a live cluster).
"""
