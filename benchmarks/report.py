"""The shape every suite's section of docs/benchmarks.md takes."""

from __future__ import annotations

from collections.abc import Sequence

Row = tuple[str, str, str]  # measure, value, target


def section(title: str, rows: Sequence[Row], intro: Sequence[str] = ()) -> list[str]:
    """A section: its title, optional lines of explanation, then the measures as a table."""
    lines = [title, "", *intro, *([""] if intro else [])]
    lines += ["| measure | value | target |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {target} |" for name, value, target in rows]
    return lines
