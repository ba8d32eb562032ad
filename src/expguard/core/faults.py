"""Fault injection for the reliability tests: kill the process at a named point of a run.

Set ``EXPGUARD_KILL_AT`` to a checkpoint name (``model:<name>``, ``parquet:<name>``,
``database:<name>``, ``commit``, ``publish``, ``publish:aside``, ``published``) and the run
sends itself SIGKILL when it gets there, as a crash or an ``kill -9`` from an orchestrator
would. Unset (always, outside tests) it does nothing.
"""

from __future__ import annotations

import os
import signal

ENV = "EXPGUARD_KILL_AT"
#: Set to 1 to make the folder exchange fail as on a kernel or file system without it (ENOSYS),
#: so that a run publishes by the link fallback (see expguard.outputs).
NO_EXCHANGE = "EXPGUARD_NO_EXCHANGE"


def exchange_refused() -> bool:
    """Whether the tests ask for the publication without the folder exchange."""
    return os.environ.get(NO_EXCHANGE) == "1"


def checkpoint(name: str) -> None:
    """Die here, at once and without cleanup, when ``EXPGUARD_KILL_AT`` names this point."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
