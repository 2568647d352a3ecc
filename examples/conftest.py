"""The examples run through alt_coop: listing alt_coop.enable switches the engine on."""

import asyncio

import pytest

pytest_plugins = ["alt_coop.enable"]


@pytest.fixture(scope="session")
async def server():
    """A TCP echo server on 127.0.0.1, started once for the whole session."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.readline():
            writer.write(data)
            await writer.drain()
        writer.close()

    srv = await asyncio.start_server(echo, "127.0.0.1", 0)
    host, port = srv.sockets[0].getsockname()[:2]
    yield host, port
    srv.close()
    await srv.wait_closed()
