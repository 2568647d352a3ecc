"""The README's two commands (scripts/examples.sh, scripts/test.sh) and the
environment they make."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).parent.parent / "scripts"
#: Answers the version check like a Python 3.10, and anything else by saying
#: what it was asked to run: an environment made earlier, without the cost
#: of installing into a real one.
OLD_PYTHON = """#!/bin/sh
case "$*" in
    *version_info*) echo 3.10 ;;
    *) echo "RAN in VENV: $*" ;;
esac
"""
#: The environment each script makes: the examples' has alt_coop alone, as a
#: project using it would, not the test extras (whose plugins would load).
VENV_OF = {"examples.sh": ".venv-examples", "test.sh": ".venv"}


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A checkout whose environments were made with another Python than this one."""
    shutil.copytree(SCRIPTS, tmp_path / "scripts")
    (tmp_path / "examples").mkdir()
    for venv in VENV_OF.values():
        python = tmp_path / venv / "bin" / "python"
        python.parent.mkdir(parents=True)
        python.write_text(OLD_PYTHON.replace("VENV", venv))
        python.chmod(0o755)
    return tmp_path


def run_script(checkout: Path, name: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {key: value for key, value in os.environ.items() if key not in ("PYTHON", "VENV")}
    return subprocess.run(
        ["bash", str(checkout / "scripts" / name)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**environ, **env},
    )


@pytest.mark.parametrize("script", ["examples.sh", "test.sh"])
def test_an_environment_of_another_python_than_the_one_asked_for_is_not_used(
    checkout: Path, script: str
) -> None:
    result = run_script(checkout, script, PYTHON=sys.executable)
    mine = "{}.{}".format(*sys.version_info[:2])
    venv = VENV_OF[script]
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip() == (
        f"{venv} has Python 3.10, but PYTHON={sys.executable} is Python {mine}: remove {venv}, "
        f"or give this interpreter an environment of its own (VENV={venv}-{mine})"
    )
    assert "RAN" not in result.stdout  # nothing installed into it, nothing run
    assert (checkout / venv / "bin" / "python").read_text() == OLD_PYTHON.replace("VENV", venv)


@pytest.mark.parametrize("script", ["examples.sh", "test.sh"])
def test_the_environment_made_earlier_is_used_when_no_python_is_asked_for(
    checkout: Path, script: str
) -> None:
    result = run_script(checkout, script)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"RAN in {VENV_OF[script]}: -m pytest -p no:cacheprovider" in result.stdout


@pytest.mark.parametrize("script", ["examples.sh", "test.sh"])
def test_an_environment_given_by_its_absolute_path_is_used(
    checkout: Path, tmp_path_factory: pytest.TempPathFactory, script: str
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "env"
    shutil.copytree(checkout / VENV_OF[script], elsewhere)
    result = run_script(checkout, script, VENV=str(elsewhere))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"RAN in {VENV_OF[script]}: -m pytest -p no:cacheprovider" in result.stdout
