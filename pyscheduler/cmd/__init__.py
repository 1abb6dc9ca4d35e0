"""The command (upstream cmd/kube-scheduler/app): argument parsing and ``run``, the health and
metrics server, leader election and logging setup. ``pyscheduler.cmd.cli.main`` is the entry
point."""
