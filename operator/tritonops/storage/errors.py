"""The one error every store raises: a message that names the repository and never a credential."""

from __future__ import annotations


class StorageError(Exception):
    """The model cannot be read from its repository; the message says which and why."""
