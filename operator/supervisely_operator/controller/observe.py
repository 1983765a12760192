"""The one seam through which the operator looks at Supervisely.

An observer reports what exists remotely for one resource and never changes anything. Today
each resource polls for itself (:class:`PollingObserver`); a shared poller per server and
workspace can replace it behind the same protocol without touching the decision.
"""

from typing import Protocol

from supervisely_operator.api import SuperviselyTaskSpec, SuperviselyTaskStatus
from supervisely_operator.reconcile.launch import carries_marker
from supervisely_operator.reconcile.situation import (
    NothingToObserve,
    Observation,
    RemoteTask,
    RemoteUnavailable,
    StartNotFound,
    TaskGone,
    TaskSeen,
)
from supervisely_operator.supervisely import (
    SuperviselyClient,
    SuperviselyError,
    TaskId,
    TaskInfo,
    TaskNotFound,
    WorkspaceId,
)


class TaskObserver(Protocol):
    """Reports the remote task of one resource; never mutates anything."""

    async def observe(
        self,
        client: SuperviselyClient,
        *,
        spec: SuperviselyTaskSpec,
        status: SuperviselyTaskStatus,
    ) -> Observation: ...


def remote_task(client: SuperviselyClient, info: TaskInfo) -> RemoteTask:
    """The decision's view of a task reply."""
    return RemoteTask(
        task_id=info.id,
        status=info.status,
        raw_status=info.raw_status,
        started_at=info.started_at,
        finished_at=info.finished_at,
        agent_id=info.agent_id,
        session_url=client.session_url(info.id),
    )


class PollingObserver:
    """Asks Supervisely directly, once per pass: ``tasks.info``, or ``tasks.list`` for a marker."""

    async def observe(
        self,
        client: SuperviselyClient,
        *,
        spec: SuperviselyTaskSpec,
        status: SuperviselyTaskStatus,
    ) -> Observation:
        try:
            if status.task_id is not None:
                info = await client.get_task(TaskId(status.task_id))
                return TaskSeen(remote_task(client, info))
            if status.start_request is not None:
                return await self._find_marker(client, spec, status.start_request.marker)
        except TaskNotFound:
            assert status.task_id is not None
            return TaskGone(status.task_id)
        except SuperviselyError as error:
            return RemoteUnavailable(reason=error.reason, message=error.message)
        return NothingToObserve()

    @staticmethod
    async def _find_marker(
        client: SuperviselyClient, spec: SuperviselyTaskSpec, marker: str
    ) -> Observation:
        for info in await client.list_tasks(WorkspaceId(spec.workspace_id)):
            if carries_marker(info.description, marker):
                return TaskSeen(remote_task(client, info))
        return StartNotFound(marker)
