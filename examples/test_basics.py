"""async tests and fixtures of every scope, no marker needed."""

import asyncio
import contextvars

import pytest

request_id = contextvars.ContextVar("request_id", default=None)


@pytest.fixture
async def client(server):
    host, port = server
    reader, writer = await asyncio.open_connection(host, port)
    yield reader, writer
    writer.close()
    await writer.wait_closed()


@pytest.fixture
async def tagged():
    token = request_id.set("req-42")
    yield
    request_id.reset(token)


async def test_echo(client):
    reader, writer = client
    writer.write(b"hello\n")
    await writer.drain()
    assert await reader.readline() == b"hello\n"


async def test_context_flows_from_fixture(tagged):
    assert request_id.get() == "req-42"


@pytest.mark.parametrize("delay", [0, 0.01, 0.02])
async def test_parametrized(delay):
    await asyncio.sleep(delay)


@pytest.fixture(scope="module")
async def shared():
    await asyncio.sleep(0)
    return object()


class TestInAClass:
    @pytest.fixture
    async def own(self, shared):
        return shared

    async def test_method(self, own, shared):
        assert own is shared


def test_sync_tests_still_work():
    assert asyncio.run(asyncio.sleep(0, result=1)) == 1
