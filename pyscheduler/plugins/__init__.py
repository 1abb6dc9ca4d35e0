"""In-tree plugins, one module (or small package) each; ``registry`` lists them
(``new_in_tree_registry()``). This package's ``__init__`` imports nothing, so that a plugin
importing a sibling helper does not import every other plugin.

Shared helpers live beside them: ``helper`` (score normalization, Go integer math, broken
linear shapes), ``noderesources.resource_allocation`` (resource names and allocatable/requested
math shared by the NodeResources plugins) and ``validation`` (args errors worded as upstream's).
"""
