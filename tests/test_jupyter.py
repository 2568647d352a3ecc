"""alt_coop in a real Jupyter kernel, where cells run on the kernel's own loop.

A notebook is built with nbformat and executed by nbclient in an ipykernel
started with the current interpreter. One cell runs ``await alt_coop.main``,
another the synchronous ``pytest.main`` with ``Plugin(managed_loop=...)``,
which alt_coop runs nested on the kernel's running loop.
"""

from __future__ import annotations

import json
import sys
import textwrap
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
Config = pytest.importorskip("traitlets.config").Config

#: A kernel name of our own, so no kernelspec installed on the machine is used.
KERNEL_NAME = "alt-coop-test-python"

ARGS = [
    *("-p", "no:asyncio", "-p", "no:anyio", "-p", "no:cacheprovider"),
    *("-p", "no:alt_pytest_asyncio", "-p", "no:asyncio_cooperative"),
    *("-q", "--color=no", "suite"),
]

SUITE = """
import asyncio
import threading

import pytest

import __main__ as notebook  # the kernel's user namespace


@pytest.fixture(scope="module")
async def module_loop():
    await asyncio.sleep(0)
    yield asyncio.get_running_loop()
    await asyncio.sleep(0)
    notebook.SEEN.append("module fixture torn down")


@pytest.fixture
async def ticks_while_awaiting():
    # The bound catches a loop the fixture blocks; it is no rate to meet.
    target = notebook.TICKS + 5
    async with notebook.TICKED:
        await asyncio.wait_for(notebook.TICKED.wait_for(lambda: notebook.TICKS >= target), 30)
    return notebook.TICKS - target + 5


async def test_runs_on_the_kernel_loop(module_loop):
    assert asyncio.get_running_loop() is notebook.KERNEL_LOOP
    assert module_loop is notebook.KERNEL_LOOP


async def test_kernel_tasks_keep_running(ticks_while_awaiting):
    assert ticks_while_awaiting >= 5


def test_sync_test_on_the_kernel_thread():
    assert threading.get_ident() == notebook.KERNEL_THREAD
"""

SETUP_CELL = """
import asyncio
import threading

import pytest

import alt_coop

KERNEL_LOOP = asyncio.get_running_loop()
KERNEL_THREAD = threading.get_ident()
SEEN = []
TICKS = 0
TICKED = asyncio.Condition()


async def ticker():
    global TICKS
    while True:
        TICKS += 1
        async with TICKED:
            TICKED.notify_all()
        await asyncio.sleep(0.01)


TICKER = asyncio.create_task(ticker(), name="notebook-ticker")
"""

MAIN_CELL = f"""
code = await alt_coop.main({ARGS!r})
print("MAIN EXIT CODE", int(code))
print("SEEN", SEEN)
"""

SYNC_CELL = f"""
SEEN.clear()
plugin = alt_coop.Plugin(managed_loop=asyncio.get_running_loop())
code = pytest.main({ARGS!r}, plugins=[plugin])
print("SYNC EXIT CODE", int(code))
print("SEEN", SEEN)
"""

AFTER_CELL = """
ticks = TICKS
await asyncio.sleep(0.1)
print("TICKER STILL RUNNING", not TICKER.done() and TICKS > ticks)
print("KERNEL LOOP CLOSED", KERNEL_LOOP.is_closed())
stopped = TICKER.cancel()
"""


def text_of(cell: Any) -> str:
    return "".join(
        output.get("text", "")
        if output.get("output_type") == "stream"
        else json.dumps(output.get("data", output), default=str)
        for output in cell.outputs
    )


def test_pytest_in_notebook_cells(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite = pytester.path / "suite"
    suite.mkdir()
    (suite / "test_in_notebook.py").write_text(textwrap.dedent(SUITE), encoding="utf-8")
    # A kernelspec for this interpreter, found through JUPYTER_PATH: nothing
    # needs installing on the machine, and no other "python3" is picked up.
    kernel_dir = pytester.path / "jupyter" / "kernels" / KERNEL_NAME
    kernel_dir.mkdir(parents=True)
    (kernel_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "alt_coop test kernel",
                "language": "python",
            }
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("JUPYTER_PATH", str(pytester.path / "jupyter"))
    monkeypatch.setenv("IPYTHONDIR", str(pytester.path / "ipython"))

    cells = [SETUP_CELL, MAIN_CELL, SYNC_CELL, AFTER_CELL]
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(textwrap.dedent(source)) for source in cells]
    )
    # Over IPC, not TCP: ports the client picks for the kernel can be taken by
    # another process (the suite's other workers) before the kernel binds them.
    config = Config()
    config.KernelManager.transport = "ipc"
    client = nbclient.NotebookClient(
        notebook,
        kernel_name=KERNEL_NAME,
        timeout=60,
        resources={"metadata": {"path": str(pytester.path)}},
        config=config,
    )
    client.execute()
    _, main_cell, sync_cell, after_cell = (text_of(cell) for cell in notebook.cells)

    # "3 passed in", not "3 passed, 1 warning in": no task of the kernel's
    # (the one running the cell, say) may be taken for a test's leftover.
    assert "3 passed in" in main_cell, main_cell
    assert "MAIN EXIT CODE 0" in main_cell, main_cell
    assert "SEEN ['module fixture torn down']" in main_cell, main_cell

    assert "3 passed in" in sync_cell, sync_cell
    assert "AltCoopWarning" not in sync_cell, sync_cell
    assert "SYNC EXIT CODE 0" in sync_cell, sync_cell
    assert "SEEN ['module fixture torn down']" in sync_cell, sync_cell

    assert "TICKER STILL RUNNING True" in after_cell, after_cell
    assert "KERNEL LOOP CLOSED False" in after_cell, after_cell
