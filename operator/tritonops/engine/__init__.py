"""The pure core: from (resource, observations, now) to (new status, actions). No I/O here."""
