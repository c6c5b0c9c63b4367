"""Errors that the reconcile loop tells apart from the rest."""

from __future__ import annotations


class InvalidSpecError(ValueError):
    """A spec the CRD's schema and rules let through but the operator cannot build from.

    Retrying does not help until the spec changes, so it is reported in status (with
    `observedGeneration` advanced) rather than only retried.
    """

    def __init__(self, *, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
