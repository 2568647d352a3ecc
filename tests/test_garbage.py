"""The garbage collector around cooperative batches with many tests in flight.

With a thousand tests or more in flight at once, alt_coop pauses the
collector while it starts them and freezes the objects they hold; the
process must come out of the batch with the collector as it found it, and
the garbage the tests made must be collectable once the batch ends.
"""

from __future__ import annotations

import gc

import pytest

BIG_BATCH = """
import asyncio
import gc
import weakref
import pytest

GONE = []

class Cycle:
    def __init__(self):
        self.me = self

@pytest.mark.asyncio_cooperative
@pytest.mark.parametrize("n", range(1200))
async def test_many(n):
    cycle = Cycle()  # garbage once the test ends: only the collector frees it
    GONE.append(weakref.ref(cycle))
    await asyncio.sleep(0.2)

def test_after_the_batch():
    assert gc.isenabled()
    assert gc.get_freeze_count() <= FROZEN_BEFORE  # frozen objects may have died since
    gc.collect()
    assert [ref for ref in GONE if ref() is not None] == []
"""


@pytest.mark.parametrize("freeze_first", [False, True])
def test_collector_is_left_as_found(pytester, run_alt, freeze_first):
    pytester.makepyfile(BIG_BATCH + "FROZEN_BEFORE = gc.get_freeze_count()\n")
    threshold = gc.get_threshold()
    if freeze_first:  # an application froze its objects (say before a fork)
        gc.freeze()
    # Python 3.12's runtime itself starts with some objects frozen.
    frozen_before = gc.get_freeze_count()
    try:
        result = run_alt("--max-asyncio-tasks=2000", "-p", "no:randomly")
        frozen_after = gc.get_freeze_count()
    finally:
        if freeze_first:
            gc.unfreeze()
    result.assert_outcomes(passed=1201)
    assert gc.isenabled()
    assert gc.get_threshold() == threshold
    if freeze_first:
        assert frozen_after > 0  # still frozen: not alt_coop's to unfreeze
    else:
        assert frozen_after <= frozen_before


#: How the first test ends, and what is left of it: a cancelled timer of
#: asyncio's whose context is the test's, its failure's traceback (its
#: frames, and what they hold), the line its timeout cut in at. (Such a
#: timer keeps the context it was made in, and the values of the context
#: variables in it, until its own time, as in any asyncio program: only the
#: first ending leaves none.)
FIRST_TEST_ENDS = {
    "passes": "await asyncio.sleep(0)",
    "fails": "await asyncio.wait_for(asyncio.sleep(0.001), 3600)\n            assert not local",
    "times out": "async_timeout.set_timeout_seconds(0.1)\n            await asyncio.sleep(3600)",
}


@pytest.mark.parametrize("how", FIRST_TEST_ENDS)
@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_what_a_finished_test_set_is_collectable_while_later_tests_run(
    pytester, run_alt_subprocess, mode, how
):
    # A timer armed during a test (its phase timeouts, its cap, asyncio's
    # wait_for) must not keep its context, and with it what its fixtures
    # set, alive after it. A cooperative test that failed or timed out was
    # kept until its batch's end, frames and fixture values included.
    pytester.makepyfile(
        """
        import asyncio
        import contextvars
        import gc
        import sys
        import weakref
        import pytest

        VALUE = contextvars.ContextVar("value")
        GONE = []
        LOCALS = []

        class Big:
            pass

        @pytest.fixture
        async def big():
            value = Big()
            GONE.append(weakref.ref(value))
            token = VALUE.set(value)
            await asyncio.sleep(0)
            yield value
            VALUE.reset(token)

        async def test_first(big, async_timeout):
            local = Big()  # held by its frame alone
            LOCALS.append(weakref.ref(local))
            FIRST_TEST_ENDS

        @pytest.mark.parametrize("n", range(20))
        async def test_later(n):
            await asyncio.sleep(0.05)

        async def test_checks():
            await asyncio.sleep(0.3)
            # Where pytest keeps the last failure, for a post-mortem debugger.
            for name in ("last_type", "last_value", "last_traceback", "last_exc"):
                sys.__dict__.pop(name, None)
            gc.collect()
            assert [ref for ref in LOCALS if ref() is not None] == []
            if CONTEXT_FREED:
                assert [ref for ref in GONE if ref() is not None] == []
        """.replace("FIRST_TEST_ENDS", FIRST_TEST_ENDS[how]).replace(
            "CONTEXT_FREED", str(how == "passes")
        )
    )
    args = ("--default-async-timeout=30", "--max-asyncio-tasks=4")
    coop = ("--asyncio-cooperative", "--asyncio-task-timeout=60") if mode == "cooperative" else ()
    # In a process of its own, without pytest-rerunfailures: an in-process
    # run's recorder of pytest's hook calls keeps the failure's traceback,
    # and so does that plugin, on the test.
    result = run_alt_subprocess(*args, *coop, "-p", "no:rerunfailures")
    if how == "passes":
        result.assert_outcomes(passed=22)
    else:
        result.assert_outcomes(passed=21, failed=1)
        result.stdout.fnmatch_lines(["FAILED *::test_first*"])


def test_a_tests_own_gc_collect_frees_what_it_let_go_of_in_a_big_batch(pytester, run_alt):
    # What the tests hold as the batch has started them is frozen out of the
    # collector's passes; a test that collects (to check that something it
    # let go of is freed, say) must still find it freed, as in a small batch.
    pytester.makepyfile(
        """
        import asyncio
        import gc
        import weakref
        import pytest

        class Cycle:
            def __init__(self):
                self.me = self

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(1200))
        async def test_many(n):
            cycle = Cycle()
            finalized = []
            weakref.finalize(cycle, finalized.append, n)
            await asyncio.sleep(1.0)  # meanwhile, the batch starts the others
            if n % 300 == 0:
                del cycle
                gc.collect()
                assert finalized == [n]
        """
    )
    result = run_alt("--max-asyncio-tasks=2000", "-p", "no:randomly")
    result.assert_outcomes(passed=1200)
    assert gc.isenabled()


def test_what_a_test_set_is_collectable_after_it_handed_work_to_a_thread(
    pytester, run_alt_subprocess
):
    # The default pool's worker that a test's asyncio.to_thread starts serves
    # every test after it: it must not run as that test's, keeping what the
    # test set (pytest-check 3 starts threads in their starter's context).
    pytest.importorskip("pytest_check")
    pytester.makepyfile(
        """
        import asyncio
        import contextvars
        import gc
        import weakref
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative
        VALUE = contextvars.ContextVar("value")
        GONE = []

        class Big:
            pass

        @pytest.fixture
        def big():
            value = Big()
            GONE.append(weakref.ref(value))
            VALUE.set(value)

        async def test_first(big):
            await asyncio.to_thread(lambda: None)

        @pytest.mark.parametrize("n", range(5))
        async def test_later(n):
            await asyncio.sleep(0.05)

        async def test_checks():
            await asyncio.sleep(0.3)
            gc.collect()
            assert [ref for ref in GONE if ref() is not None] == []
        """
    )
    result = run_alt_subprocess("-p", "pytest_check.plugin", "-p", "no:randomly")
    result.assert_outcomes(passed=7)
