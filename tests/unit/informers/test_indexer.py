from __future__ import annotations

import pytest

from pyscheduler.informers.delta_fifo import DeletedFinalStateUnknown
from pyscheduler.informers.indexer import (
    NAMESPACE_INDEX,
    NODE_NAME_INDEX,
    Indexer,
    index_by,
    index_by_namespace,
)

from ._informer_fakes import Obj, make


def new_indexer() -> Indexer[Obj]:
    return Indexer(
        {
            NAMESPACE_INDEX: index_by_namespace,
            NODE_NAME_INDEX: index_by(lambda o: o.node_name),
        }
    )


def names(objs: list[Obj]) -> set[str]:
    return {o.metadata.name for o in objs}


def test_add_get_list_and_keys() -> None:
    idx = new_indexer()
    a, b = make("a", "ns1"), make("b", "")
    idx.add(a)
    idx.add(b)
    assert idx.get_by_key("ns1/a") is a
    assert idx.get_by_key("b") is b  # cluster-scoped key has no namespace
    assert idx.get(a) is a
    assert sorted(idx.list_keys()) == ["b", "ns1/a"]
    assert names(idx.list()) == {"a", "b"}
    assert len(idx) == 2 and "ns1/a" in idx
    assert idx.get_by_key("missing") is None


def test_indexes_follow_updates_and_deletes() -> None:
    idx = new_indexer()
    idx.add(make("p1", "ns1", node_name="n1"))
    idx.add(make("p2", "ns1", node_name="n1"))
    idx.add(make("p3", "ns2"))  # unscheduled: not in the nodeName index at all
    assert names(idx.by_index(NODE_NAME_INDEX, "n1")) == {"p1", "p2"}
    assert names(idx.by_index(NAMESPACE_INDEX, "ns1")) == {"p1", "p2"}
    assert idx.list_index_func_values(NODE_NAME_INDEX) == ["n1"]

    idx.update(make("p2", "ns1", node_name="n2"))
    assert names(idx.by_index(NODE_NAME_INDEX, "n1")) == {"p1"}
    assert idx.index_keys(NODE_NAME_INDEX, "n2") == ["ns1/p2"]

    idx.delete(make("p1", "ns1"))
    # The empty value is dropped, not kept as an empty set.
    assert sorted(idx.list_index_func_values(NODE_NAME_INDEX)) == ["n2"]
    assert idx.by_index(NODE_NAME_INDEX, "n1") == []

    idx.delete(DeletedFinalStateUnknown("ns1/p2", None))
    assert idx.list_index_func_values(NODE_NAME_INDEX) == []
    assert names(idx.by_index(NAMESPACE_INDEX, "ns2")) == {"p3"}


def test_index_returns_objects_sharing_a_value() -> None:
    idx = new_indexer()
    idx.add(make("p1", "ns1", node_name="n1"))
    idx.add(make("p2", "ns2", node_name="n1"))
    assert names(idx.index(NODE_NAME_INDEX, make("x", node_name="n1"))) == {"p1", "p2"}


def test_replace_rebuilds_everything() -> None:
    idx = new_indexer()
    idx.add(make("old", "ns1", node_name="n1"))
    idx.replace([make("new", "ns2", node_name="n2")])
    assert idx.list_keys() == ["ns2/new"]
    assert idx.by_index(NODE_NAME_INDEX, "n1") == []
    assert names(idx.by_index(NAMESPACE_INDEX, "ns2")) == {"new"}


def test_add_indexers_later_indexes_existing_objects_and_rejects_conflicts() -> None:
    idx: Indexer[Obj] = Indexer()
    idx.add(make("p1", node_name="n1"))
    idx.add_indexers({NODE_NAME_INDEX: index_by(lambda o: o.node_name)})
    assert names(idx.by_index(NODE_NAME_INDEX, "n1")) == {"p1"}
    with pytest.raises(ValueError, match="conflict"):
        idx.add_indexers({NODE_NAME_INDEX: index_by(lambda o: o.node_name)})


def test_unknown_index_raises_key_error() -> None:
    with pytest.raises(KeyError, match="nope"):
        new_indexer().by_index("nope", "x")


def test_multi_valued_index() -> None:
    idx: Indexer[Obj] = Indexer({"labels": lambda o: sorted(o.metadata.labels.values())})
    from pyscheduler.model.meta import ObjectMeta

    obj = Obj(ObjectMeta(name="m", namespace="ns", labels={"a": "x", "b": "y"}))
    idx.add(obj)
    assert idx.by_index("labels", "x") == [obj] == idx.by_index("labels", "y")
    idx.delete(obj)
    assert idx.list_index_func_values("labels") == []


def test_failing_index_function_leaves_store_unchanged() -> None:
    def picky(o: Obj) -> list[str]:
        if o.value < 0:
            raise RuntimeError("bad object")
        return [str(o.value)]

    idx: Indexer[Obj] = Indexer({"value": picky})
    good = make("a", value=1)
    idx.add(good)
    with pytest.raises(RuntimeError):
        idx.update(make("a", value=-1))
    assert idx.get_by_key("ns/a") is good
    assert idx.by_index("value", "1") == [good]
