"""CapacityScheduling (scheduler-plugins): elastic quotas over the ElasticQuota CRD.

Modules: quota.py (quota arithmetic), state.py (cycle state), explain.py (messages),
reclaim.py (the quota-aware preemption policy and cross-node reclaim), plugin.py (the plugin).
"""
