"""A small asyncio TCP service that tests itself on its own loop before serving.

    python examples/echo_service.py                  # self-test, then serve on 127.0.0.1
    python examples/echo_service.py --selftest-only  # self-test and exit

At start-up it runs ``service_tests/`` with ``await alt_coop.main(...)`` on the
loop it is about to serve on. The tests talk to the live server the service
started (see ``service_tests/conftest.py``), while the service keeps
answering. If a test fails, the service refuses to start.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import alt_coop

HERE = Path(__file__).parent

#: The live server, for the self-tests to use; set while the service runs.
SERVER: asyncio.Server | None = None


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while line := await reader.readline():
        writer.write(line.upper())
        await writer.drain()
    writer.close()


async def main(argv: list[str]) -> int:
    global SERVER
    SERVER = await asyncio.start_server(handle, "127.0.0.1", 0)
    host, port = SERVER.sockets[0].getsockname()[:2]
    args = ["-q", "-p", "no:cacheprovider", str(HERE / "service_tests")]
    exit_code = await alt_coop.main(args)
    if exit_code != 0:
        print(f"self-test failed (pytest exit code {int(exit_code)}): refusing to start")
        SERVER.close()
        await SERVER.wait_closed()
        return 1
    if "--selftest-only" in argv:
        print(f"self-test passed on {host}:{port}; not serving (--selftest-only)")
    else:
        print(f"self-test passed; serving on {host}:{port}")
        await SERVER.serve_forever()
    SERVER.close()
    await SERVER.wait_closed()
    return 0


if __name__ == "__main__":
    sys.exit(alt_coop.run_coro_as_main(asyncio.new_event_loop(), main(sys.argv[1:])))
