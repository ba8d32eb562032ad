"""Fault injection for the reliability tests: kill the process at a named point of a run.

Set ``EXPGUARD_KILL_AT`` to a checkpoint name (``model:<name>``, ``parquet:<name>``,
``database:<name>``, ``commit``, ``publish``, ``published``) and the run sends itself SIGKILL when it gets there, as a
crash or an ``kill -9`` from an orchestrator would. Unset (always, outside tests) it does nothing.
"""

from __future__ import annotations

import os
import signal

ENV = "EXPGUARD_KILL_AT"


def checkpoint(name: str) -> None:
    """Die here, at once and without cleanup, when ``EXPGUARD_KILL_AT`` names this point."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
