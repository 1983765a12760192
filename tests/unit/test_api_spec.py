"""The SuperviselyTask models: examples parse, defaults hold, bad specs are refused clearly."""

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from supervisely_operator.api import (
    DeletionPolicy,
    KubernetesSettings,
    LogLevel,
    RestartPolicy,
    ServerRestartPolicy,
    SuperviselyTask,
    SuperviselyTaskSpec,
    SuperviselyTaskStatus,
)
from supervisely_operator.api.cron import SuperviselyCronTask, SuperviselyCronTaskSpec
from supervisely_operator.controller.reconciler import describe_invalid_spec

from spec_cases import (
    ADMITTED_EDGES,
    INVALID_CASES,
    EdgeCase,
    InvalidCase,
    example_objects,
    minimal_spec,
)


@pytest.mark.parametrize("obj", example_objects(), ids=lambda obj: obj["metadata"]["name"])
def test_every_example_is_a_valid_object_of_its_kind(obj: dict[str, Any]) -> None:
    if obj["kind"] == "SuperviselyCronTask":
        cron = SuperviselyCronTask.model_validate(obj)
        assert cron.spec.task_template.spec.workspace_id >= 1
        return
    task = SuperviselyTask.model_validate(obj)
    assert task.kind == "SuperviselyTask"
    assert task.spec.workspace_id >= 1


def task_specs() -> list[SuperviselyTaskSpec]:
    """Every example's SuperviselyTask spec, a cron task's template included."""
    return [
        SuperviselyTaskSpec.model_validate(
            obj["spec"]["taskTemplate"]["spec"]
            if obj["kind"] == "SuperviselyCronTask"
            else obj["spec"]
        )
        for obj in example_objects()
    ]


def test_examples_cover_the_main_jobs() -> None:
    specs = task_specs()
    kinds = {obj["kind"] for obj in example_objects()}
    assert kinds == {"SuperviselyTask", "SuperviselyCronTask"}, "both kinds"
    assert any(spec.app_slug for spec in specs), "an app named by slug"
    assert any(spec.module_id for spec in specs), "an app named by module id"
    assert any(spec.kubernetes_settings for spec in specs), "one with KubernetesSettings"
    assert any(spec.multi_user_session for spec in specs), "a shared session"
    assert any(spec.adopt_task_id for spec in specs), "adoption"
    assert any(spec.management_policy == "ObserveOnly" for spec in specs), "observe-only"
    assert any(spec.failure_rules for spec in specs), "failure rules"
    assert any(spec.start_deadline_seconds for spec in specs), "a start deadline"
    assert any(spec.poll_interval_seconds for spec in specs), "a poll interval"
    assert any(spec.params_from for spec in specs), "params from another task's outputs"


def test_defaults_are_the_sdk_defaults_and_the_operator_policy() -> None:
    spec = SuperviselyTaskSpec.model_validate(minimal_spec())
    assert spec.log_level is LogLevel.INFO
    assert spec.server_restart_policy is ServerRestartPolicy.NEVER
    assert spec.users_ids == []
    assert spec.params == {}
    assert (spec.is_branch, spec.multi_user_session, spec.limit_by_workspace) == (False,) * 3
    assert spec.restart_policy is RestartPolicy.ON_ERROR
    assert (spec.backoff.limit, spec.backoff.initial_delay_seconds) == (3, 10)
    assert spec.backoff.max_delay_seconds == 300
    assert spec.deletion_policy is DeletionPolicy.STOP
    assert spec.suspend is False
    assert spec.agent_id is None
    assert spec.credentials_secret_ref is None


def test_wire_form_is_camel_case_and_omits_unset_fields() -> None:
    spec = SuperviselyTaskSpec.model_validate(
        {**minimal_spec(), "kubernetesSettings": {"limitGpuMemoryMb": 4000}}
    )
    wire = spec.to_wire()
    assert wire["kubernetesSettings"] == {"limitGpuMemoryMb": 4000}
    assert wire["restartPolicy"] == "OnError"
    assert "agentId" not in wire
    assert SuperviselyTaskSpec.model_validate(wire) == spec


def test_python_names_are_accepted_too() -> None:
    spec = SuperviselyTaskSpec(module_id=7, workspace_id=3, users_ids=[4])
    assert spec.to_wire()["usersIds"] == [4]


@pytest.mark.parametrize("case", INVALID_CASES, ids=lambda case: case.name)
def test_invalid_spec_is_refused_naming_what_to_fix(case: InvalidCase) -> None:
    with pytest.raises(ValidationError) as raised:
        SuperviselyTaskSpec.model_validate(case.spec())
    assert case.mentions in str(raised.value), case.why


@pytest.mark.parametrize("case", ADMITTED_EDGES, ids=lambda case: case.name)
def test_specs_at_the_edge_of_a_rule_are_accepted(case: EdgeCase) -> None:
    wire = SuperviselyTaskSpec.model_validate(case.spec()).to_wire()
    assert {key: wire[key] for key in case.spec()} == case.spec(), case.why


def test_a_single_user_needs_no_shared_session() -> None:
    spec = SuperviselyTaskSpec.model_validate({**minimal_spec(), "usersIds": [5]})
    assert spec.users_ids == [5]


limits = st.integers(min_value=0, max_value=1024) | st.none()


@given(request=limits, limit=limits)
def test_cpu_request_rule_accepts_exactly_request_within_limit(
    request: int | None, limit: int | None
) -> None:
    acceptable = request is None or limit is None or request <= limit
    try:
        KubernetesSettings(request_cpus=request, limit_cpus=limit)
    except ValidationError:
        assert not acceptable
    else:
        assert acceptable


def test_status_defaults_are_empty_and_serialise_compactly() -> None:
    status = SuperviselyTaskStatus()
    assert status.to_wire() == {"restarts": 0, "previousTaskIds": [], "conditions": []}


def test_a_refusal_the_crd_could_have_made_blames_a_stale_crd_one_it_cannot_does_not() -> None:
    """The CRD checks a schedule's shape; only the operator's parser knows minute 99 is none."""
    template = {"spec": {"moduleId": 101, "workspaceId": 1}}
    messages = {}
    for schedule in ("99 * * * *", "99 * *"):
        with pytest.raises(ValidationError) as refused:
            SuperviselyCronTaskSpec.model_validate({"schedule": schedule, "taskTemplate": template})
        messages[schedule] = describe_invalid_spec(refused.value)
    assert "too old" not in messages["99 * * * *"]
    assert "not a cron schedule: Bad minute" in messages["99 * * * *"]
    assert "too old to check (upgrade the CRD)" in messages["99 * *"]
