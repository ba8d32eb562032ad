"""The five runbook steps, in order; each a module of named functions (gather the series, judge
it, make the finding) ending in its ``check_*`` function of the diagnosis context."""

from .assignments import check_assignment_volume
from .event_name import check_event_name
from .ingestion import check_ingestion
from .raw_vs_deduped import check_raw_vs_deduped
from .statuses import check_status_spikes

STEPS = (check_event_name, check_ingestion, check_status_spikes, check_raw_vs_deduped, check_assignment_volume)

__all__ = ["STEPS", "check_assignment_volume", "check_event_name", "check_ingestion", "check_raw_vs_deduped",
           "check_status_spikes"]
