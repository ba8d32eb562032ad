"""``expguard diagnose`` (and ``expguard.diagnose``): the exposure-rate-drop runbook, walked by the tool.

When an experiment's exposure rate drops, someone used to walk a runbook by hand (the runbook in
the project's shared files). A diagnosis walks it for one experiment and one assignment cohort:

1. **event name**: is the configured exposure event still logged, or did a look-alike name
   (a case or separator variant, a close spelling, an event carrying this experiment's id) take
   over, for all events or one platform's share?
2. **ingestion**: days with no events or far fewer than usual (missing partitions), and the
   ingestion lag per day when the source maps ``ingested_at``;
3. **status spikes**: no_exposure, pre_assignment_exposure, exposure_outside_window, mismatch and
   multi-variation shares of the cohort against the experiment's own baseline;
4. **raw vs deduped**: raw, rejected and deduped exposure events per day, duplicate events per
   exposure (double-firing), unassigned exposures (another identity);
5. **assignments**: assigned units per day and per variation, and the SRM checks;

and ranks the likely causes, each with its evidence and what to check next, under the
experiment's health verdict. See docs/diagnose.md.

Modules: ``run`` (the orchestrator), ``data`` (the queries), ``days`` (which cohort and days),
``steps/`` (one module per runbook step), ``checks`` (what the steps share), ``stats`` (judging a
series against the reference days, on :mod:`expguard.core.stats`), ``findings`` (the causes),
``ranking`` (the ranked causes), ``render`` (text and JSON).
"""

from __future__ import annotations

from .render import Diagnosis
from .run import config_from_cli, diagnose, diagnose_inputs, diagnose_observations

__all__ = ["Diagnosis", "diagnose", "diagnose_inputs", "diagnose_observations", "config_from_cli"]
