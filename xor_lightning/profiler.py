"""The CLI's Trainer profiler: records nothing, like Lightning's default, and costs nothing per hook.

Lightning wraps every hook call in `with trainer.profiler.profile(name):`, for the module and for
each callback: about 80 times a training step with the shipped callbacks. Its default,
`PassThroughProfiler`, also records nothing, but builds a generator-based context manager on every
call; on a network this small that is a measurable part of the step (see bench/RESULTS.md).
`--trainer.profiler simple` (or `advanced`, `pytorch`) profiles as usual.
"""

from __future__ import annotations

import contextlib

from lightning.pytorch.profilers import PassThroughProfiler

_NOTHING = contextlib.nullcontext()


class NoProfiler(PassThroughProfiler):
    """`PassThroughProfiler` whose `profile()` hands out one shared, reusable null context."""

    def profile(self, action_name: str) -> contextlib.AbstractContextManager:  # type: ignore[override]
        return _NOTHING
