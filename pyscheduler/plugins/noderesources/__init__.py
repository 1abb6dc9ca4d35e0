"""The NodeResources plugins (upstream pkg/scheduler/framework/plugins/noderesources).

* ``fit``: NodeResourcesFit (Filter, and Score through a scoring strategy);
* ``least_allocated``, ``most_allocated``, ``requested_to_capacity_ratio``: the scoring
  strategies NodeResourcesFit's ``scoringStrategy.type`` names, one module each;
* ``balanced_allocation``: NodeResourcesBalancedAllocation;
* ``resource_allocation``: resource names and the allocatable/requested math they share.

This ``__init__`` imports nothing, so importing one module does not import the others.
"""
