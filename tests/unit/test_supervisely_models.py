"""Parsing replies: the task status enum, tolerant models, and what raw keeps (or drops)."""

from datetime import UTC, datetime

import pytest

from supervisely_operator.supervisely import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    AgentInfo,
    AgentStatus,
    LogEntry,
    ModuleInfo,
    StartedTask,
    TaskInfo,
    TaskStatus,
)
from supervisely_operator.supervisely.models import ReplyShapeError

SDK_STATUSES = [
    "queued",
    "consumed",
    "started",
    "deployed",
    "terminating",
    "error",
    "finished",
    "stopped",
]


def test_task_status_has_exactly_the_sdk_values() -> None:
    assert [status.value for status in TaskStatus] == SDK_STATUSES


@pytest.mark.parametrize("raw", SDK_STATUSES)
def test_known_statuses_map_to_members(raw: str) -> None:
    assert TaskStatus.parse(raw) == raw
    assert TaskInfo.from_reply({"id": 1, "status": raw}).status is TaskStatus(raw)


@pytest.mark.parametrize("raw", ["paused", "STARTED", "", " started"])
def test_unknown_status_is_none_and_keeps_the_raw_string(raw: str) -> None:
    task = TaskInfo.from_reply({"id": 1, "status": raw})
    assert task.status is None
    assert task.raw_status == raw


def test_status_classes_partition_the_enum() -> None:
    assert ACTIVE_STATUSES | TERMINAL_STATUSES | {TaskStatus.TERMINATING} == set(TaskStatus)
    assert not ACTIVE_STATUSES & TERMINAL_STATUSES


def test_task_info_reads_the_sdk_example_and_keeps_raw() -> None:
    payload = {
        "id": 21012,
        "type": "app",
        "status": "finished",
        "workspaceId": 58,
        "agentId": 7,
        "teamId": 8,
        "userId": 6,
        "description": "demo",
        "startedAt": "2019-12-19T12:13:09.702Z",
        "finishedAt": "2019-12-19T12:14:00.000Z",
        "meta": {"app": {"id": 578, "name": "demo", "version": "v1", "isBranch": False}},
        "settings": {"something": "new"},
    }
    task = TaskInfo.from_reply(payload)
    assert task.id == 21012
    assert task.status is TaskStatus.FINISHED
    assert (task.workspace_id, task.agent_id, task.team_id, task.user_id) == (58, 7, 8, 6)
    assert task.started_at == datetime(2019, 12, 19, 12, 13, 9, 702_000, tzinfo=UTC)
    assert task.finished_at == datetime(2019, 12, 19, 12, 14, tzinfo=UTC)
    assert task.meta["app"]["id"] == 578
    assert task.raw == payload
    assert "settings" not in repr(task)


def test_task_info_tolerates_nulls_and_missing_optionals() -> None:
    task = TaskInfo.from_reply(
        {"id": 1, "status": "queued", "startedAt": None, "meta": None, "description": None}
    )
    assert (task.started_at, task.finished_at, task.meta, task.description) == (None, None, {}, "")
    assert task.workspace_id is None


@pytest.mark.parametrize(
    "reply",
    [
        {"status": "queued"},
        {"id": 1},
        {"id": "x", "status": "queued"},
        {"id": 1, "status": "queued", "startedAt": "yesterday"},
        [{"id": 1, "status": "queued"}],
        None,
    ],
    ids=["no-id", "no-status", "bad-id", "bad-date", "array", "null"],
)
def test_unusable_task_replies_raise_reply_shape_error(reply: object) -> None:
    with pytest.raises(ReplyShapeError):
        TaskInfo.from_reply(reply)


def test_reply_shape_error_never_quotes_values() -> None:
    with pytest.raises(ReplyShapeError) as caught:
        AgentInfo.from_reply({"id": "not-a-number", "token": "agent-secret-token"})
    assert "agent-secret-token" not in str(caught.value)
    assert "not-a-number" not in str(caught.value)
    assert "id:" in str(caught.value)


@pytest.mark.parametrize(
    ("element", "task_id"),
    [
        ({"taskId": 21012, "userId": 6, "moduleId": 83, "appId": 578}, 21012),
        ({"id": 5, "taskId": 5}, 5),
        ({"id": 7}, 7),
        ({"id": 8, "taskId": 9}, 8),
    ],
    ids=["documented-shape", "both", "id-only", "id-wins-like-the-sdk"],
)
def test_started_task_id_comes_from_task_id_or_id(element: dict[str, int], task_id: int) -> None:
    assert StartedTask.from_reply(element).task_id == task_id


def test_started_task_without_any_id_is_a_shape_error() -> None:
    with pytest.raises(ReplyShapeError):
        StartedTask.from_reply({"userId": 6})


def test_started_task_list_needs_an_array() -> None:
    assert [t.task_id for t in StartedTask.list_from_reply([{"taskId": 1}, {"taskId": 2}])] == [
        1,
        2,
    ]
    with pytest.raises(ReplyShapeError, match="expected a JSON array, got an object"):
        StartedTask.list_from_reply({"taskId": 1})


def test_agent_info_drops_the_agents_own_token() -> None:
    agent = AgentInfo.from_reply(
        {"id": 1, "name": "gpu-box", "status": "running", "token": "agent-secret", "teamId": 8}
    )
    assert agent.status is AgentStatus.RUNNING
    assert "token" not in agent.raw
    assert "agent-secret" not in repr(agent) + str(agent.model_dump())


def test_agent_unknown_status_is_none() -> None:
    agent = AgentInfo.from_reply({"id": 1, "status": "sleeping"})
    assert (agent.status, agent.raw_status) == (None, "sleeping")


def test_module_info_latest_version_is_the_first_release() -> None:
    module = ModuleInfo.from_reply(
        {
            "id": 101,
            "slug": "supervisely-ecosystem/sim-train-finishes",
            "name": "Train",
            "meta": {"releases": [{"version": "v2.0.0"}, {"version": "v1.0.0"}]},
        }
    )
    assert (module.id, module.latest_version) == (101, "v2.0.0")
    assert ModuleInfo.from_reply({"id": 1, "meta": {"releases": []}}).latest_version is None
    assert ModuleInfo.from_reply({"id": 1}).latest_version is None


def test_log_entry_reads_the_documented_shape() -> None:
    entry = LogEntry.from_reply(
        {
            "level": "info",
            "message": "hi",
            "timestamp": "2026-03-30T14:28:56.525Z",
            "task_id": 58595,
        }
    )
    assert entry.message == "hi"
    assert entry.task_id == 58595
    assert entry.timestamp == datetime(2026, 3, 30, 14, 28, 56, 525_000, tzinfo=UTC)
