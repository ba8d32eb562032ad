"""Engine registry. Engines know nothing about experiments; models know nothing about engines."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.constants import ENGINES

if TYPE_CHECKING:  # pragma: no cover
    from ..settings.config import EngineSettings
    from .base import Engine

__all__ = ["ENGINES", "create_engine"]


def create_engine(settings: "EngineSettings") -> "Engine":
    """Instantiate the engine named in ``settings``."""
    import importlib

    module_name, _, class_name = ENGINES[settings.name].partition(":")
    engine_class = getattr(importlib.import_module(module_name), class_name)
    return engine_class(settings)
