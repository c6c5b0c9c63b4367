"""The one error type of `tritonops package`: bad input the user can fix, reported as a single line."""

from __future__ import annotations


class PackagingError(Exception):
    """A model, example input or option that cannot be packaged; str() is one line for the user."""
