"""How the scale benchmark matches the simulator's status changes to what a watch showed."""

from datetime import UTC, datetime

from scalebench.lag import percentile, status_lags
from scalebench.watch import ObjectHistory, Observation

T0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def iso(offset: float) -> str:
    moment = datetime.fromtimestamp(T0 + offset, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def task(task_id: int, *changes: tuple[str, float]) -> dict[str, object]:
    return {
        "id": task_id,
        "status": changes[-1][0],
        "transitions": [{"status": s, "at": iso(at), "attempt": 1} for s, at in changes],
    }


def history(*seen: tuple[float, int | None, str | None]) -> ObjectHistory:
    found = ObjectHistory(lifecycle="serve", added_at=T0)
    found.observations = [Observation(T0 + at, tid, status, None) for at, tid, status in seen]
    return found


def test_a_skipped_status_is_shown_by_the_later_one() -> None:
    tasks = [task(7, ("queued", 0.0), ("consumed", 1.0), ("started", 2.0))]
    objects = {"a": history((0.5, 7, "queued"), (3.0, 7, "started"))}
    lags = status_lags(tasks, objects, settled_before=T0 + 100, now=T0 + 100)
    assert lags.by_status["consumed"]["p50"] == 2.0, "consumed showed only when started did"
    assert lags.by_status["started"]["p50"] == 1.0
    assert (lags.samples, lags.missed) == (2, 0), "the creation (queued) is not a change"


def test_a_restart_shows_the_error_of_the_previous_task() -> None:
    tasks = [
        task(7, ("queued", 0.0), ("started", 2.0), ("error", 5.0)),
        task(8, ("queued", 7.0)),
    ]
    objects = {"a": history((0.5, 7, "queued"), (2.5, 7, "started"), (7.5, 8, "queued"))}
    lags = status_lags(tasks, objects, settled_before=T0 + 100, now=T0 + 100)
    assert lags.by_status["error"]["p50"] == 2.5, "the error showed as the next task"


def test_an_unshown_change_is_missed_only_once_it_had_time_to_show() -> None:
    tasks = [task(7, ("queued", 0.0), ("started", 2.0)), task(9, ("queued", 0.0), ("started", 9))]
    objects = {"a": history((0.5, 7, "queued")), "b": history((0.5, 9, "queued"))}
    lags = status_lags(tasks, objects, settled_before=T0 + 5, now=T0 + 10)
    assert (lags.samples, lags.missed) == (1, 1), "b's change is too recent to count"
    assert lags.p95 == 8.0, "a missed change counts with its age: a lower bound"


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.95) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 0.95) == 95.0
