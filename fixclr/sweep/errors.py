"""The error of a sweep config that cannot run."""

from __future__ import annotations

from fixclr.errors import UserError


class SweepConfigError(UserError, ValueError):
    """A sweep config that cannot run; the message names the key."""
