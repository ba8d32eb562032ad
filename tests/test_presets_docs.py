"""docs/configuration.md lists every preset's mapping as the preset files hold it.

To regenerate the list after editing a preset file:

    EXPGUARD_UPDATE_DOCS=1 python -m pytest tests/test_presets_docs.py
"""

from __future__ import annotations

import os
from pathlib import Path

from expguard.settings.presets import DOCS_BEGIN, DOCS_END, docs_section, presets

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def test_the_configuration_doc_lists_every_preset_as_its_file_maps_it():
    text = DOC.read_text(encoding="utf-8")
    before, _, rest = text.partition(DOCS_BEGIN + "\n")
    listed, _, after = rest.partition(DOCS_END)
    expected = docs_section()
    if os.environ.get("EXPGUARD_UPDATE_DOCS") == "1":
        DOC.write_text(before + DOCS_BEGIN + "\n" + expected + DOCS_END + after, encoding="utf-8")
        return
    assert listed == expected, "docs/configuration.md differs from the preset files; rerun with EXPGUARD_UPDATE_DOCS=1"
    for name in presets():
        assert f"#### `{name}`" in listed


def test_the_readme_shows_a_preset():
    readme = (DOC.parent.parent / "README.md").read_text(encoding="utf-8")
    assert "--events-preset" in readme and "preset" in readme.split("## Run it on your data", 1)[1].split("\n## ", 1)[0]
