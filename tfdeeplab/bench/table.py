"""Printing a benchmark's rows as a table and as JSON."""

from __future__ import annotations

import platform
from pathlib import Path

from tfdeeplab.atomic_files import write_json


def format_table(rows: list[dict], columns: list[str]) -> str:
    """A fixed-width text table of `rows` (dicts) showing `columns` in order.

    Floats print with 3 significant decimals, missing cells as `-`.
    """

    def cell(value) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
        return str(value)

    cells = [[cell(row.get(column)) for column in columns] for row in rows]
    widths = [
        max(len(column), *(len(line[i]) for line in cells))
        for i, column in enumerate(columns)
    ]
    lines = [
        "  ".join(
            column.ljust(width) for column, width in zip(columns, widths, strict=True)
        )
    ]
    lines.append("  ".join("-" * width for width in widths))
    for line in cells:
        lines.append(
            "  ".join(
                value.ljust(width) for value, width in zip(line, widths, strict=True)
            )
        )
    return "\n".join(lines)


def emit(
    name: str,
    rows: list[dict],
    columns: list[str],
    settings: dict,
    json_path: Path | None,
) -> None:
    """Print the table and settings; write them (and the machine) to `json_path`."""
    print(f"benchmark: {name}  " + "  ".join(f"{k}={v}" for k, v in settings.items()))
    print(format_table(rows, columns))
    if json_path is not None:
        payload = {
            "benchmark": name,
            "settings": settings,
            "machine": {
                "python": platform.python_version(),
                "processor": platform.machine(),
            },
            "rows": rows,
        }
        write_json(json_path, payload)
        print(f"wrote {json_path}")
