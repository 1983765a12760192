"""Everything a request handler may read or change, in one object.

The server, the inspection endpoints and the Python API all act on one ``SimulatorState``; all
of them run on the simulator's event loop, so no locking is needed.
"""

from __future__ import annotations

import hmac
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from supervisely_devkit.simulator.catalogue import Catalogue
from supervisely_devkit.simulator.clock import Clock, WallAnchor
from supervisely_devkit.simulator.faults import FaultInjector
from supervisely_devkit.simulator.record import CallRecorder
from supervisely_devkit.simulator.scenario import Scenario
from supervisely_devkit.simulator.tasks import TaskStore
from supervisely_devkit.simulator.wire import ApiReply, MethodCall

TASK_ID_FIELDS: dict[str, str] = {
    "tasks.info": "id",
    "tasks.stop": "id",
    "tasks.log.download": "id",
    "GetTaskContext": "id",
    "tasks.request.direct": "taskId",
    "tasks.output.set": "taskId",
}
"""The field of each task method's body (or query, for GETs) that names the task."""


@dataclass(frozen=True)
class ApiToken:
    """The accepted ``x-api-key``; its repr never shows the value."""

    value: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.value:
            raise ValueError("the simulator needs a non-empty API token")

    def accepts(self, candidate: str | None) -> bool:
        """Constant-time comparison with a presented token."""
        return candidate is not None and hmac.compare_digest(
            candidate.encode("utf-8"), self.value.encode("utf-8")
        )


class SimulatorState:
    """Catalogue, tasks, faults, call record and clock of one simulator."""

    def __init__(
        self, *, token: ApiToken, scenario: Scenario, clock: Clock, recorder: CallRecorder
    ) -> None:
        self.token = token
        self.scenario = scenario
        self.clock = clock
        self.anchor = WallAnchor.now(clock=clock)
        self.catalogue = Catalogue(scenario=scenario)
        # Separate generators, so arming a probabilistic fault never changes task outcomes.
        self.tasks = TaskStore(
            catalogue=self.catalogue,
            anchor=self.anchor,
            rng=random.Random(scenario.seed),  # noqa: S311 - simulation, not security
            first_id=scenario.first_task_id,
        )
        self.faults = FaultInjector(rng=random.Random(scenario.seed + 1))  # noqa: S311
        for spec in scenario.faults:
            self.faults.add(spec)
        self.recorder = recorder

    def workspace_of_call(self, method: str, body: Any, query: Mapping[str, str]) -> int | None:
        """The workspace a call concerns: the ``workspaceId`` its body names, or the workspace of
        the task it names (a deleted one too); None for the calls that name neither."""
        fields: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
        named = fields.get("workspaceId")
        if isinstance(named, int) and not isinstance(named, bool):
            return named
        key = TASK_ID_FIELDS.get(method)
        if key is None:
            return None
        try:
            task_id = int(fields.get(key, query.get(key, "")))
        except (TypeError, ValueError):
            return None
        return self.tasks.workspace_of(task_id)

    def now(self) -> float:
        """The simulator's clock reading."""
        return self.clock()

    def __repr__(self) -> str:
        return f"<SimulatorState tasks={len(self.tasks.all())}>"


Handler = Callable[[SimulatorState, MethodCall], ApiReply]
"""An API method: reads the state at ``state.now()``, may change it, and answers."""
