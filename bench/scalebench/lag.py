"""Status lag: from the moment a task changed on Supervisely to the moment the API server showed it.

The simulator says when each task changed (its timeline, wall-clock times); the watch says when
each object's status showed what. A change counts as shown once the object's status names that
task with that status or a later one (a poll may skip ``consumed`` and see ``started``: then
``consumed`` was shown late, at that moment), or once the object has moved on to a newer task.
Pure functions, so a unit of their own.
"""

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scalebench.watch import ObjectHistory

STATUS_RANK = {
    "queued": 0,
    "consumed": 1,
    "started": 2,
    "deployed": 2,
    "terminating": 3,
    "finished": 4,
    "error": 4,
    "stopped": 4,
}


@dataclass(frozen=True)
class LagSummary:
    """Lags in seconds: overall and per status reached; ``missed`` were never shown."""

    samples: int
    missed: int
    p50: float | None
    p95: float | None
    maximum: float | None
    by_status: dict[str, dict[str, float | int | None]] = field(default_factory=dict)


def percentile(values: Sequence[float], share: float) -> float | None:
    """The value below which ``share`` (0..1) of ``values`` lie, nearest rank; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))
    return ordered[index]


def _wall(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _owners(objects: Iterable[ObjectHistory]) -> dict[int, tuple[ObjectHistory, list[int]]]:
    """Task id -> (its object, that object's task ids in the order they appeared)."""
    owners: dict[int, tuple[ObjectHistory, list[int]]] = {}
    for history in objects:
        order: list[int] = []
        for seen in history.observations:
            if seen.task_id is not None and (not order or order[-1] != seen.task_id):
                order.append(seen.task_id)
        for task_id in order:
            owners.setdefault(task_id, (history, order))
    return owners


def _shown_at(history: ObjectHistory, order: list[int], task_id: int, rank: int) -> float | None:
    position = order.index(task_id)
    for seen in history.observations:
        if seen.task_id is None:
            continue
        if seen.task_id == task_id and STATUS_RANK.get(seen.remote_status or "", -1) >= rank:
            return seen.at
        if seen.task_id in order and order.index(seen.task_id) > position:
            return seen.at
    return None


def status_lags(
    tasks: Sequence[Mapping[str, Any]],
    objects: Mapping[str, ObjectHistory],
    *,
    settled_before: float,
    now: float,
) -> LagSummary:
    """Lags of every status change after creation, up to ``now``.

    A change never shown counts as missed if it happened before ``settled_before`` (it had time
    enough to show), with the time from the change until the object was deleted (or ``now``) as
    its lag: a lower bound, so a run that loses changes looks worse, never better. A later
    change not shown yet is left out.
    """
    owners = _owners(objects.values())
    lags: list[float] = []
    by_status: dict[str, list[float]] = {}
    missed = 0
    for task in tasks:
        owner = owners.get(int(task["id"]))
        if owner is None:
            continue
        history, order = owner
        for change in task["transitions"][1:]:
            at = _wall(change["at"])
            shown = _shown_at(history, order, int(task["id"]), STATUS_RANK[change["status"]])
            if shown is not None:
                lag = max(0.0, shown - at)
            elif at <= settled_before:
                missed += 1
                lag = (history.deleted_at or now) - at
            else:
                continue
            lags.append(lag)
            by_status.setdefault(change["status"], []).append(lag)
    return LagSummary(
        samples=len(lags),
        missed=missed,
        p50=percentile(lags, 0.5),
        p95=percentile(lags, 0.95),
        maximum=max(lags) if lags else None,
        by_status={
            status: {
                "samples": len(values),
                "p50": percentile(values, 0.5),
                "p95": percentile(values, 0.95),
                "mean": statistics.fmean(values),
            }
            for status, values in sorted(by_status.items())
        },
    )
