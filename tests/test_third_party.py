"""Plugins and libraries that patch the whole process, beside cooperative tests.

Each of these changes something every running test sees (the clock and the
date, socket.socket, an HTTP client's transport, a shared server's handlers,
module attributes): a test using one runs alone, with a notice, and the
tests around it run as they would in a sequential run. Each test loads the
plugin it needs (conftest's ISOLATE keeps them out otherwise) and skips when
it is not installed.
"""

from __future__ import annotations

import textwrap

import pytest
from conftest import ISOLATE


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        *ISOLATE, "-p", "alt_coop.enable", "-p", "no:randomly", *args, timeout=120
    )


def test_a_frozen_clock_leaves_the_loop_on_real_time(pytester: pytest.Pytester) -> None:
    # freezegun replaces time.monotonic, which asyncio's loops read: frozen in
    # 2024, the loop's clock would jump decades on, firing every timeout at
    # once, and a sleep would never end. The session loop keeps real time, so
    # sleeps end and timeouts fire when they are due.
    pytest.importorskip("freezegun")
    pytester.makepyfile(
        """
        import asyncio, datetime
        from freezegun import freeze_time

        @freeze_time("2024-01-01")
        async def test_frozen():
            await asyncio.sleep(0)
            await asyncio.sleep(0.05)
            assert datetime.date.today() == datetime.date(2024, 1, 1)

        @freeze_time("2024-01-01")
        async def test_frozen_times_out(async_timeout):
            async_timeout.set_timeout_seconds(0.3)
            await asyncio.sleep(30)
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_frozen_times_out timed out after 0.3s*"
            "waiting at test_a_frozen_clock*.py:13 in test_frozen_times_out*"
        ]
    )


def test_a_test_frozen_by_freezegun_runs_alone(pytester: pytest.Pytester) -> None:
    # Run beside another, the frozen test's date would be the other's too,
    # and the other's sleep, scheduled on the frozen clock, would never end.
    pytest.importorskip("freezegun")
    pytester.makepyfile(
        """
        import asyncio, datetime
        import pytest
        from freezegun import freeze_time

        pytestmark = pytest.mark.asyncio_cooperative

        @freeze_time("2000-01-01")
        async def test_frozen():
            await asyncio.sleep(0.3)
            assert datetime.date.today().year == 2000

        async def test_other():
            await asyncio.sleep(0.1)
            assert datetime.date.today().year > 2020

        async def test_another():
            await asyncio.sleep(0.2)
            assert datetime.date.today().year > 2020
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines(
        ["*AltCoopWarning: alt_coop: tests decorated by freezegun run alone (process-wide state)"]
    )


def test_time_machine_travels_run_alone(pytester: pytest.Pytester) -> None:
    # time-machine moves the date of the whole process: a travel, through
    # its fixture or its decorator, would be every running test's.
    pytest.importorskip("time_machine")
    pytester.makepyfile(
        """
        import asyncio, datetime
        import pytest
        import time_machine

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_fixture_travel(time_machine):
            time_machine.move_to(datetime.datetime(2000, 1, 1), tick=False)
            await asyncio.sleep(0.2)
            assert datetime.date.today().year == 2000

        async def test_plain():
            await asyncio.sleep(0.1)
            assert datetime.date.today().year > 2020

        @time_machine.travel(datetime.datetime(2010, 1, 1), tick=False)
        async def test_decorated():
            await asyncio.sleep(0.3)
            assert datetime.date.today().year == 2010
        """
    )
    result = run(pytester, "-p", "time_machine")
    result.assert_outcomes(passed=3, warnings=2)
    result.stdout.fnmatch_lines_random(
        [
            "*AltCoopWarning: alt_coop: tests using time_machine run alone (process-wide state)",
            "*AltCoopWarning: alt_coop: tests decorated by time_machine run alone*",
        ]
    )


def test_pytest_socket_restrictions_hold_for_every_test(pytester: pytest.Pytester) -> None:
    # pytest-socket blocks socket.socket at each test's setup and lifts the
    # block at each teardown, for the whole process: in a batch, the first
    # test to finish would lift it for the others.
    pytest.importorskip("pytest_socket")
    pytester.makepyfile(
        """
        import asyncio, socket
        import pytest
        from pytest_socket import SocketBlockedError

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_short():
            await asyncio.sleep(0.05)

        async def test_blocked():
            await asyncio.sleep(0.2)
            with pytest.raises(SocketBlockedError):
                socket.socket()

        @pytest.mark.enable_socket
        async def test_needs_network():
            await asyncio.sleep(0.1)
            socket.socket().close()
        """
    )
    result = run(pytester, "-p", "pytest_socket", "--disable-socket")
    # The third warning is pytest-socket's own, for the blocked attempt.
    result.assert_outcomes(passed=3, warnings=3)
    result.stdout.fnmatch_lines_random(
        [
            "*AltCoopWarning: alt_coop: pytest-socket blocks and unblocks the network for the"
            " whole process at each test's setup and teardown: cooperative tests run"
            " sequentially",
            "*AltCoopWarning: alt_coop: tests marked enable_socket run alone*",
        ]
    )


def test_pytest_socket_marks_alone_leave_the_others_cooperative(
    pytester: pytest.Pytester,
) -> None:
    pytest.importorskip("pytest_socket")
    pytester.makepyfile(
        """
        import asyncio, socket
        import pytest
        from pytest_socket import SocketBlockedError

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.mark.disable_socket
        async def test_blocked():
            await asyncio.sleep(0.1)
            with pytest.raises(SocketBlockedError):
                socket.socket()

        async def test_one():
            await asyncio.sleep(0.1)
            socket.socket().close()

        async def test_two():
            await asyncio.sleep(0.1)
            socket.socket().close()
        """
    )
    result = run(pytester, "-p", "pytest_socket")
    # The second warning is pytest-socket's own, for the blocked attempt.
    result.assert_outcomes(passed=3, warnings=2)
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop: tests marked disable_socket run alone"
            " (pytest-socket patches process-wide state)",
            "alt_coop: 2 cooperative tests, at most 2 at once*",
        ]
    )


def test_respx_mock_runs_alone(pytester: pytest.Pytester) -> None:
    # respx_mock is one router for the process: the first test to finish
    # would reset the routes of the others.
    pytest.importorskip("respx")
    pytest.importorskip("httpx")
    pytester.makepyfile(
        """
        import asyncio
        import httpx
        import pytest
        import respx

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_users(respx_mock):
            respx_mock.get("https://api.example.com/users").mock(
                return_value=httpx.Response(200, json=["ann"])
            )
            await asyncio.sleep(0.05)
            async with httpx.AsyncClient() as client:
                response = await client.get("https://api.example.com/users")
            assert response.json() == ["ann"]

        async def test_items(respx_mock):
            respx_mock.get("https://api.example.com/items").mock(
                return_value=httpx.Response(200, json=[1])
            )
            await asyncio.sleep(0.1)
            async with httpx.AsyncClient() as client:
                response = await client.get("https://api.example.com/items")
            assert response.json() == [1]

        @respx.mock
        async def test_decorated():
            respx.get("https://api.example.com/other").mock(return_value=httpx.Response(204))
            await asyncio.sleep(0.05)
            async with httpx.AsyncClient() as client:
                response = await client.get("https://api.example.com/other")
            assert response.status_code == 204
        """
    )
    result = run(pytester, "-p", "respx")
    result.assert_outcomes(passed=3, warnings=2)
    result.stdout.fnmatch_lines_random(
        [
            "*AltCoopWarning: alt_coop: tests using respx_mock run alone (process-wide state)",
            "*AltCoopWarning: alt_coop: tests decorated by respx run alone (process-wide state)",
        ]
    )


def test_pytest_httpserver_runs_alone(pytester: pytest.Pytester) -> None:
    # httpserver is one server for the session, whose handlers each test's
    # setup clears: a test starting in the batch would wipe the others'.
    pytest.importorskip("pytest_httpserver")
    pytest.importorskip("httpx")
    pytester.makepyfile(
        """
        import asyncio
        import httpx
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_users(httpserver):
            httpserver.expect_request("/users").respond_with_json(["ann"])
            await asyncio.sleep(0.2)
            async with httpx.AsyncClient() as client:
                response = await client.get(httpserver.url_for("/users"))
            assert response.status_code == 200, response.text

        async def test_items(httpserver):
            httpserver.expect_request("/items").respond_with_json([1])
            async with httpx.AsyncClient() as client:
                response = await client.get(httpserver.url_for("/items"))
            assert response.status_code == 200, response.text
        """
    )
    result = run(pytester, "-p", "pytest_httpserver")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        ["*AltCoopWarning: alt_coop: tests using httpserver run alone (process-wide state)"]
    )


@pytest.mark.parametrize("fixture", ["mocker", "monkeypatch"])
def test_a_run_alone_fixture_asked_for_while_running_fails_the_test(
    pytester: pytest.Pytester, fixture: str
) -> None:
    # Asked for through request.getfixturevalue, the fixture is not seen
    # before the test starts beside others: too late to run it alone, and
    # its patch would reach them. The test fails saying what to do instead.
    if fixture == "mocker":
        pytest.importorskip("pytest_mock")
    pytester.makepyfile(
        helper_mod="""
        def value():
            return "real"
        """
    )
    pytester.makepyfile(
        test_dynamic=f"""
        import asyncio
        import pytest
        import helper_mod

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_patches(request):
            patcher = request.getfixturevalue({fixture!r})
            if {fixture!r} == "monkeypatch":
                patcher.setattr(helper_mod, "value", lambda: "patched")
            else:
                patcher.patch.object(helper_mod, "value", return_value="patched")
            await asyncio.sleep(0.1)

        async def test_real():
            await asyncio.sleep(0.05)
            assert helper_mod.value() == "real"

        @pytest.mark.asyncio_sequential
        async def test_sequential(request):
            request.getfixturevalue({fixture!r})
        """
    )
    result = run(pytester, "-p", "pytest_mock", "-rA")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            f"alt_coop: test_dynamic.py::test_patches asked for the fixture '{fixture}' through"
            f" request.getfixturevalue while running cooperatively; {fixture} changes"
            " process-wide state, so the tests using it run alone. Ask for it as an argument"
            " of the test (or of one of its fixtures), or mark the test asyncio_sequential",
        ]
    )
    result.stdout.fnmatch_lines_random(
        ["PASSED test_dynamic.py::test_real", "PASSED test_dynamic.py::test_sequential"]
    )


def test_vcrpy_and_requests_mock_decorators_run_alone(pytester: pytest.Pytester) -> None:
    # vcrpy's cassettes patch every HTTP client of the process for the whole
    # test (its decorator is made by wrapt, whose wrapper has the test's own
    # globals), as requests-mock's Mocker patches requests.
    pytest.importorskip("vcr")
    pytest.importorskip("requests_mock")
    pytester.makepyfile(
        test_decorated="""
        import asyncio
        import functools
        import pytest
        import requests_mock
        import vcr

        pytestmark = pytest.mark.asyncio_cooperative

        def mine(test):
            @functools.wraps(test)
            async def wrapper(*args, **kwargs):
                return await test(*args, **kwargs)
            return wrapper

        @vcr.use_cassette("cassettes/a.yaml")
        async def test_cassette():
            await asyncio.sleep(0.05)

        @mine
        @vcr.VCR(record_mode="none").use_cassette("cassettes/b.yaml")
        async def test_cassette_under_another_decorator():
            await asyncio.sleep(0.05)

        @requests_mock.Mocker(kw="mock")
        def test_requests_mocked(**kwargs):
            pass

        async def test_one():
            await asyncio.sleep(0.1)

        async def test_two():
            await asyncio.sleep(0.1)
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=5, warnings=2)
    result.stdout.fnmatch_lines_random(
        [
            "*AltCoopWarning: alt_coop: tests decorated by vcr run alone (process-wide state)",
            "*AltCoopWarning: alt_coop: tests decorated by requests_mock run alone*",
            "alt_coop: 2 cooperative tests, at most 2 at once*",
        ]
    )


def test_a_wider_run_alone_fixture_refused_once_still_works_when_asked_for_properly(
    pytester: pytest.Pytester,
) -> None:
    # The refusal is the asking test's failure, not the fixture's: a later
    # test that asks for the session-wide fixture as an argument gets it.
    pytest.importorskip("pytest_mock")
    pytester.makepyfile(
        test_session_mocker="""
        import asyncio
        import os
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_dynamic(request):
            await asyncio.sleep(0)
            request.getfixturevalue("session_mocker")

        @pytest.mark.asyncio_cooperative
        async def test_static(session_mocker):
            session_mocker.patch("os.getcwd", return_value="/patched")
            assert os.getcwd() == "/patched"
        """
    )
    result = run(pytester, "-p", "pytest_mock", "-rA")
    result.assert_outcomes(passed=1, failed=1, warnings=1)
    result.stdout.fnmatch_lines_random(
        [
            "alt_coop: test_session_mocker.py::test_dynamic asked for the fixture"
            " 'session_mocker' through request.getfixturevalue*",
            "FAILED test_session_mocker.py::test_dynamic*",
            "PASSED test_session_mocker.py::test_static",
        ]
    )


def test_a_run_alone_fixture_asked_for_where_no_test_runs_beside_is_given(
    pytester: pytest.Pytester,
) -> None:
    # An exclusive test overlaps no other, and a session that a cooperative
    # test runs is its own: neither is refused.
    inner = pytester.mkdir("inner")
    (inner / "test_inner.py").write_text(
        "def test_patches(monkeypatch):\n    monkeypatch.setenv('ALT_COOP_INNER', '1')\n"
    )
    pytester.makepyfile(
        test_outer=f"""
        import asyncio
        import pytest
        import alt_coop

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.mark.asyncio_exclusive
        async def test_exclusive(request):
            await asyncio.sleep(0)
            request.getfixturevalue("monkeypatch").setenv("ALT_COOP_OUTER", "1")

        async def test_runs_a_session():
            await asyncio.sleep(0)
            code = pytest.main(
                [*{ISOLATE!r}, "-p", "no:randomly", "-q", {str(inner)!r},
                 "--rootdir", {str(inner)!r}],
                plugins=[alt_coop.Plugin()],
            )
            assert code == 0

        async def test_other():
            await asyncio.sleep(0.05)
        """
    )
    result = run(pytester, "-rA", "test_outer.py")
    result.assert_outcomes(passed=3)
    assert "asked for the fixture" not in result.stdout.str()


def test_autouse_fixtures_of_pytest_recording_leave_tests_cooperative(
    pytester: pytest.Pytester,
) -> None:
    # Stand-ins: pytest-recording's vcr and block_network fixtures are
    # autouse, in every test, and do something only for tests with their
    # marks, or under --block-network (which blocks the network for the
    # whole process at each test's setup).
    pytester.makeconftest(
        """
        import pytest

        def pytest_addoption(parser):
            parser.addoption("--block-network", action="store_true")

        def pytest_configure(config):
            config.addinivalue_line("markers", "vcr")
            config.addinivalue_line("markers", "block_network")

        @pytest.fixture(autouse=True)
        def vcr():
            yield

        @pytest.fixture(autouse=True)
        def block_network():
            yield
        """
    )
    pytester.makepyfile(
        test_recorded="""
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_one():
            await asyncio.sleep(0.1)

        async def test_two():
            await asyncio.sleep(0.1)

        @pytest.mark.vcr
        @pytest.mark.block_network
        async def test_recorded():
            await asyncio.sleep(0)
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop: tests marked block_network, vcr run alone"
            " (pytest-recording patches process-wide state)",
            "alt_coop: 2 cooperative tests, at most 2 at once*",
        ]
    )
    result = run(pytester, "--block-network")
    result.assert_outcomes(passed=3, warnings=2)
    result.stdout.fnmatch_lines_random(
        [
            "*AltCoopWarning: alt_coop: pytest-recording blocks and unblocks the network for"
            " the whole process at each test's setup and teardown: cooperative tests run"
            " sequentially",
            "*AltCoopWarning: alt_coop: tests marked block_network, vcr run alone*",
        ]
    )


def test_a_test_package_named_like_a_patching_library_stays_cooperative(
    pytester: pytest.Pytester,
) -> None:
    # Only decorators are looked at, not the package the test is in.
    package = pytester.mkpydir("responses")
    (package / "test_api.py").write_text(
        "import asyncio\n"
        "import pytest\n"
        "pytestmark = pytest.mark.asyncio_cooperative\n"
        "async def test_one():\n"
        "    await asyncio.sleep(0.1)\n"
        "async def test_two():\n"
        "    await asyncio.sleep(0.1)\n"
    )
    result = run(pytester)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["alt_coop: 2 cooperative tests, at most 2 at once*"])


def test_a_plugin_registered_without_a_name_is_named_by_its_class(
    pytester: pytest.Pytester,
) -> None:
    # pytest-json-report registers its plugin object without a name (pluggy
    # then names it by its id): the notice names where it comes from.
    pytest.importorskip("pytest_jsonreport")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_one():
            await asyncio.sleep(0)
        """
    )
    result = run(
        pytester,
        "-p",
        "metadata",
        "-p",
        "pytest_jsonreport",
        "--json-report",
        "--json-report-file=report.json",
    )
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop: pytest_jsonreport.plugin.JSONReport hooks"
            " pytest_runtest_protocol, which cooperative tests cannot go through: those tests"
            " run sequentially",
        ]
    )


def test_pytest_check_soft_failures_stay_with_their_test(pytester: pytest.Pytester) -> None:
    # pytest-check 3 keeps them in a context variable whose value it makes
    # once for the session: every lane shared it, and the first test to
    # report took the others' failures (they passed; a clean test failed).
    pytest.importorskip("pytest_check")
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from pytest_check import check

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.mark.parametrize("i", range(3))
        async def test_soft(i):
            await asyncio.sleep(0.01 * (3 - i))
            check.equal(i, -1, f"SOFT-{i}")
            await asyncio.sleep(0.05)

        async def test_clean():
            await asyncio.sleep(0.035)
        """
    )
    result = run(pytester, "-p", "pytest_check.plugin", "-rA")
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines_random(
        [
            "PASSED *::test_clean",
            "FAILED *::test_soft[[]0[]]*",
            "FAILED *::test_soft[[]1[]]*",
            "FAILED *::test_soft[[]2[]]*",
        ]
    )
    for i in range(3):
        section = result.stdout.str().split(f"_ test_soft[{i}] _")[1]
        section = section.split("\n_")[0].split("\n=")[0]
        assert f"SOFT-{i}" in section
        assert all(f"SOFT-{j}" not in section for j in range(3) if j != i)


def test_pytest_check_soft_failures_in_a_tests_threads_stay_with_it(
    pytester: pytest.Pytester,
) -> None:
    # pytest-check 3 hands a test's threads its state through their context;
    # alt_coop ran them in a fresh one of its own, and their failures were
    # lost: the tests passed.
    pytest.importorskip("pytest_check")
    pytester.makepyfile(
        """
        import asyncio
        import concurrent.futures
        import threading
        import time
        import pytest
        from pytest_check import check

        async def test_thread():
            thread = threading.Thread(target=check.equal, args=(1, 2, "IN-THREAD"))
            thread.start()
            await asyncio.sleep(0.05)
            thread.join()

        async def test_pool():
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                await asyncio.wrap_future(pool.submit(check.equal, 3, 4, "IN-POOL"))
            await asyncio.sleep(0.05)

        async def test_executor():
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, check.equal, 5, 6, "IN-EXECUTOR")
            await asyncio.sleep(0.05)

        @pytest.mark.asyncio_cooperative
        def test_sync_body_thread():
            thread = threading.Thread(target=check.equal, args=(7, 8, "SYNC-THREAD"))
            thread.start()
            thread.join()
            time.sleep(0.05)

        async def test_clean():
            await asyncio.sleep(0.05)
        """
    )
    for mode in ((), ("--asyncio-cooperative",)):
        result = run(pytester, "-p", "pytest_check.plugin", "-rA", *mode)
        result.assert_outcomes(passed=1, failed=4)
        for name, message in (
            ("test_thread", "IN-THREAD"),
            ("test_pool", "IN-POOL"),
            ("test_executor", "IN-EXECUTOR"),
            ("test_sync_body_thread", "SYNC-THREAD"),
        ):
            section = result.stdout.str().split(f"_ {name} _")[1]
            assert message in section.split("\n_")[0].split("\n=")[0]
        result.stdout.fnmatch_lines(["PASSED *::test_clean"])


def test_tests_using_pytest_htmls_extras_run_alone(pytester: pytest.Pytester) -> None:
    # pytest-html's ``extras`` is one list for the session, swapped at each
    # test's setup and read at its report: here, a stand-in that works alike.
    pytester.makeconftest(
        """
        import pytest

        SHARED = {}

        @pytest.fixture
        def extras(request):
            SHARED["list"] = mine = []
            yield mine
            assert SHARED["list"] is mine, "another test's setup swapped the list"
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.mark.parametrize("i", range(3))
        async def test_extra(extras, i):
            await asyncio.sleep(0.02)
            extras.append(i)
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines(
        ["*AltCoopWarning: alt_coop: tests using extras run alone (process-wide state)"]
    )


def test_pytest_check_before_3_makes_cooperative_tests_run_sequentially(
    pytester: pytest.Pytester,
) -> None:
    # Its failures were module globals: a stand-in of its shape.
    pytester.mkpydir("pytest_check")
    pytester.path.joinpath("pytest_check", "check_log.py").write_text("_failures = []\n")
    pytester.makeconftest("import pytest_check.check_log")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.mark.parametrize("i", range(2))
        async def test_it(i):
            await asyncio.sleep(0)
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop: cooperative tests run sequentially with pytest-check "
            "before 3.0 (one list of soft-check failures for all tests)"
        ]
    )


def test_a_fixture_of_the_users_named_like_a_plugins_stays_cooperative(
    pytester: pytest.Pytester,
) -> None:
    # Defined in the suite's conftest without asking for the plugin's of
    # that name, it is the user's own.
    pytest.importorskip("faker")
    pytest.importorskip("pytest_subprocess")
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def faker():
            return "the user's"

        @pytest.fixture
        def fp():
            return "a file path"
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_faker(faker):
            await asyncio.sleep(0.1)
            assert faker == "the user's"

        async def test_fp(fp):
            await asyncio.sleep(0.1)
            assert fp == "a file path"
        """
    )
    result = run(pytester, "-p", "faker.contrib.pytest.plugin", "-p", "pytest_subprocess.fixtures")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["alt_coop: 2 cooperative tests, at most 2 at once*"])


@pytest.mark.parametrize("overridden", [False, True], ids=["plugin's", "overridden"])
def test_fakers_fixture_runs_alone(pytester: pytest.Pytester, overridden: bool) -> None:
    # Faker's ``faker`` fixture is one generator for the session, re-seeded
    # at each test's setup: beside another test, a test's draws would be
    # interleaved with the other's and its unique values cleared. Its autouse
    # fixture of the session leaves the other tests cooperative. A conftest's
    # override that asks for it is the plugin's fixture all the same.
    pytest.importorskip("faker")
    if overridden:
        pytester.makeconftest(
            """
            import pytest

            @pytest.fixture
            def faker(faker):
                return faker
            """
        )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.mark.parametrize("i", range(3))
        async def test_seeded(faker, i):
            first = faker.name()
            await asyncio.sleep(0.05)
            assert (first, faker.name()) == ("Norma Fisher", "Jorge Sullivan")

        @pytest.mark.parametrize("i", range(2))
        async def test_unique(faker, i):
            seen = []
            for _ in range(3):
                seen.append(faker.unique.random_int(1, 3))
                await asyncio.sleep(0.05)
            assert sorted(seen) == [1, 2, 3]

        @pytest.mark.parametrize("i", range(2))
        async def test_without_faker(i):
            await asyncio.sleep(0.1)
        """
    )
    result = run(pytester, "-p", "faker.contrib.pytest.plugin")
    result.assert_outcomes(passed=7, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop: tests using faker run alone "
            "(Faker re-seeds one generator of the session at each test's setup)",
            "alt_coop: 2 cooperative tests, at most 2 at once*",
        ]
    )


def test_pytest_subprocess_fakes_run_alone(pytester: pytest.Pytester) -> None:
    # ``fp`` fakes subprocess.Popen and asyncio's subprocesses for the
    # process: a test beside it starting a real one would get a fake.
    pytest.importorskip("pytest_subprocess")
    pytester.makepyfile(
        """
        import asyncio
        import subprocess
        import sys
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_faked(fp):
            fp.register(["git", "status"], stdout="faked output")
            await asyncio.sleep(0.2)
            result = subprocess.run(["git", "status"], capture_output=True, text=True)
            assert result.stdout == "faked output"

        async def test_real():
            await asyncio.sleep(0.05)
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-c", "print('real')", stdout=asyncio.subprocess.PIPE
            )
            assert (await process.communicate())[0].strip() == b"real"
        """
    )
    result = run(pytester, "-p", "pytest_subprocess.fixtures")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop: tests using fp run alone (pytest-subprocess fakes "
            "subprocess and asyncio's subprocesses for the process)"
        ]
    )


def test_pytest_mockito_stubs_run_alone(pytester: pytest.Pytester) -> None:
    # pytest-mockito removes every stub at the end of each test's call, and
    # checks that the stubs were used: another test's end would remove this
    # one's stub, and blame it for this one's.
    pytest.importorskip("pytest_mockito")
    pytester.makepyfile(
        app="""
        def now():
            return "real-now"

        def user():
            return "real-user"
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        import app

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_stub_now(when):
            when(app).now().thenReturn("fake-now")
            await asyncio.sleep(0.2)
            assert app.now() == "fake-now"

        async def test_stub_user(when):
            when(app).user().thenReturn("fake-user")
            await asyncio.sleep(0.05)
            assert app.user() == "fake-user"

        async def test_plain():
            await asyncio.sleep(0.1)
            assert app.now() == "real-now"
        """
    )
    result = run(pytester, "-p", "pytest_mockito.plugin")
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop: tests using when run alone "
            "(pytest-mockito removes every stub at each test's end)"
        ]
    )


def test_a_client_fixture_of_pytest_redis_runs_alone(pytester: pytest.Pytester) -> None:
    # pytest-redis's client fixtures, made by its factory under any name,
    # empty the shared server at each test's teardown: here, a stand-in of
    # its module whose fixtures do alike to a dict.
    pytester.mkpydir("pytest_redis")
    pytester.mkpydir("pytest_redis/factories")
    pytester.path.joinpath("pytest_redis", "factories", "client.py").write_text(
        textwrap.dedent(
            """
            import pytest

            SERVER = {}

            def redisdb(process_fixture_name):
                @pytest.fixture
                def redisdb_factory():
                    yield SERVER
                    SERVER.clear()

                return redisdb_factory
            """
        )
    )
    pytester.makeconftest(
        """
        from pytest_redis.factories.client import redisdb

        cache = redisdb("redis_proc")
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_cart(cache):
            cache["cart"] = "apple"
            await asyncio.sleep(0.2)
            assert cache.get("cart") == "apple"

        async def test_empty(cache):
            await asyncio.sleep(0.05)
            assert not cache
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop: tests using cache run alone "
            "(pytest-redis empties the shared server at each test's teardown)"
        ]
    )


def test_a_caplog_override_sending_loguru_records_runs_alone(pytester: pytest.Pytester) -> None:
    # loguru's documented recipe: its sinks are the process's, so every
    # running test's caplog would get every test's records.
    pytest.importorskip("loguru")
    pytester.makeconftest(
        """
        import pytest
        from loguru import logger

        @pytest.fixture
        def caplog(caplog):
            handler_id = logger.add(caplog.handler, format="{message}")
            yield caplog
            logger.remove(handler_id)
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from loguru import logger

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.mark.parametrize("i", range(3))
        async def test_logs(caplog, i):
            logger.info(f"start {i}")
            await asyncio.sleep(0.05 * (3 - i))
            logger.info(f"end {i}")
            assert caplog.messages == [f"start {i}", f"end {i}"]
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines(
        ["*AltCoopWarning: alt_coop: tests using caplog as conftest overrides it run alone*"]
    )


@pytest.mark.parametrize("how", ["mark", "option"])
def test_pytest_memray_tracking_runs_alone(pytester: pytest.Pytester, how: str) -> None:
    # pytest-memray tracks a test's allocations with one tracker for the
    # process: a second test tracked at the same time fails to start its own.
    pytest.importorskip("pytest_memray")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.mark.parametrize("i", range(2))
        @pytest.mark.limit_memory("20 MB")
        async def test_limited(i):
            data = [bytes(1000) for _ in range(100)]
            await asyncio.sleep(0.1)
            assert data

        async def test_plain():
            await asyncio.sleep(0.1)
        """
    )
    args = ["--memray"] if how == "option" else []
    result = run(pytester, "-p", "pytest_memray.plugin", *args)
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop: tests marked limit_memory run alone "
            "(pytest-memray tracks the allocations of the whole process)"
            if how == "mark"
            else "*AltCoopWarning: alt_coop: cooperative tests run sequentially under "
            "pytest-memray's --memray (one allocation tracker for the process)"
        ]
    )


def test_pytest_responses_makes_cooperative_tests_run_sequentially(
    pytester: pytest.Pytester,
) -> None:
    # pytest-responses mocks requests from each test's setup to its
    # teardown, for the process: a test ending would stop another's mock,
    # and that test would reach the real network.
    pytest.importorskip("pytest_responses")
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        import requests
        import responses

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_a():
            responses.add(responses.GET, "http://api.test/a", json={"status": "a"})
            await asyncio.sleep(0.2)
            assert requests.get("http://api.test/a").json() == {"status": "a"}

        async def test_b():
            responses.add(responses.GET, "http://api.test/b", json={"status": "b"})
            await asyncio.sleep(0.05)
            assert requests.get("http://api.test/b").json() == {"status": "b"}
        """
    )
    result = run(pytester, "-p", "pytest_responses")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop: cooperative tests run sequentially with "
            "pytest-responses (it mocks requests for the whole process*"
        ]
    )


def test_pytest_assume_makes_cooperative_tests_run_sequentially(
    pytester: pytest.Pytester,
) -> None:
    # pytest-assume keeps failed assumptions in one list, which the next test
    # to end its call would take as its own.
    pytest.importorskip("pytest_assume")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_soft_fails():
            pytest.assume(1 == 2, "first soft failure")
            await asyncio.sleep(0.2)

        async def test_clean():
            await asyncio.sleep(0.05)
            pytest.assume(2 == 2)
        """
    )
    result = run(pytester, "-p", "pytest_assume.plugin")
    # The other warning is pytest-assume's own, from pluggy, as in any run.
    result.assert_outcomes(passed=1, failed=1, warnings=2)
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop: cooperative tests run sequentially with "
            "pytest-assume (one list of failed assumptions for all tests*",
            "FAILED *::test_soft_fails*",
        ]
    )


def test_every_reason_the_whole_run_is_sequential_is_told_at_once(
    pytester: pytest.Pytester,
) -> None:
    # Only the first was told: switching that plugin off as it said brought
    # the next notice, one run at a time.
    pytest.importorskip("pytest_assume")
    pytest.importorskip("pytest_responses")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_waits():
            await asyncio.sleep(0.01)
        """
    )
    result = run(pytester, "-p", "pytest_responses", "-p", "pytest_assume.plugin")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop: cooperative tests run sequentially with "
            "pytest-responses (it mocks requests*; and with pytest-assume (one list of failed*",
        ]
    )


def test_a_run_alone_fixture_a_test_gets_through_another_is_named_with_it(
    pytester: pytest.Pytester,
) -> None:
    # pytest-django's autouse fixtures ask for monkeypatch: the notice names
    # the fixture the test gets it through, which the test never mentions.
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(autouse=True)
        def _settings_marker(monkeypatch):
            yield
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_plain():
            await asyncio.sleep(0)
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop: tests using monkeypatch (through _settings_marker) "
            "run alone (process-wide state)"
        ]
    )
