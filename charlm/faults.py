"""Fault injection for the kill harness (benchmarks/kill_harness.py) and the fault tests.

`kill_point(name)` marks a moment in training where a real crash could happen. With
CHARLM_KILL_AT=NAME:N in the environment, the process kills itself with SIGKILL the N-th time it
reaches NAME, exactly as the OOM killer or a pre-empted VM would: no handler, no cleanup.
CHARLM_KILL_AT=NAME:N:SIGTERM (or SIGINT) sends that signal instead, to the real handlers, at a
moment a test can name. Without the variable it does nothing. The points:

    step              after a training step
    validation        during a validation, before best/ is written
    checkpoint-write  inside a checkpoint write, after the weights are staged
    checkpoint-swap   between the two renames that swap a checkpoint folder in
    after-checkpoint  right after last/ is written
    finished          after the final checkpoint, before the run reports and exits
"""

from __future__ import annotations

import os
import signal

ENV = "CHARLM_KILL_AT"
POINTS = ("step", "validation", "checkpoint-write", "checkpoint-swap", "after-checkpoint",
          "finished")
_reached: dict[str, int] = {}


def kill_point(name: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    point, _, rest = spec.partition(":")
    if point != name:
        return
    nth, _, signame = rest.partition(":")
    _reached[spec] = _reached.get(spec, 0) + 1  # per spec: tests set several in one process
    if _reached[spec] == int(nth or 1):
        os.kill(os.getpid(), getattr(signal, signame or "SIGKILL"))
