import asyncio
import os


async def test_answers_in_upper_case(service_address):
    reader, writer = await asyncio.open_connection(*service_address)
    writer.write(b"hello\n")
    await writer.drain()
    assert await reader.readline() == b"HELLO\n"
    writer.close()
    await writer.wait_closed()


async def test_serves_clients_concurrently(service_address):
    async def talk(word: bytes) -> bytes:
        reader, writer = await asyncio.open_connection(*service_address)
        writer.write(word + b"\n")
        await writer.drain()
        answer = await reader.readline()
        writer.close()
        await writer.wait_closed()
        return answer

    answers = await asyncio.gather(*(talk(b"x%d" % i) for i in range(10)))
    assert answers == [b"X%d\n" % i for i in range(10)]


def test_injected_failure():
    # Lets the project's own tests check that a failing self-test stops the service.
    assert not os.environ.get("ECHO_SERVICE_BREAK_SELFTEST")
