"""Errors a user can act on. The CLI prints ``str(error)`` on one line and exits 2."""

from __future__ import annotations


class ExpguardError(Exception):
    """Base class: a problem with the user's input, configuration or environment."""

    exit_code = 2

    def one_line(self) -> str:
        """The message folded onto one line, for stderr."""
        return " ".join(str(self).split())


class ConfigError(ExpguardError):
    """A variable, option, mapping or project-file value is invalid."""


class InputError(ExpguardError):
    """An input file or table cannot be found or read."""


class ContractError(ExpguardError):
    """An input breaks the contract of docs/contract.md (missing column, duplicate assignment, ...)."""


class EngineError(ExpguardError):
    """The engine failed while building a model."""


class LockError(ExpguardError):
    """Another run holds the output lock."""
