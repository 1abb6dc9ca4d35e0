"""The scheduler (upstream pkg/scheduler): assembly (scheduler.py), the scheduling and binding
cycles (schedule_one.py), informer event handlers (eventhandlers.py), profiles to frameworks
(profile.py), the informers the enabled plugins need (watched.py), events and the PodScheduled
condition (reporter.py), and preemption's API client (preemption_client.py)."""
