"""The live progress table of the demo: one row per SuperviselyTask, redrawn in place."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.table import Table

PHASE_STYLES = {
    "Succeeded": "green",
    "Running": "cyan",
    "Failed": "red",
    "Pending": "yellow",
    "Queued": "yellow",
    "Stopping": "magenta",
    "Suspended": "dim",
}


@dataclass(frozen=True)
class Row:
    """What the table shows of one resource."""

    name: str
    phase: str
    task_id: str
    restarts: int
    remote_status: str
    expected: str | None
    message: str

    @classmethod
    def of(cls, obj: Mapping[str, Any], expected: str | None) -> "Row":
        status = obj.get("status") or {}
        conditions = {c["type"]: c for c in status.get("conditions", [])}
        ready = conditions.get("Ready", {})
        synced = conditions.get("Synced", {})
        message = synced.get("message", "") if synced.get("status") == "False" else ""
        return cls(
            name=obj["metadata"]["name"],
            phase=status.get("phase", "-"),
            task_id=str(status.get("taskId", "-")),
            restarts=status.get("restarts", 0),
            remote_status=status.get("remoteStatus", "-"),
            expected=expected,
            message=message or ready.get("message", ""),
        )

    @property
    def settled(self) -> bool:
        """Reached the phase the demo expects (or, without an expectation, a resting one)."""
        if self.expected is not None:
            return self.phase == self.expected
        return self.phase in ("Succeeded", "Failed", "Running", "Suspended")


COLUMNS = (
    ("NAME", 20),
    ("PHASE", 11),
    ("EXPECTED", 9),
    ("TASK", 6),
    ("REMOTE", 9),
    ("RESTARTS", 8),
)
"""Every column but the message, with the most it takes (its cells are cut beyond that)."""
NARROW_COLUMNS = ("NAME", "PHASE", "TASK", "RESTARTS")
"""What a terminal under ``WIDE`` columns shows besides the message (the ✓ stands for
EXPECTED, the phase for REMOTE)."""
WIDE = 100
MESSAGE_MIN_WIDTH = 24
"""The message keeps this many columns on a narrow terminal; the others give way first."""


def render(rows: Sequence[Row], *, title: str, width: int) -> Table:
    """The table for one moment, for a terminal ``width`` columns wide: one line per resource,
    long cells cut with an ellipsis (a folded message made each row as tall as its text)."""
    shown = [(name, most) for name, most in COLUMNS if width >= WIDE or name in NARROW_COLUMNS]
    table = Table(title=title, expand=True, box=box.SIMPLE_HEAD, pad_edge=False, width=width)
    for name, most in shown:
        table.add_column(name, no_wrap=True, overflow="ellipsis", max_width=most)
    table.add_column(
        "MESSAGE", no_wrap=True, overflow="ellipsis", min_width=MESSAGE_MIN_WIDTH, ratio=1
    )
    for row in rows:
        style = PHASE_STYLES.get(row.phase, "")
        mark = " ✓" if row.settled else ""
        cells = {
            "NAME": row.name,
            "PHASE": f"[{style}]{row.phase}[/{style}]{mark}" if style else f"{row.phase}{mark}",
            "EXPECTED": row.expected or "-",
            "TASK": row.task_id,
            "REMOTE": row.remote_status,
            "RESTARTS": str(row.restarts),
        }
        table.add_row(*(cells[name] for name, _ in shown), row.message)
    return table
