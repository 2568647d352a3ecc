"""run_coro_as_main: run a coroutine as the program's main.

    python examples/run_coro_as_main.py          # prints the answer, exits 0
    python examples/run_coro_as_main.py --fail   # short error report, exits 1

Tasks still running at the end are cancelled (their finally blocks run), and
the loop is closed, whatever happens.
"""

import asyncio
import sys

import alt_coop


async def background() -> None:
    try:
        await asyncio.sleep(3600)
    finally:
        print("background task cleaned up")


async def main(fail: bool) -> int:
    asyncio.get_running_loop().create_task(background())
    await asyncio.sleep(0.01)
    if fail:
        raise RuntimeError("the service could not start")
    return 42


if __name__ == "__main__":
    loop = asyncio.new_event_loop()
    answer = alt_coop.run_coro_as_main(loop, main("--fail" in sys.argv))
    print(f"answer: {answer}")
