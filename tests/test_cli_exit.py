"""``salesnb.cli.commands.run``: every exit handler runs, the exit code is kept, and the
interpreter's teardown is skipped only when the command finished."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import atexit, logging, sys
from salesnb.cli import commands

class Teardown:
    def __del__(self):
        print("teardown ran", flush=True)

keep = Teardown()  # freed by the interpreter's teardown only
log = logging.getLogger("exit-test")
handler = logging.StreamHandler(sys.stdout)
log.addHandler(handler)

def main():
    atexit.register(lambda: print("handler ran", flush=True))
    sys.stdout.write("unflushed output")  # no newline, no flush: the exit must flush it
    log.warning("logged")
    {how}

commands.main = main
commands.run()
"""


def _run(how: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT.format(how=how)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(("how", "code"), [("pass", 0), ("sys.exit(3)", 3), ("sys.exit()", 0)])
def test_a_finished_command_runs_every_exit_handler_and_skips_the_teardown(how, code):
    proc = _run(how)
    assert proc.returncode == code, proc.stderr
    assert "handler ran" in proc.stdout
    assert "unflushed output" in proc.stdout
    assert "logged" in proc.stdout
    assert "teardown ran" not in proc.stdout


def test_a_message_exit_prints_it_and_ends_with_1():
    proc = _run("sys.exit('Bad input: fix it')")
    assert proc.returncode == 1
    assert "Bad input: fix it" in proc.stderr
    assert "teardown ran" not in proc.stdout


def test_a_command_that_raised_exits_as_python_does():
    proc = _run("raise RuntimeError('boom')")
    assert proc.returncode == 1
    assert "RuntimeError: boom" in proc.stderr
    assert "handler ran" in proc.stdout
    assert "teardown ran" in proc.stdout  # the normal exit, teardown included
