"""The tasks the simulator has created: creation, stop, forced ends, deletion and their JSON.

Each task is an immutable record holding its ``Timeline`` (see ``lifecycle``); stopping or
forcing a task replaces the record with one whose timeline is cut at that moment. The JSON of a
task (``tasks.info``, ``tasks.list``, ``apps.tasks.list``) is rendered for the moment asked.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime

from supervisely_devkit.simulator.catalogue import Catalogue, EcosystemModule, TeamApp
from supervisely_devkit.simulator.clock import WallAnchor, format_iso
from supervisely_devkit.simulator.lifecycle import (
    AppIdentity,
    LogLevel,
    LogLine,
    TaskPlan,
    TaskStatus,
    Timeline,
    build_timeline,
    stop_ending,
    stop_lines,
)
from supervisely_devkit.simulator.outputs import (
    checkpoint_paths,
    published_output,
    served_output,
)
from supervisely_devkit.simulator.payloads import RunAppRequest
from supervisely_devkit.simulator.scenario import Outcome
from supervisely_devkit.simulator.wire import JsonObject, not_found

FORCEABLE = (TaskStatus.ERROR, TaskStatus.FINISHED, TaskStatus.STOPPED)


@dataclass(frozen=True)
class SimTask:
    """One app session: what was asked for, where it runs, and its timeline."""

    id: int
    module: EcosystemModule
    team_app: TeamApp
    workspace_id: int
    team_id: int
    agent_id: int
    agent_name: str
    user_id: int
    created_by: int
    version: str
    request: RunAppRequest
    timeline: Timeline

    def status(self, now: float) -> TaskStatus:
        """The status at ``now``."""
        return self.timeline.current(now).status


class TaskStore:
    """All live (not deleted) tasks, by id."""

    def __init__(
        self, *, catalogue: Catalogue, anchor: WallAnchor, rng: random.Random, first_id: int
    ) -> None:
        self._catalogue = catalogue
        self._anchor = anchor
        self._rng = rng
        self._next_id = first_id
        self._tasks: dict[int, SimTask] = {}
        self._workspaces: dict[int, int] = {}
        """Each task's workspace, kept after deletion: calls about a lost task still count."""

    def create(
        self,
        *,
        request: RunAppRequest,
        module: EcosystemModule,
        team_app: TeamApp,
        workspace_id: int,
        agent_id: int,
        user_id: int,
        now: float,
    ) -> SimTask:
        """Create a task and decide its whole natural life now, from the seeded RNG."""
        behaviour = module.behaviour
        restarts = behaviour.max_restarts if request.restart_policy == "on_error" else 0
        attempt_errors = tuple(
            behaviour.outcome is Outcome.ERROR
            or (
                behaviour.error_probability > 0 and self._rng.random() < behaviour.error_probability
            )
            for _ in range(1 + restarts)
        )
        task_id = self._next_id
        self._next_id += 1
        version = request.app_version or module.versions[0]
        agent = self._catalogue.agent(agent_id)
        serves = behaviour.outcome is Outcome.SERVE
        error_message = behaviour.error_message
        output = (
            {}
            if behaviour.outputs is None
            else published_output(behaviour.outputs, task_id=task_id)
        )
        checkpoint = _checkpoint_asked(request)
        if serves and checkpoint is not None:
            # A serving app loads the checkpoint it is given: one a training published, or none.
            if checkpoint in self._published_checkpoints(now):
                output = served_output(checkpoint)
            else:
                attempt_errors = tuple(True for _ in attempt_errors)
                error_message = f"Checkpoint {checkpoint} does not exist in Team Files"
        plan = TaskPlan(
            created_at=now,
            durations=behaviour.durations,
            attempt_errors=attempt_errors,
            serves=serves,
            error_message=error_message,
            output=output,
        )
        identity = AppIdentity(
            task_id=task_id, app_name=module.name, version=version, agent_name=agent.name
        )
        task = SimTask(
            id=task_id,
            module=module,
            team_app=team_app,
            workspace_id=workspace_id,
            team_id=self._catalogue.workspace(workspace_id).team_id,
            agent_id=agent_id,
            agent_name=agent.name,
            user_id=user_id,
            created_by=self._catalogue.user.id,
            version=version,
            request=request,
            timeline=build_timeline(plan=plan, app=identity),
        )
        self._tasks[task_id] = task
        self._workspaces[task_id] = workspace_id
        return task

    def _published_checkpoints(self, now: float) -> set[str]:
        """The Team Files paths of every checkpoint a training has published by ``now``."""
        paths: set[str] = set()
        for task in self._tasks.values():
            experiment = task.timeline.output_at(now).get("experiment", {}).get("data", {})
            artifacts = experiment.get("artifacts_dir")
            if artifacts:
                paths.update(checkpoint_paths(artifacts, experiment.get("checkpoints") or ()))
        return paths

    def get(self, task_id: int) -> SimTask:
        """The task or a 404."""
        try:
            return self._tasks[task_id]
        except KeyError:
            raise not_found(f"Task with id {task_id} not found") from None

    def all(self) -> list[SimTask]:
        """Every task, oldest first."""
        return list(self._tasks.values())

    def workspace_of(self, task_id: int) -> int | None:
        """The workspace a task was created in, deleted or not; None for an id never made."""
        return self._workspaces.get(task_id)

    def stop(self, task_id: int, *, now: float) -> TaskStatus:
        """Begin terminating a live task; a terminating or ended task is left as it is.

        Returns the status to report: ``terminating`` for a task that was live, the current
        status otherwise (so a repeated stop is harmless).
        """
        task = self.get(task_id)
        current = task.status(now)
        if current.is_terminal or current is TaskStatus.TERMINATING:
            return current
        terminating = task.module.behaviour.durations.terminating
        timeline = task.timeline.cut(
            at=now,
            ending=stop_ending(at=now, terminating=terminating),
            lines=stop_lines(at=now, terminating=terminating),
        )
        self._tasks[task_id] = replace(task, timeline=timeline)
        return TaskStatus.TERMINATING

    def force(
        self, task_id: int, *, status: TaskStatus, now: float, message: str | None = None
    ) -> None:
        """End a task at once with ``status``, whatever it was doing (a test's lever)."""
        if status not in FORCEABLE:
            raise ValueError(f"a task can only be forced to one of {[s.value for s in FORCEABLE]}")
        task = self.get(task_id)
        if status is TaskStatus.ERROR:
            line = LogLine(
                now,
                LogLevel.ERROR,
                f"Task failed: {message or task.module.behaviour.error_message}",
            )
        else:
            line = LogLine(now, LogLevel.INFO, message or f"Application {status.value}")
        timeline = task.timeline.cut(at=now, ending=[(now, status)], lines=[line])
        self._tasks[task_id] = replace(task, timeline=timeline)

    def publish(self, task_id: int, *, output: JsonObject, now: float) -> None:
        """What ``tasks.output.set`` does: the top-level keys of ``output`` replace the task's
        (see ``Timeline.output_at``); allowed whatever the status, as a late call may arrive
        after the app ended."""
        task = self.get(task_id)
        timeline = task.timeline.published(at=now, output=output)
        self._tasks[task_id] = replace(task, timeline=timeline)

    def delete(self, task_id: int) -> None:
        """Remove a task outright, as if the platform had lost it."""
        self.get(task_id)
        del self._tasks[task_id]

    def render(self, task: SimTask, *, now: float) -> JsonObject:
        """The task object of ``tasks.info`` at ``now``."""
        current = task.timeline.current(now)
        ended_at = task.timeline.ended_at(now)
        request = task.request
        meta: JsonObject = {
            "app": {
                "id": task.team_app.id,
                "moduleId": task.module.id,
                "name": task.module.name,
                "version": task.version,
                "isBranch": request.is_branch,
            },
            "name": request.task_name,
            "params": request.params,
            "restartPolicy": request.restart_policy,
            "attempt": current.attempt,
            "input": {},
            "output": task.timeline.output_at(now),
        }
        if request.redirect_requests:
            meta["redirectRequests"] = request.redirect_requests
        created = self._anchor.iso(task.timeline.transitions[0].at)
        return {
            "id": task.id,
            "type": "app",
            "status": current.status.value,
            "workspaceId": task.workspace_id,
            "teamId": task.team_id,
            "agentId": task.agent_id,
            "agentName": task.agent_name,
            "userId": task.user_id,
            "userLogin": self._catalogue.user_login(task.user_id),
            "createdBy": task.created_by,
            "moduleId": task.module.id,
            "description": request.description,
            "createdAt": created,
            "startedAt": created,
            "updatedAt": self._anchor.iso(current.at),
            "finishedAt": None if ended_at is None else self._anchor.iso(ended_at),
            "meta": meta,
            "settings": {
                "advancedSettings": request.advanced_settings,
                "logLevel": request.log_level.value,
                "proxyKeepUrl": request.proxy_keep_url,
                "usersIds": request.users_ids,
                "singleSessionMode": request.single_session_mode,
            },
        }

    def render_all(self, tasks: list[SimTask], *, now: float) -> list[JsonObject]:
        """Task objects of several tasks at ``now``."""
        return [self.render(task, now=now) for task in tasks]

    def log_entries(
        self, task: SimTask, *, now: float, since: datetime | None, limit: int
    ) -> list[JsonObject]:
        """Log entries written by ``now`` after ``since`` (exclusive), oldest first."""
        threshold = task.request.log_level.rank
        entries: list[JsonObject] = []
        for line in task.timeline.logs_until(now):
            if line.level.rank < threshold:
                continue
            moment = self._anchor.wall_of_millis(line.millis)
            if since is not None and moment <= since:
                continue
            entries.append(
                {
                    "level": line.level.value,
                    "message": line.message,
                    "timestamp": format_iso(moment),
                    "task_id": task.id,
                }
            )
            if len(entries) == limit:
                break
        return entries


def _checkpoint_asked(request: RunAppRequest) -> str | None:
    """The checkpoint a serving app is asked to load: ``checkpoint`` in its state."""
    state = request.params.get("state", request.params)
    checkpoint = state.get("checkpoint") if isinstance(state, dict) else None
    return checkpoint if isinstance(checkpoint, str) else None
