"""The live progress table of the demo: one row per SuperviselyTask, redrawn in place."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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


def render(rows: Sequence[Row], *, title: str) -> Table:
    """The table for one moment."""
    table = Table(title=title, expand=False)
    for column in ("NAME", "PHASE", "EXPECTED", "TASK", "REMOTE", "RESTARTS"):
        table.add_column(column, no_wrap=True)
    table.add_column("MESSAGE", overflow="fold")
    for row in rows:
        style = PHASE_STYLES.get(row.phase, "")
        mark = " ✓" if row.settled else ""
        table.add_row(
            row.name,
            f"[{style}]{row.phase}[/{style}]{mark}" if style else row.phase,
            row.expected or "-",
            row.task_id,
            row.remote_status,
            str(row.restarts),
            row.message[:80],
        )
    return table
