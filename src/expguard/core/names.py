"""When an event name looks like the configured exposure event name: one rule for the health
checks (``exposure_events_present``'s nearest candidates) and ``diagnose`` (a renamed event)."""

from __future__ import annotations

import difflib
import re

#: The similarity from which a name looks like another: the difflib ratio of ``experimentview`` to
#: ``experimentviewed`` is 0.93, of ``pageview`` 0.5.
LOOKALIKE = 0.8


def normalized(name: str) -> str:
    """An event name without case or separators.

    >>> normalized("Experiment Viewed") == normalized("experiment_viewed") == normalized("experimentViewed")
    True
    """
    return re.sub(r"[^0-9a-z]", "", name.lower())


def similarity(name: str, configured: str) -> float:
    """1.0 for a case or separator variant, else difflib's ratio of the normalized names.

    >>> similarity("ExperimentViewed", "experiment_viewed"), similarity("experiment_view", "experiment_viewed")
    (1.0, 0.933)
    >>> similarity("page_view", "experiment_viewed") < LOOKALIKE
    True
    """
    a, b = normalized(name), normalized(configured)
    if a == b:
        return 1.0
    return round(difflib.SequenceMatcher(None, a, b).ratio(), 3)
