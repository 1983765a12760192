"""The benchmark's results as a table (stdout and Markdown), JSON and a plot, goals alongside.

Everything here reads the JSON form of the results, so a report can be redrawn from a saved
``latest.json``. The issue's goals (issue 8) are stated at 1,000 and at 10,000 objects; a goal
of a size also applies as a ceiling to smaller runs, and the two per-task goals (calls per task
per minute, status lag) apply at every size.
"""

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Results = dict[str, Any]
"""One run: ``{"n", "floor", "operator", "sdk_wait_loop", "naive_operator", "errors"}``."""


@dataclass(frozen=True)
class Goal:
    """An upper bound from the issue, shown beside the figure it bounds."""

    limit: float
    unit: str = ""

    def mark(self, value: float | None) -> str:
        if value is None:
            return f"✗ ≤{self.limit:g}{self.unit}"
        return f"{'✓' if value <= self.limit else '✗'} ≤{self.limit:g}{self.unit}"


def goals_for(n: int, *, poll_interval: float) -> dict[str, Goal]:
    """Which goals bound a run of ``n`` objects, by figure name."""
    goals = {
        "steady_calls_per_task_min": Goal(0.06),
        "lag_p95": Goal(poll_interval + 2.0, " s"),
    }
    if n <= 10_000:
        goals |= {
            "running": Goal(120.0, " s"),
            "cpu_steady_pct": Goal(25.0, " %"),
            "rss_peak_mb": Goal(600.0, " MB"),
        }
    if n <= 1_000:
        goals |= {
            "task_ids": Goal(10.0, " s"),
            "floor_ratio": Goal(7.0, "x"),
            "cpu_steady_pct": Goal(10.0, " %"),
            "rss_peak_mb": Goal(250.0, " MB"),
            "delete": Goal(15.0, " s"),
        }
    return goals


COLUMNS = (
    "N",
    "contender",
    "task ids (s)",
    "x floor",
    "all Running (s)",
    "calls/task/min",
    "lag p50 / p95 (s)",
    "poll lag p95 (s)",
    "CPU total (s)",
    "CPU steady (% core)",
    "RSS peak / steady (MB)",
    "delete all (s)",
    "live left",
    "log errors / warnings",
)
NOTES = (
    "task ids: from the last apply until every object has status.taskId (floor: N creates + N "
    "status patches, 32 in flight; SDK loop: starting N tasks directly).",
    "x floor: from the first apply until every task id, over the floor.",
    "all Running: from the last apply until every serving and finishing app was Running.",
    "calls/task/min: Supervisely calls per object per minute in the steady window, which opens "
    "once all were Running and the failing apps have used up their restarts; finishing apps "
    "end during it.",
    "lag: from a task's status change on Supervisely until a watch showed it in status.",
    "poll lag: the operator's supervisely_operator_poll_lag_seconds histogram.",
    "live left: tasks not stopped, finished or error after deleting every object.",
    "✓/✗: the issue's goal; the 1,000 goals also bound smaller N, the 10,000 goals larger N; "
    "calls/task/min and lag at every N.",
)


def _num(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}"


def _with_goal(text: str, goal: Goal | None, value: float | None) -> str:
    return text if goal is None else f"{text} {goal.mark(value)}"


def rows(results: Sequence[Results]) -> list[list[str]]:
    """One row per size and contender, cells as text."""
    table: list[list[str]] = []
    for run in results:
        n = run["n"]
        size = f"{n:,}"
        floor, operator = run.get("floor"), run.get("operator")
        if floor:
            table.append(
                [size, "floor (API server only)", _num(floor["create_and_patch_s"]),
                 *["—"] * 8, _num(floor["delete_s"]), "—", "—"]
            )  # fmt: skip
        if operator:
            table.append([size, "operator", *_operator_cells(operator, floor)])
        sdk = run.get("sdk_wait_loop")
        if sdk and not sdk.get("failed"):
            rss = f"{_num(sdk['rss_peak_mb'], 0)} / —"
            table.append(
                [size, "(a) SDK wait loop", _num(sdk["start_s"]), "—", "—",
                 _num(sdk["calls_per_task_min"], 2), "—", "—", _num(sdk["cpu_window_s"]),
                 _num(sdk["cpu_pct"]), rss, "—", "—", "—"]
            )  # fmt: skip
        naive = run.get("naive_operator")
        if naive:
            rss = f"{_num(naive['rss_peak_mb'], 0)} / {_num(naive['rss_steady_mb'], 0)}"
            table.append(
                [size, "(b) naive kopf operator", _num(naive["task_ids_after_apply_s"]), "—",
                 "—", _num(naive["steady_calls_per_task_min"], 2), "—", "—",
                 _num(naive["cpu_total_s"]), _num(naive["cpu_steady_pct"]), rss, "—", "—", "—"]
            )  # fmt: skip
        for problem in run.get("errors", []):
            table.append([size, "ERROR", problem[:200], *[""] * (len(COLUMNS) - 3)])
    return table


def floor_ratio(operator: Results, floor: Results | None) -> float | None:
    """The operator's first-apply-to-last-task-id time over the floor's create+patch time."""
    first = operator.get("task_ids_from_first_apply_s")
    if not floor or first is None or not floor["create_and_patch_s"]:
        return None
    ratio: float = first / floor["create_and_patch_s"]
    return ratio


def _operator_cells(operator: Results, floor: Results | None) -> list[str]:
    goals = goals_for(operator["n"], poll_interval=operator["poll_interval_s"])
    lag = operator["lag"]
    ratio = floor_ratio(operator, floor)
    task_ids = operator["task_ids_after_apply_s"]
    running = operator["running_after_apply_s"]
    calls = operator["steady_calls_per_task_min"]
    return [
        _with_goal(_num(task_ids), goals.get("task_ids"), task_ids),
        _with_goal(_num(ratio), goals.get("floor_ratio"), ratio),
        _with_goal(_num(running), goals.get("running"), running),
        _with_goal(_num(calls, 3), goals.get("steady_calls_per_task_min"), calls),
        _with_goal(f"{_num(lag['p50'])} / {_num(lag['p95'])}", goals.get("lag_p95"), lag["p95"]),
        _num(operator["poll_lag_p95_s"], 2),
        _num(operator["cpu_total_s"]),
        _with_goal(
            _num(operator["cpu_steady_pct"]),
            goals.get("cpu_steady_pct"),
            operator["cpu_steady_pct"],
        ),
        _with_goal(
            f"{_num(operator['rss_peak_mb'], 0)} / {_num(operator['rss_steady_mb'], 0)}",
            goals.get("rss_peak_mb"),
            operator["rss_peak_mb"],
        ),
        _with_goal(_num(operator["delete_s"]), goals.get("delete"), operator["delete_s"]),
        _live(operator),
        f"{operator['log_errors']} / {operator['log_warnings']}",
    ]


def _live(operator: Results) -> str:
    """Live tasks of the run's objects, and those of no object if there are any."""
    ours, other = operator["left_live"], operator.get("other_live") or 0
    return f"{ours} (+{other} of no object)" if other else str(ours)


def text_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, for a terminal."""
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
             for row in [header, *body]]  # fmt: skip
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def markdown_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    """A GitHub Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body]
    return "\n".join(lines)


WRITES_HEADER = ("N", "contender", "lifecycle", "objects", "status writes", "metadata-only")


def writes_rows(results: Sequence[Results]) -> list[list[str]]:
    """MODIFIED events per object over its life, by lifecycle (the watch's count)."""
    table = []
    for run in results:
        for contender, key in (("operator", "operator"), ("(b) naive", "naive_operator")):
            found = run.get(key)
            for lifecycle, writes in ((found or {}).get("writes") or {}).items():
                table.append(
                    [f"{run['n']:,}", contender, lifecycle, str(writes["objects"]),
                     _num(writes["status_writes"]), _num(writes["metadata_only_writes"])]
                )  # fmt: skip
    return table


def calls_lines(results: Sequence[Results]) -> list[str]:
    """Per size: the operator's Supervisely calls by method (whole run, steady window), the CPU
    its neighbours used meanwhile, and its most frequent log errors and warnings."""
    lines = []
    for run in results:
        operator = run.get("operator")
        if not operator:
            continue
        total = ", ".join(f"{m} {c:,}" for m, c in operator["calls"].items())
        steady = ", ".join(f"{m} {c:,}" for m, c in operator["steady_calls"].items()) or "none"
        window = operator["steady_window_s"]
        lines.append(f"N={run['n']:,}: calls, whole run: {total}; steady {window:.0f} s: {steady}")
        polls = operator.get("steady_polls_per_task_min")
        if polls is not None:
            lines.append(f"  steady polls (tasks.info + tasks.list): {polls:.3f} per task per min")
        neighbours = ", ".join(f"{k} {v:.1f}" for k, v in operator["neighbour_cpu_s"].items())
        lines.append(
            f"  CPU seconds meanwhile: operator {operator['cpu_total_s']:.1f}, {neighbours}"
        )
        lines += [f"  operator log: {sample}" for sample in operator["log_samples"]]
    return lines


def render_text(results: Sequence[Results]) -> str:
    """Everything for stdout."""
    parts = [
        text_table(COLUMNS, rows(results)),
        "",
        *NOTES,
        "",
        "Writes per object life (MODIFIED events seen by a watch):",
        text_table(WRITES_HEADER, writes_rows(results)),
        "",
        "The operator's run in detail:",
        *calls_lines(results),
    ]
    return "\n".join(parts)


def render_markdown(results: Sequence[Results], *, context: str) -> str:
    """``latest.md``: a section the README can include."""
    parts = [
        context,
        "",
        markdown_table(COLUMNS, rows(results)),
        "",
        *(f"- {note}" for note in NOTES),
        "",
        "Writes per object life (MODIFIED events seen by a watch):",
        "",
        markdown_table(WRITES_HEADER, writes_rows(results)),
        "",
        "The operator's run in detail:",
        "",
        *(f"- {line.strip()}" for line in calls_lines(results)),
        "",
    ]
    return "\n".join(parts)


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")


Series = Callable[[Results], float | None]


def plot(results: Sequence[Results], path: Path) -> None:
    """``scale.png``: the main figures against N, one panel each, goals dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [run["n"] for run in results]
    intervals = [(run.get("operator") or {}).get("poll_interval_s") for run in results]
    poll_interval = next((i for i in intervals if i is not None), 10.0)

    def get(contender: str, key: str) -> Series:
        return lambda run: (run.get(contender) or {}).get(key)

    panels: list[tuple[str, list[tuple[str, Series]], list[tuple[float, str]], bool]] = [
        (
            "seconds until every task id",
            [
                ("operator (after last apply)", get("operator", "task_ids_after_apply_s")),
                ("floor: creates + patches", get("floor", "create_and_patch_s")),
                ("(b) naive (after last apply)", get("naive_operator", "task_ids_after_apply_s")),
            ],
            [(10.0, "goal at 1,000")],
            False,
        ),
        (
            "seconds until all Running",
            [("operator", get("operator", "running_after_apply_s"))],
            [(120.0, "goal at 10,000")],
            False,
        ),
        (
            "steady calls / task / min",
            [
                ("operator", get("operator", "steady_calls_per_task_min")),
                ("(a) SDK wait loop", get("sdk_wait_loop", "calls_per_task_min")),
                ("(b) naive", get("naive_operator", "steady_calls_per_task_min")),
            ],
            [(0.06, "goal")],
            True,
        ),
        (
            "steady CPU, % of a core",
            [
                ("operator", get("operator", "cpu_steady_pct")),
                ("(a) SDK wait loop", get("sdk_wait_loop", "cpu_pct")),
                ("(b) naive", get("naive_operator", "cpu_steady_pct")),
            ],
            [(10.0, "goal at 1,000"), (25.0, "goal at 10,000")],
            False,
        ),
        (
            "peak RSS, MB",
            [
                ("operator", get("operator", "rss_peak_mb")),
                ("(a) SDK wait loop", get("sdk_wait_loop", "rss_peak_mb")),
                ("(b) naive", get("naive_operator", "rss_peak_mb")),
            ],
            [(250.0, "goal at 1,000"), (600.0, "goal at 10,000")],
            False,
        ),
        (
            "seconds: status lag p95, delete all",
            [
                ("lag p95", lambda run: ((run.get("operator") or {}).get("lag") or {}).get("p95")),
                ("delete all", get("operator", "delete_s")),
            ],
            [(15.0, "delete goal at 1,000"), (poll_interval + 2.0, "lag goal")],
            False,
        ),
    ]
    figure, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    for axis, (title, series, goals, log_y) in zip(axes.flat, panels, strict=True):
        for label, value in series:
            points = [(n, value(run)) for n, run in zip(sizes, results, strict=True)]
            shown = [(n, v) for n, v in points if v is not None]
            if shown:
                axis.plot(*zip(*shown, strict=True), marker="o", label=label)
        for (goal, label), style in zip(goals, ("--", ":"), strict=False):
            axis.axhline(
                goal, color="grey", linestyle=style, linewidth=1, label=f"{label}: {goal:g}"
            )
        axis.set_title(title)
        axis.set_xscale("log")
        if log_y:
            axis.set_yscale("log")
        axis.set_xlabel("N objects")
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle("SuperviselyTask operator at scale (local control plane + simulator)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
