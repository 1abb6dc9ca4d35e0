"""SharedInformerFactory's registry (starting informers needs a server: see tests/integration)."""

from __future__ import annotations

import msgspec
import pytest
from kubernetes_asyncio.client import ApiClient, Configuration

from pyscheduler.api.listwatch import ListWatch
from pyscheduler.api.resources import NODES, PODS
from pyscheduler.informers.factory import SharedInformerFactory
from pyscheduler.informers.indexer import NAMESPACE_INDEX, NODE_NAME_INDEX, index_by
from pyscheduler.model.meta import ObjectMeta

from ._informer_fakes import Obj


class Other(msgspec.Struct):
    metadata: ObjectMeta


async def test_one_informer_per_collection_and_selectors() -> None:
    async with ApiClient(Configuration(host="https://127.0.0.1:1")) as client:
        factory = SharedInformerFactory(client)
        pods = factory.informer_for(PODS, Obj)
        assert factory.informer_for(PODS, Obj) is pods
        assert factory.informer_for(PODS, Obj, namespace="ns") is not pods
        selected = factory.informer_for(PODS, Obj, field_selector="spec.nodeName=")
        assert selected is not pods
        assert isinstance(selected.reflector.list_watch, ListWatch)
        assert selected.reflector.list_watch.field_selector == "spec.nodeName="
        assert factory.informer_for(NODES, Other) is not pods


async def test_type_conflict_is_an_error_and_indexers_are_merged() -> None:
    async with ApiClient(Configuration(host="https://127.0.0.1:1")) as client:
        factory = SharedInformerFactory(client)
        pods = factory.informer_for(
            PODS, Obj, indexers={NAMESPACE_INDEX: lambda o: [o.metadata.namespace]}
        )
        with pytest.raises(TypeError, match="already watched"):
            factory.informer_for(PODS, Other)
        again = factory.informer_for(
            PODS,
            Obj,
            indexers={
                NAMESPACE_INDEX: lambda o: ["ignored: already registered"],
                NODE_NAME_INDEX: index_by(lambda o: o.node_name),
            },
        )
        assert again is pods
        assert set(pods.indexer.get_indexers()) == {NAMESPACE_INDEX, NODE_NAME_INDEX}
