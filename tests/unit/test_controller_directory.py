"""The index as the passes read it: what another writer left on an object reads as nothing
known, never as a failed pass."""

from datetime import UTC, datetime

from supervisely_operator.api import TaskPhase, resource
from supervisely_operator.controller.directory import Directory, index_entries


def task(name: str, *, status: dict[str, object], **metadata: object) -> dict[str, object]:
    return {
        "metadata": {"namespace": "ml", "name": name, "uid": f"uid-{name}", **metadata},
        "spec": {"moduleId": 101},
        "status": status,
    }


def directory_of(*bodies: dict[str, object]) -> Directory:
    index: dict[object, list[object]] = {}
    for body in bodies:
        for key, entry in index_entries(body).items():
            index.setdefault(key, []).append(entry)
    return Directory(index)  # type: ignore[arg-type]


def test_a_phase_or_outputs_this_operator_does_not_know_read_as_none() -> None:
    directory = directory_of(
        task("train", status={"phase": "Hibernating", "outputs": {"project": "not an object"}})
    )
    found, _ = directory.sources("ml", ["train"])
    source = found["train"]
    assert source is not None
    assert (source.phase, source.outputs) == (None, None)


def test_a_run_reads_its_times_as_aware_moments_and_a_manual_run_as_unscheduled() -> None:
    owner = {"kind": resource.CRON_KIND, "uid": "cron-uid", "controller": True}
    scheduled = {resource.SCHEDULED_AT_ANNOTATION: "2026-12-07T10:00:00Z"}
    manual = {resource.SCHEDULED_AT_ANNOTATION: "manual"}
    directory = directory_of(
        task(
            "nightly-1",
            status={"phase": "Succeeded", "finishedAt": "2026-12-07T10:05:00"},
            ownerReferences=[owner],
            annotations=scheduled,
        ),
        task(
            "nightly-m1", status={"phase": "Running"}, ownerReferences=[owner], annotations=manual
        ),
    )
    runs = {run.name: run for run in directory.runs("cron-uid")}
    assert runs["nightly-1"].scheduled_at == datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    assert runs["nightly-1"].finished_at == datetime(2026, 12, 7, 10, 5, tzinfo=UTC)
    assert runs["nightly-1"].phase is TaskPhase.SUCCEEDED
    assert runs["nightly-m1"].scheduled_at is None
