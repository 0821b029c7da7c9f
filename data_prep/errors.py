"""User-facing errors of data preparation: the CLI prints them without a traceback."""

from __future__ import annotations

from fixclr.errors import UserError


class DataPrepError(UserError):
    """Bad input or configuration; the message names the offending file, folder or key."""


def format_problems(header: str, problems: list[str], limit: int = 200) -> str:
    """``header`` followed by one indented line per problem (at most ``limit`` lines shown)."""
    lines = [f"{header} ({len(problems)}):"]
    lines += [f"  {p}" for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"  ... and {len(problems) - limit} more")
    return "\n".join(lines)
