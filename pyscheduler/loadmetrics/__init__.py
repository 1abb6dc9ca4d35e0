"""Node load metrics for load-aware scoring (issue 18): samples, sources and the poller.

Layering: this package sits beside ``api`` and below ``framework``. It knows nothing of the
snapshot or of plugins; the framework hands a ``LoadMonitor`` to plugins through the Handle
(``Handle.load_metrics``), and plugins combine its ``LoadView`` with the snapshot.
"""
