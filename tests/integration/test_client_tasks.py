"""The client against the simulator over loopback HTTP: start, observe, list, stop, logs."""

import asyncio
from collections.abc import AsyncIterator, Callable, Collection
from datetime import datetime

import pytest

from supervisely_devkit.simulator import Simulator
from supervisely_operator.supervisely import (
    AgentId,
    ClientSettings,
    KubernetesSettings,
    ModuleId,
    MultipleTasksStarted,
    StartTaskRequest,
    SuperviselyClient,
    TaskId,
    TaskInfo,
    TaskNotFound,
    TaskStatus,
    UserId,
    WorkspaceId,
    filter_eq,
    filter_in,
)

FINISHES, FAILS, SERVES = ModuleId(101), ModuleId(102), ModuleId(103)
SETTINGS = ClientSettings(
    connect_timeout=1.0,
    read_timeout=2.0,
    max_attempts=3,
    initial_backoff=0.01,
    max_backoff=0.1,
)

ClientFor = Callable[[Simulator], SuperviselyClient]


@pytest.fixture
async def client_for(simulator_token: str) -> AsyncIterator[ClientFor]:
    clients: list[SuperviselyClient] = []

    def make(simulator: Simulator) -> SuperviselyClient:
        client = SuperviselyClient(simulator.base_url, simulator_token, SETTINGS)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def client(simulator: Simulator, client_for: ClientFor) -> SuperviselyClient:
    return client_for(simulator)


def start_request(module_id: ModuleId = SERVES, **changes: object) -> StartTaskRequest:
    base = StartTaskRequest(
        module_id=module_id, workspace_id=WorkspaceId(1), agent_id=AgentId(1), task_name="it"
    )
    return base.model_copy(update=changes)


async def wait_for(
    client: SuperviselyClient,
    task_id: TaskId,
    statuses: Collection[TaskStatus],
    *,
    within: float = 5.0,
) -> tuple[TaskInfo, list[TaskStatus | None]]:
    """Poll tasks.info until the status is one of ``statuses``; also returns every status seen."""
    seen: list[TaskStatus | None] = []
    async with asyncio.timeout(within):
        while True:
            task = await client.get_task(task_id)
            if not seen or seen[-1] != task.status:
                seen.append(task.status)
            if task.status in statuses:
                return task, seen
            await asyncio.sleep(0.01)


async def test_start_sends_every_field_exactly(
    simulator: Simulator, client: SuperviselyClient
) -> None:
    request = StartTaskRequest(
        module_id=SERVES,
        workspace_id=WorkspaceId(1),
        agent_id=AgentId(1),
        task_name="op-demo",
        description="integration",
        params={"modelName": "yolo"},
        log_level="debug",
        app_version="v2.0.2",
        is_branch=False,
        restart_policy="on_error",
        limit_by_workspace=True,
        kubernetes=KubernetesSettings(
            use_health_check=True,
            request_cpus=1,
            limit_cpus=4,
            limit_memory_gb=8,
            limit_shm_gb=1,
            limit_storage_gb=20,
            limit_gpus=None,
            limit_gpu_memory_mb=None,
            limit_gpu_cores_perc=50,
        ),
        users_ids=(UserId(1),),
        multi_user=True,
    )
    started = await client.start_task(request)
    (call,) = simulator.calls("tasks.run.app")
    assert call.http_method == "POST"
    assert call.path == "/public/api/v3/tasks.run.app"
    assert call.token_valid
    assert call.body == {
        "agentId": 1,
        "workspaceId": 1,
        "description": "integration",
        "params": {"state": {"modelName": "yolo"}},
        "logLevel": "debug",
        "usersIds": [1],
        "appVersion": "v2.0.2",
        "isBranch": False,
        "taskName": "op-demo",
        "restartPolicy": "on_error",
        "proxyKeepUrl": False,
        "advancedSettings": {
            "limitByWorkspace": True,
            "useHealthCheck": True,
            "requestCpus": 1,
            "limitCpus": 4,
            "limitMemoryGb": 8,
            "limitShmGb": 1,
            "limitStorageGb": 20,
            "limitGpuCoresPerc": 50,
        },
        "moduleId": 103,
        "singleSessionMode": True,
    }
    assert (started.module_id, started.user_id) == (103, 1)
    task = await client.get_task(started.task_id)
    assert task.meta["name"] == "op-demo"
    assert task.meta["params"] == {"state": {"modelName": "yolo"}}
    assert task.raw["settings"]["advancedSettings"] == call.body["advancedSettings"]


async def test_minimal_start_with_any_agent(
    simulator: Simulator, client: SuperviselyClient
) -> None:
    started = await client.start_task(
        StartTaskRequest(module_id=FINISHES, workspace_id=WorkspaceId(1))
    )
    (call,) = simulator.calls("tasks.run.app")
    assert call.body["agentId"] is None
    assert "singleSessionMode" not in call.body
    assert (await client.get_task(started.task_id)).agent_id == 1  # the running agent


async def test_a_finishing_app_goes_through_its_whole_life(client: SuperviselyClient) -> None:
    started = await client.start_task(start_request(FINISHES, description="train"))
    task, seen = await wait_for(client, started.task_id, {TaskStatus.FINISHED})
    order = [list(TaskStatus).index(status) for status in seen if status is not None]
    assert len(order) == len(seen)  # every status was one of the known eight
    assert order == sorted(order)  # and they only moved forward
    assert seen[-2:] == [TaskStatus.STARTED, TaskStatus.FINISHED]
    assert task.finished_at is not None
    assert task.started_at is not None
    assert task.finished_at >= task.started_at
    assert (task.workspace_id, task.agent_id, task.type) == (1, 1, "app")
    assert task.description == "train"


async def test_a_failing_app_ends_in_error(client: SuperviselyClient) -> None:
    started = await client.start_task(start_request(FAILS))
    task, _ = await wait_for(client, started.task_id, {TaskStatus.ERROR, TaskStatus.FINISHED})
    assert task.status is TaskStatus.ERROR


async def test_stop_a_serving_app(client: SuperviselyClient) -> None:
    started = await client.start_task(start_request(SERVES))
    await wait_for(client, started.task_id, {TaskStatus.STARTED})
    assert await client.stop_task(started.task_id) is TaskStatus.TERMINATING
    task, _ = await wait_for(client, started.task_id, {TaskStatus.STOPPED})
    assert task.finished_at is not None
    assert await client.stop_task(started.task_id) is TaskStatus.STOPPED  # stopping twice is fine


async def test_forced_end_is_observed(simulator: Simulator, client: SuperviselyClient) -> None:
    started = await client.start_task(start_request(SERVES))
    simulator.force_task(started.task_id, "error", message="OOM")
    assert (await client.get_task(started.task_id)).status is TaskStatus.ERROR


async def test_unknown_and_deleted_tasks_are_task_not_found(
    simulator: Simulator, client: SuperviselyClient
) -> None:
    started = await client.start_task(start_request(SERVES))
    simulator.delete_task(started.task_id)
    with pytest.raises(TaskNotFound) as info:
        await client.get_task(started.task_id)
    with pytest.raises(TaskNotFound):
        await client.stop_task(started.task_id)
    with pytest.raises(TaskNotFound):
        await client.get_task_logs(TaskId(999_999))
    assert info.value.task_id == started.task_id
    assert str(info.value) == f"Supervisely has no task {started.task_id} (tasks.info: 404)"
    assert [c.status for c in simulator.calls("tasks.info")] == [404]  # not retried


async def test_several_users_without_multi_user_mode_create_several_tasks(
    simulator: Simulator, client: SuperviselyClient
) -> None:
    with pytest.raises(MultipleTasksStarted) as caught:
        await client.start_task(start_request(SERVES, users_ids=(UserId(1), UserId(2))))
    assert len(caught.value.task_ids) == 2
    assert sorted(caught.value.task_ids) == sorted(task["id"] for task in simulator.tasks())


async def test_list_tasks_reads_every_page(simulator: Simulator, client: SuperviselyClient) -> None:
    # The simulator's default page holds 5 tasks, so 12 tasks take three pages.
    started = [
        (await client.start_task(start_request(SERVES, workspace_id=WorkspaceId(2)))).task_id
        for _ in range(12)
    ]
    await client.start_task(start_request(SERVES))  # another workspace: not listed
    simulator.clear_calls()
    tasks = await client.list_tasks(WorkspaceId(2))
    assert [task.id for task in tasks] == started
    assert all(task.workspace_id == 2 for task in tasks)
    bodies = [call.body for call in simulator.calls("tasks.list")]
    base = {"workspaceId": 2, "filter": [], "sort": "id", "sort_order": "asc"}
    assert bodies == [
        base,
        {**base, "page": 2, "per_page": 5},
        {**base, "page": 3, "per_page": 5},
    ]


async def test_list_tasks_filters(simulator: Simulator, client: SuperviselyClient) -> None:
    kept = await client.start_task(start_request(SERVES, task_name="keep-me"))
    await client.start_task(start_request(SERVES, task_name="other"))
    stopped = await client.start_task(start_request(SERVES, task_name="keep-me"))
    simulator.force_task(stopped.task_id, "stopped")
    tasks = await client.list_tasks(
        WorkspaceId(1),
        filters=[
            filter_eq("meta.name", "keep-me"),
            filter_in("status", ["queued", "consumed", "started"]),
        ],
    )
    assert [task.id for task in tasks] == [kept.task_id]
    assert await client.list_tasks(WorkspaceId(2)) == []


async def test_logs_since_limit_and_tail(simulator: Simulator, client: SuperviselyClient) -> None:
    started = await client.start_task(start_request(FINISHES))
    await wait_for(client, started.task_id, {TaskStatus.FINISHED})
    everything = await client.get_task_logs(started.task_id)
    assert len(everything) >= 4
    assert all(entry.task_id == started.task_id for entry in everything)
    assert everything[-1].message == "Application finished successfully"
    stamps = [entry.timestamp for entry in everything]
    assert all(isinstance(stamp, datetime) for stamp in stamps)

    second = everything[1].timestamp
    assert second is not None
    after_second = await client.get_task_logs(started.task_id, since=second)
    assert [e.message for e in after_second] == [e.message for e in everything[2:]]
    limited = await client.get_task_logs(started.task_id, limit=2)
    assert [e.message for e in limited] == [e.message for e in everything[:2]]
    tail = await client.tail_task_logs(started.task_id, lines=2)
    assert [e.message for e in tail] == [e.message for e in everything[-2:]]

    queries = [call.query for call in simulator.calls("tasks.log.download")]
    assert queries[1]["sinceTime"] == second.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    assert queries[2] == {"id": str(started.task_id), "limit": "2"}
    assert all(call.http_method == "GET" for call in simulator.calls("tasks.log.download"))


async def test_session_url_points_at_the_server(
    simulator: Simulator, client: SuperviselyClient
) -> None:
    assert client.session_url(TaskId(1001)) == f"{simulator.base_url}/apps/sessions/1001"
    assert simulator.calls() == []


async def test_an_app_is_ready_only_while_it_serves_and_is_never_retried(
    simulator: Simulator, client: SuperviselyClient
) -> None:
    task_id = (await client.start_task(start_request(SERVES))).task_id
    answers = [await client.is_app_ready(task_id)]  # queued: the app's own 503
    async with asyncio.timeout(5):
        while not answers[-1]:
            answers.append(await client.is_app_ready(task_id))
            await asyncio.sleep(0.01)
    await client.stop_task(task_id)
    await wait_for(client, task_id, {TaskStatus.STOPPED})
    answers.append(await client.is_app_ready(task_id))  # ended: the platform's 400

    assert answers[0] is False
    assert answers[-2:] == [True, False]
    assert len(simulator.calls("tasks.request.direct")) == len(answers), "no retries"
    with pytest.raises(TaskNotFound):
        await client.is_app_ready(TaskId(999_999))


async def test_what_a_finished_task_published_is_read_from_meta_output(
    client: SuperviselyClient,
) -> None:
    task_id = (await client.start_task(start_request(FINISHES))).task_id
    info, _ = await wait_for(client, task_id, {TaskStatus.FINISHED})

    assert info.outputs is not None
    assert info.outputs.experiment is not None
    assert info.outputs.experiment.best_checkpoint == "best.pt"
    assert info.outputs.link is not None
    assert info.outputs.link.url == f"/files/{task_id}", "as published; the remote resolves it"
    (listed,) = [t for t in await client.list_tasks(WorkspaceId(1)) if t.id == task_id]
    assert listed.outputs == info.outputs
