"""DefaultBinder: binds through the handle's binding client; failures become Error statuses."""

from __future__ import annotations

from dataclasses import dataclass, field

from builders import FakeHandle, make_pod, new_state, pod_info

from pyscheduler.framework.interfaces import BindingClient
from pyscheduler.framework.status import Code
from pyscheduler.model.pod import Pod
from pyscheduler.plugins.default_binder import DefaultBinder, new


@dataclass
class RecordingClient:
    calls: list[tuple[str, str]] = field(default_factory=list)
    error: Exception | None = None

    async def bind(self, pod: Pod, node_name: str) -> None:
        self.calls.append((pod.metadata.name, node_name))
        if self.error is not None:
            raise self.error


def binder(client: BindingClient | None) -> DefaultBinder:
    return new(None, FakeHandle(binding_client=client))


async def test_bind_calls_the_client() -> None:
    client = RecordingClient()
    st = await binder(client).bind(new_state(), pod_info(make_pod("web-1")), "node-a")
    assert st is None
    assert client.calls == [("web-1", "node-a")]


async def test_bind_error_becomes_error_status() -> None:
    boom = RuntimeError("pods \"web-1\" not found")
    client = RecordingClient(error=boom)
    st = await binder(client).bind(new_state(), pod_info(make_pod("web-1")), "node-a")
    assert st is not None
    assert st.code == Code.ERROR and st.error is boom and st.plugin == "DefaultBinder"
    assert st.message() == 'pods "web-1" not found'


async def test_bind_without_client_is_an_error() -> None:
    st = await binder(None).bind(new_state(), pod_info(make_pod()), "node-a")
    assert st is not None and st.code == Code.ERROR
    assert "no binding client" in st.message()
