"""Carry out the one action a plan asks for, and report the result as a value.

Every Supervisely error is turned into an outcome here and classified by the pure core
(:mod:`supervisely_operator.reconcile.outcomes`); nothing is swallowed silently and nothing
escapes as an exception into kopf.
"""

import logging
from dataclasses import dataclass
from typing import Any

from supervisely_operator.api import SuperviselyTaskSpec
from supervisely_operator.reconcile.launch import build_start_request
from supervisely_operator.reconcile.outcomes import (
    Started,
    StartOutcome,
    agent_not_running,
    classify_start_error,
)
from supervisely_operator.reconcile.situation import ResourceRef
from supervisely_operator.supervisely import (
    AgentId,
    AgentStatus,
    ModuleId,
    MultipleTasksStarted,
    SuperviselyClient,
    SuperviselyError,
    TaskId,
    TaskNotFound,
)

Logger = logging.Logger | logging.LoggerAdapter[Any]


@dataclass(frozen=True)
class StopFailed:
    """Supervisely did not accept the stop; the next pass tries again."""

    error: SuperviselyError


async def start_task(
    client: SuperviselyClient,
    *,
    spec: SuperviselyTaskSpec,
    resource: ResourceRef,
    marker: str,
    logger: Logger,
) -> StartOutcome:
    """Resolve the app, check the agent, start the task."""
    try:
        module_id = spec.module_id
        if module_id is None:
            assert spec.app_slug is not None  # the CRD admits exactly one of the two
            module_id = await client.resolve_app_slug(spec.app_slug)
        if spec.agent_id is not None:
            agent = await client.get_agent(AgentId(spec.agent_id))
            if agent.status is not AgentStatus.RUNNING:
                return agent_not_running(spec.agent_id, agent.raw_status)
        request = build_start_request(spec, resource=resource, marker=marker, module_id=module_id)
        try:
            started_id = (await client.start_task(request)).task_id
        except MultipleTasksStarted as error:
            started_id = error.task_ids[0]
            await _stop_extras(client, error.task_ids[1:], logger=logger)
    except SuperviselyError as error:
        return classify_start_error(error)
    return Started(
        task_id=started_id,
        module_id=ModuleId(module_id),
        agent_id=spec.agent_id,
        session_url=client.session_url(started_id),
    )


async def _stop_extras(
    client: SuperviselyClient,
    task_ids: tuple[TaskId, ...],
    *,
    logger: Logger,
) -> None:
    """Supervisely made more than one task for one start: keep the first, stop the rest."""
    for task_id in task_ids:
        logger.warning("Stopping extra task %s that Supervisely created for one start", task_id)
        try:
            await client.stop_task(task_id)
        except SuperviselyError as error:
            logger.error("Could not stop extra task %s: %s", task_id, error)


async def stop_task(client: SuperviselyClient, task_id: int) -> StopFailed | None:
    """Ask Supervisely to stop a task; a task that is already gone counts as stopped."""
    try:
        await client.stop_task(TaskId(task_id))
    except TaskNotFound:
        return None
    except SuperviselyError as error:
        return StopFailed(error)
    return None


async def log_tail(client: SuperviselyClient, task_id: int, *, lines: int) -> str:
    """The last lines of a task's log, or a note that they could not be read."""
    if lines <= 0:
        return ""
    try:
        entries = await client.tail_task_logs(TaskId(task_id), lines=lines)
    except SuperviselyError as error:
        return f"(log unavailable: {error.reason})"
    return "\n".join(f"[{entry.level}] {entry.message}" for entry in entries)
