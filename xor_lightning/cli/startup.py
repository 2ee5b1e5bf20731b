"""Ctrl-C while the CLI starts: one line and exit 130, from the first import on.

Importing torch and Lightning is most of the start-up, and a KeyboardInterrupt raised inside an import (or inside
a library that catches it and raises something else) prints a long traceback. The CLI writes nothing
until its checks have passed, so until then a Ctrl-C can simply end the process. From there to the
first training step it is held, and StopOnInterrupt stops after that step, as it does later on.

Only the CLI installs this (`python -m xor_lightning`, the `xor-lightning` script): importing the
package from Python or a notebook leaves Ctrl-C alone. `guard` runs before the heavy imports
(xor_lightning/cli/__init__.py), so nothing heavy is imported here; `interrupts.StopOnInterrupt` takes over.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
from pathlib import Path
from typing import Any

requested = False  # a Ctrl-C came between the checks and the first training step


def is_cli() -> bool:
    argv = getattr(sys, "orig_argv", [])
    return ("-m", "xor_lightning") in itertools.pairwise(argv) or Path(sys.argv[0]).name == "xor-lightning"


def _exit_now(signum: int, frame: Any) -> None:
    # Nothing is written yet: no cleanup to do, and no exception to travel through half an import.
    os.write(2, b"interrupted\n")
    os._exit(130)


def _hold(signum: int, frame: Any) -> None:
    global requested
    if requested:  # a second Ctrl-C: stop at once, as StopOnInterrupt's does
        raise KeyboardInterrupt
    requested = True
    print("interrupt: stopping after the first step (Ctrl-C again to stop now)", file=sys.stderr, flush=True)


def guard() -> None:
    """From now until `release`, Ctrl-C ends the process with one line."""
    if is_cli() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _exit_now)


def one_thread() -> None:
    """OMP_NUM_THREADS=1 before torch is imported, unless the command line asks for other threads
    (`--num_threads N`, N != 1) or the environment already says how many.

    `--num_threads 1` (the default) becomes `torch.set_num_threads(1)` only after torch has started its
    OpenMP runtime, whose idle threads then still compete for the cores: on a busy machine a study ran
    several times slower than with this (bench/RESULTS.md). Set before the import, the runtime starts with
    one thread.
    """
    if not is_cli() or "OMP_NUM_THREADS" in os.environ:
        return
    args = sys.argv[1:]
    asked = [a.partition("=")[2] for a in args if a.startswith("--num_threads=")]
    asked += [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--num_threads"]
    if all(value.strip() == "1" for value in asked):
        os.environ["OMP_NUM_THREADS"] = "1"


def release(fit: bool) -> None:
    """The run starts writing now: hold a Ctrl-C for StopOnInterrupt (fit) or raise it (the rest)."""
    if signal.getsignal(signal.SIGINT) is _exit_now:
        signal.signal(signal.SIGINT, _hold if fit else signal.default_int_handler)
