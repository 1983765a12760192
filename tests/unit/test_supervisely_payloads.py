"""Request bodies the client sends: tasks.run.app key for key, filters, sinceTime."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from supervisely_operator.supervisely import (
    AgentId,
    KubernetesSettings,
    ModuleId,
    StartTaskRequest,
    UserId,
    WorkspaceId,
    filter_eq,
    filter_in,
)
from supervisely_operator.supervisely.payloads import format_since, wrap_params


def minimal() -> StartTaskRequest:
    return StartTaskRequest(module_id=ModuleId(81), workspace_id=WorkspaceId(58))


def test_minimal_body_has_every_sdk_key_with_sdk_defaults() -> None:
    assert minimal().to_body() == {
        "agentId": None,
        "workspaceId": 58,
        "description": "",
        "params": {"state": {}},
        "logLevel": "info",
        "usersIds": [],
        "appVersion": "",
        "isBranch": False,
        "taskName": "supervisely-operator",
        "restartPolicy": "never",
        "proxyKeepUrl": False,
        "advancedSettings": {"limitByWorkspace": False},
        "moduleId": 81,
    }


def test_full_body_maps_every_field_to_its_wire_key() -> None:
    request = StartTaskRequest(
        module_id=ModuleId(81),
        workspace_id=WorkspaceId(58),
        agent_id=AgentId(7),
        task_name="op-demo",
        description="demo session",
        params={"modelName": "yolo"},
        log_level="debug",
        users_ids=(UserId(4), UserId(5)),
        app_version="v1.2.3",
        is_branch=True,
        restart_policy="on_error",
        limit_by_workspace=True,
        kubernetes=KubernetesSettings(
            use_health_check=True,
            request_cpus=1,
            limit_cpus=4,
            limit_memory_gb=8,
            limit_shm_gb=2,
            limit_storage_gb=20,
            limit_gpus=1,
            limit_gpu_memory_mb=4096,
            limit_gpu_cores_perc=50,
        ),
        multi_user=True,
    )
    assert request.to_body() == {
        "agentId": 7,
        "workspaceId": 58,
        "description": "demo session",
        "params": {"state": {"modelName": "yolo"}},
        "logLevel": "debug",
        "usersIds": [4, 5],
        "appVersion": "v1.2.3",
        "isBranch": True,
        "taskName": "op-demo",
        "restartPolicy": "on_error",
        "proxyKeepUrl": False,
        "advancedSettings": {
            "limitByWorkspace": True,
            "useHealthCheck": True,
            "requestCpus": 1,
            "limitCpus": 4,
            "limitMemoryGb": 8,
            "limitShmGb": 2,
            "limitStorageGb": 20,
            "limitGpus": 1,
            "limitGpuMemoryMb": 4096,
            "limitGpuCoresPerc": 50,
        },
        "moduleId": 81,
        "singleSessionMode": True,
    }


def test_advanced_settings_are_flat_and_drop_unset_kubernetes_keys() -> None:
    request = minimal().model_copy(
        update={"kubernetes": KubernetesSettings(limit_cpus=4, limit_memory_gb=8)}
    )
    assert request.to_body()["advancedSettings"] == {
        "limitByWorkspace": False,
        "limitCpus": 4,
        "limitMemoryGb": 8,
    }


def test_zero_and_false_kubernetes_values_are_sent_not_dropped() -> None:
    # Only None means "unset": a 0 GPU limit or a disabled health check is a real choice.
    request = minimal().model_copy(
        update={"kubernetes": KubernetesSettings(limit_gpus=0, use_health_check=False)}
    )
    assert request.to_body()["advancedSettings"] == {
        "limitByWorkspace": False,
        "limitGpus": 0,
        "useHealthCheck": False,
    }


def test_single_session_mode_is_sent_only_for_multi_user_sessions() -> None:
    assert "singleSessionMode" not in minimal().to_body()
    multi = minimal().model_copy(update={"multi_user": True})
    assert multi.to_body()["singleSessionMode"] is True


@pytest.mark.parametrize(
    ("params", "wire"),
    [
        ({}, {"state": {}}),
        ({"a": 1}, {"state": {"a": 1}}),
        ({"state": {"a": 1}}, {"state": {"a": 1}}),
        ({"state": {"a": 1}, "extra": True}, {"state": {"a": 1}, "extra": True}),
    ],
    ids=["empty-is-sdk-default", "plain-dict-wrapped", "state-passed-as-is", "state-plus-keys"],
)
def test_params_are_wrapped_like_app_api_start(params: dict[str, object], wire: object) -> None:
    assert wrap_params(params) == wire
    assert minimal().model_copy(update={"params": params}).to_body()["params"] == wire


def test_body_does_not_alias_the_request_params() -> None:
    params = {"state": {"a": 1}}
    body = minimal().model_copy(update={"params": params}).to_body()
    body["params"]["state"] = {}
    assert params == {"state": {"a": 1}}


def test_request_rejects_unknown_fields_and_bad_literals() -> None:
    with pytest.raises(ValidationError):
        StartTaskRequest(module_id=1, workspace_id=2, restart_policy="always")
    with pytest.raises(ValidationError):
        StartTaskRequest(module_id=1, workspace_id=2, app_id=3)  # type: ignore[call-arg]


def test_filters_have_the_sdk_shape() -> None:
    assert filter_eq("slug", "a/b") == {"field": "slug", "operator": "=", "value": "a/b"}
    assert filter_in("status", ("queued", "started")) == {
        "field": "status",
        "operator": "in",
        "value": ["queued", "started"],
    }


@pytest.mark.parametrize(
    ("moment", "wire"),
    [
        (datetime(2026, 3, 30, 14, 28, 58, 816_999, tzinfo=UTC), "2026-03-30T14:28:58.816Z"),
        (datetime(2026, 3, 30, 14, 28, 58, tzinfo=UTC), "2026-03-30T14:28:58.000Z"),
        (
            datetime(2026, 3, 30, 16, 28, 58, 5_000, tzinfo=timezone(timedelta(hours=2))),
            "2026-03-30T14:28:58.005Z",
        ),
    ],
    ids=["truncates-to-ms", "pads-ms", "converts-to-utc"],
)
def test_since_time_is_utc_with_milliseconds_and_z(moment: datetime, wire: str) -> None:
    assert format_since(moment) == wire


def test_since_time_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_since(datetime(2026, 3, 30, 14, 28, 58))
