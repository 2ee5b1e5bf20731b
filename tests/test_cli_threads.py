"""The CLI starts torch's OpenMP runtime with its one thread: OMP_NUM_THREADS=1 before torch is imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO
from xor_lightning.cli import startup


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["fit"], "1"),
        (["fit", "--num_threads", "1"], "1"),
        (["fit", "--num_threads=1"], "1"),
        (["fit", "--num_threads", "2"], None),  # asked for more: torch.set_num_threads(2) decides
        (["fit", "--num_threads=0"], None),  # torch's default
    ],
)
def test_one_thread_unless_the_command_line_asks_for_others(monkeypatch, args, expected):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(sys, "orig_argv", [sys.executable, "-m", "xor_lightning", *args])
    monkeypatch.setattr(sys, "argv", ["xor_lightning", *args])
    startup.one_thread()
    assert startup.os.environ.get("OMP_NUM_THREADS") == expected


def test_the_environment_and_python_callers_keep_their_setting(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    monkeypatch.setattr(sys, "orig_argv", [sys.executable, "-m", "xor_lightning", "fit"])
    startup.one_thread()
    assert startup.os.environ["OMP_NUM_THREADS"] == "4"
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(sys, "orig_argv", [sys.executable, "-m", "pytest"])  # not the CLI: nothing set
    startup.one_thread()
    assert "OMP_NUM_THREADS" not in startup.os.environ


def test_the_cli_process_runs_torch_on_one_openmp_thread(tmp_path):
    # A fresh process that imports the CLI as `python -m xor_lightning` does: torch, imported after it,
    # starts with one thread (two on a 2-core machine without the setting).
    code = (
        "import runpy, sys; sys.argv = ['xor_lightning', '--help']; sys.orig_argv = [sys.executable, '-m', "
        "'xor_lightning']\nimport xor_lightning.cli, os, torch\nprint(os.environ.get('OMP_NUM_THREADS'), "
        "torch.get_num_threads())"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "OMP_NUM_THREADS"}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1"]
