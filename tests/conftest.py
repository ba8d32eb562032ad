from __future__ import annotations

import sys
from pathlib import Path

# tests import their shared helpers (helpers.py, reference.py) by module name.
sys.path.insert(0, str(Path(__file__).parent))
