"""spec.paramsFrom in the decision: wait, fail, say why, resolve once per generation.

The sources are what the watch's index shows of other SuperviselyTasks; each case names them.
"""

from typing import Any

import pytest

from supervisely_operator.api import (
    OutputExperiment,
    OutputLink,
    OutputLinkKind,
    OutputProject,
    SuperviselyTaskSpec,
    TaskOutputs,
    TaskPhase,
)
from supervisely_operator.reconcile.conditions import FAILED, Reason
from supervisely_operator.reconcile.decide import plan_next_step
from supervisely_operator.reconcile.launch import launch_hash
from supervisely_operator.reconcile.params import Resolved, Unresolved, resolve, with_values
from supervisely_operator.reconcile.situation import (
    Plan,
    RemoteStatus,
    ResourceRef,
    Source,
    StartTask,
)

from decision import observing, running_status, seen, situation, spec

OUTPUTS = TaskOutputs(
    experiment=OutputExperiment(
        best_checkpoint="best.pt",
        artifacts_dir="/experiments/7",
        model="yolov8s",
        metrics={"mAP": 0.72},
    ),
    project=OutputProject(id=55, name="Lemons"),
    link=OutputLink(kind=OutputLinkKind.DIRECTORY, title="run", url="https://sly/files/7"),
)
SERVE = spec(
    params={"model": {"device": "cuda"}},
    paramsFrom=[
        {"source": "fit", "output": "experiment.bestCheckpoint", "path": "model.checkpoint"}
    ],
)


def source(
    name: str = "fit",
    phase: TaskPhase | None = TaskPhase.SUCCEEDED,
    outputs: TaskOutputs | None = OUTPUTS,
    takes_from: tuple[str, ...] = (),
) -> Source:
    return Source(
        resource=ResourceRef(namespace="ml", name=name, uid=f"uid-{name}"),
        phase=phase,
        task_id=7,
        outputs=outputs,
        takes_from=takes_from,
    )


def first_start(spec_: Any = SERVE, **sources: Source | None) -> Plan:
    return plan_next_step(situation(spec_=spec_, sources=sources))


def ready_reason(plan: Plan) -> str:
    return next(c.reason for c in plan.status.conditions if c.type == "Ready")


def fails_with_fit() -> SuperviselyTaskSpec:
    """A spec whose params take the model name of ``fit`` and fail when ``fit`` fails."""
    return spec(
        paramsFrom=[
            {
                "source": "fit",
                "output": "experiment.modelName",
                "path": "m",
                "onSourceFailure": "Fail",
            }
        ]
    )


def test_the_start_carries_the_checkpoint_the_source_published_and_records_it() -> None:
    plan = first_start(fit=source())
    assert isinstance(plan.action, StartTask)
    assert plan.action.params == {
        "model": {"device": "cuda", "checkpoint": "/experiments/7/checkpoints/best.pt"}
    }
    recorded = plan.status.params_from
    assert recorded is not None
    assert recorded.generation == 2
    [value] = recorded.values
    assert (value.path, value.value, value.source, value.source_uid, value.source_task_id) == (
        "model.checkpoint",
        "/experiments/7/checkpoints/best.pt",
        "fit",
        "uid-fit",
        7,
    )


@pytest.mark.parametrize(
    ("output", "metric", "value"),
    [
        ("experiment.artifactsDir", None, "/experiments/7"),
        ("experiment.modelName", None, "yolov8s"),
        ("experiment.metric", "mAP", 0.72),
        ("project.id", None, 55),
        ("link.url", None, "https://sly/files/7"),
    ],
)
def test_each_output_is_copied_as_it_is(output: str, metric: str | None, value: Any) -> None:
    ref = {"source": "fit", "output": output, "path": "x"}
    consumer = spec(paramsFrom=[{**ref, **({"metric": metric} if metric else {})}])
    found = resolve(consumer.params_from or [], consumer="serve", sources={"fit": source()})
    assert isinstance(found, Resolved)
    assert found.values[0].value == value


def test_a_source_that_has_not_succeeded_yet_keeps_the_task_waiting() -> None:
    plan = first_start(fit=source(phase=TaskPhase.RUNNING, outputs=None))
    assert plan.action is None
    assert plan.status.phase is TaskPhase.PENDING
    assert ready_reason(plan) == Reason.WAITING_FOR_SOURCE
    assert [(e.type, e.reason) for e in plan.events] == [("Normal", Reason.WAITING_FOR_SOURCE)]
    assert plan.status.params_from is None


def test_a_missing_source_is_waited_for() -> None:
    plan = first_start(fit=None)
    assert plan.action is None
    assert ready_reason(plan) == Reason.SOURCE_NOT_FOUND


def test_a_failed_source_is_waited_for_or_fails_the_task_as_its_reference_says() -> None:
    failed = source(phase=TaskPhase.FAILED, outputs=None)
    waiting = first_start(fit=failed)
    assert (waiting.status.phase, ready_reason(waiting)) == (
        TaskPhase.PENDING,
        Reason.WAITING_FOR_SOURCE,
    )

    strict = fails_with_fit()
    failing = first_start(strict, fit=failed)
    assert failing.action is None
    assert failing.status.phase is TaskPhase.FAILED
    assert next(c.reason for c in failing.status.conditions if c.type == FAILED) == (
        Reason.SOURCE_FAILED
    )
    # The failure stands when the source later succeeds: only an edit or a restart request.
    later = plan_next_step(
        situation(spec_=strict, status_=failing.status, sources={"fit": source()})
    )
    assert later.action is None
    assert later.status.phase is TaskPhase.FAILED


def test_an_edit_failed_by_its_source_retires_the_old_task_and_stays_failed() -> None:
    """The task of the earlier spec ended; the edit's source failed under Fail. That old task
    must not speak for the new spec on the next pass (it finished: Succeeded, it errored: a
    restart)."""
    strict = fails_with_fit()
    for ended in (RemoteStatus.FINISHED, RemoteStatus.ERROR):
        before = running_status(phase="Succeeded", remoteStatus=ended.value)
        edited = plan_next_step(
            situation(
                spec_=strict,
                status_=before,
                observation=seen(remote=ended),
                sources={"fit": source(phase=TaskPhase.FAILED, outputs=None)},
            )
        )
        assert edited.status.phase is TaskPhase.FAILED
        assert edited.status.task_id is None
        assert edited.status.previous_task_ids[-1] == before.task_id
        again = plan_next_step(  # no task to watch now: nothing observed
            situation(
                spec_=strict,
                status_=edited.status,
                sources={"fit": source(phase=TaskPhase.FAILED, outputs=None)},
            )
        )
        assert (again.action, again.status.phase, again.events) == (None, TaskPhase.FAILED, ())


def test_a_circle_of_references_is_told_with_its_path() -> None:
    plan = first_start(
        fit=source(phase=TaskPhase.PENDING, takes_from=("prepare",)),
        prepare=source("prepare", phase=None, takes_from=("fit",)),
    )
    assert plan.action is None
    assert ready_reason(plan) == Reason.WAITING_FOR_SOURCE, "no circle through serve"

    own = first_start(fit=source(takes_from=("train",)))  # the resource under test is train
    assert own.action is None
    assert ready_reason(own) == Reason.REFERENCE_CYCLE
    condition = next(c for c in own.status.conditions if c.type == "Ready")
    assert condition.message == "paramsFrom goes round in a circle: train -> fit -> train"


def test_a_source_on_another_server_and_a_missing_output_need_a_person() -> None:
    foreign = plan_next_step(
        observing(
            situation(spec_=SERVE, sources={"fit": source()}),
            foreign_sources=frozenset({"fit"}),
        )
    )
    assert ready_reason(foreign) == Reason.SOURCE_ON_ANOTHER_SERVER
    bare = first_start(fit=source(outputs=TaskOutputs()))
    assert ready_reason(bare) == Reason.SOURCE_OUTPUT_MISSING
    assert [e.type for e in bare.events] == ["Warning"]


def test_a_restart_after_an_error_runs_with_the_values_recorded_for_the_generation() -> None:
    started = first_start(fit=source())
    newer = source(outputs=TaskOutputs(experiment=OutputExperiment(best_checkpoint="/e/8/b.pt")))
    errored = running_status(
        launchHash=launch_hash(SERVE),
        paramsFrom=started.status.params_from.to_wire(),  # type: ignore[union-attr]
        lastError={
            "reason": "TaskError",
            "message": "boom",
            "time": "2026-11-25T11:00:00Z",
            "taskId": 7,
        },
    )
    restart = plan_next_step(
        situation(
            spec_=SERVE,
            status_=errored,
            observation=seen(remote=RemoteStatus.ERROR),
            sources={"fit": newer},
        )
    )
    assert isinstance(restart.action, StartTask)
    assert restart.action.params["model"]["checkpoint"] == "/experiments/7/checkpoints/best.pt"


def test_a_restart_request_resolves_the_values_afresh() -> None:
    started = first_start(fit=source())
    newer = source(outputs=TaskOutputs(experiment=OutputExperiment(best_checkpoint="/e/8/b.pt")))
    finished = running_status(
        launchHash=launch_hash(SERVE),
        paramsFrom=started.status.params_from.to_wire(),  # type: ignore[union-attr]
        phase="Succeeded",
        remoteStatus="finished",
    )
    restart = plan_next_step(
        situation(
            spec_=SERVE,
            status_=finished,
            observation=seen(remote=RemoteStatus.FINISHED),
            sources={"fit": newer},
            restart_requested="r1",
        )
    )
    assert isinstance(restart.action, StartTask)
    assert restart.action.params["model"]["checkpoint"] == "/e/8/b.pt"


def test_values_go_where_their_paths_say_making_mappings_on_the_way() -> None:
    found = resolve(
        spec(paramsFrom=[{"source": "t", "output": "project.id", "path": "a.b.c"}]).params_from
        or [],
        consumer="c",
        sources={"t": source("t")},
    )
    assert isinstance(found, Resolved)
    assert with_values({"a": {"x": 1}, "keep": True}, found.values) == {
        "a": {"x": 1, "b": {"c": 55}},
        "keep": True,
    }
    assert with_values({"a": "scalar"}, found.values) == {"a": {"b": {"c": 55}}}


def test_the_first_problem_in_reference_order_is_the_one_told() -> None:
    two = (
        spec(
            paramsFrom=[
                {"source": "a", "output": "project.id", "path": "x"},
                {"source": "b", "output": "project.id", "path": "y"},
            ]
        ).params_from
        or []
    )
    found = resolve(two, consumer="c", sources={"a": None, "b": source("b", phase=None)})
    assert isinstance(found, Unresolved)
    assert found.reason == Reason.SOURCE_NOT_FOUND
