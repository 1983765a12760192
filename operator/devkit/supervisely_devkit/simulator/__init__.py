"""A simulator of the Supervisely REST API subset the operator uses, for tests, demo and benches.

It speaks the protocol of /work/shared/docs/supervisely-api.md closely enough for the official
SDK to drive it unchanged; where it departs from the real server, docs/simulator.md says so.
"""

from supervisely_devkit.simulator.clock import Clock, FakeClock
from supervisely_devkit.simulator.faults import FaultSpec
from supervisely_devkit.simulator.lifecycle import TaskStatus
from supervisely_devkit.simulator.record import CallRecord
from supervisely_devkit.simulator.runner import Simulator, ThreadedSimulator
from supervisely_devkit.simulator.scenario import (
    AgentSpec,
    LinkKind,
    LinkOutputSpec,
    ModuleSpec,
    Outcome,
    OutputsSpec,
    PhaseDurations,
    PhaseDurationsOverride,
    ProjectOutputSpec,
    Scenario,
    ScenarioError,
    TeamSpec,
    UserSpec,
    WorkspaceSpec,
)

__all__ = [
    "AgentSpec",
    "CallRecord",
    "Clock",
    "FakeClock",
    "FaultSpec",
    "LinkKind",
    "LinkOutputSpec",
    "ModuleSpec",
    "Outcome",
    "OutputsSpec",
    "PhaseDurations",
    "PhaseDurationsOverride",
    "ProjectOutputSpec",
    "Scenario",
    "ScenarioError",
    "Simulator",
    "TaskStatus",
    "TeamSpec",
    "ThreadedSimulator",
    "UserSpec",
    "WorkspaceSpec",
]
