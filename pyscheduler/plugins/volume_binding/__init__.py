"""VolumeBinding, as a small package: ``plugin`` (extension points, args, scorer, hints),
``binder`` (claim classification, assume/bind), ``pv_helpers`` (PV/PVC matchers and binding
patches), ``assume_cache`` and ``client``
(the API calls PreBind needs). The public surface is re-exported here."""

from pyscheduler.plugins.volume_binding.binder import (
    ERR_REASON_BIND_CONFLICT,
    ERR_REASON_NODE_CONFLICT,
    ERR_REASON_NOT_ENOUGH_SPACE,
    ERR_REASON_PV_NOT_EXIST,
)
from pyscheduler.plugins.volume_binding.client import VolumeClient
from pyscheduler.plugins.volume_binding.plugin import (
    ERR_REASON_UNBOUND_IMMEDIATE,
    NAME,
    SPEC,
    VolumeBinding,
    VolumeBindingArgs,
    new,
)

__all__ = [
    "ERR_REASON_BIND_CONFLICT",
    "ERR_REASON_NODE_CONFLICT",
    "ERR_REASON_NOT_ENOUGH_SPACE",
    "ERR_REASON_PV_NOT_EXIST",
    "ERR_REASON_UNBOUND_IMMEDIATE",
    "NAME",
    "SPEC",
    "VolumeBinding",
    "VolumeBindingArgs",
    "VolumeClient",
    "new",
]
