"""Scenario files: YAML and JSON, defaults, overrides, additions, and refusals."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from supervisely_devkit.simulator import (
    FakeClock,
    ModuleSpec,
    Outcome,
    PhaseDurations,
    Scenario,
    ScenarioError,
)

ClientFactory = Callable[..., httpx.AsyncClient]

EXAMPLE = """
seed: 42
page_size: 3
durations: {queued: 0.5, consumed: 0.5, running: 2, terminating: 0.5, ready_delay: 1}
latency: {"*": 0.0, tasks.info: 0.01}
teams:
  - {id: 2, name: Second team}
workspaces:
  - {id: 5, name: Team two space, team_id: 2}
agents:
  - {id: 5, name: team-two-agent, team_id: 2}
  - {id: 2, name: sim-agent-2, status: running}
modules:
  - slug: supervisely-ecosystem/sim-train-finishes
    durations: {running: 10}
    error_probability: 0.25
  - id: 110
    slug: acme/custom-serve
    name: Custom serve
    outcome: serve
    versions: [v3.0.0]
faults:
  - {method: tasks.info, status: 503, times: 2}
  - {method: tasks.run.app, status: 429, retry_after: 2, probability: 0.1}
  - {method: tasks.stop, drop: true, times: 1}
  - {method: "*", delay: 30, times: 1}
"""


def test_yaml_example_parses(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(EXAMPLE)
    scenario = Scenario.from_file(path)
    assert scenario.seed == 42
    assert scenario.durations.running == 2
    assert scenario.modules[0].durations.running == 10
    assert scenario.modules[1].outcome is Outcome.SERVE
    assert [fault.method for fault in scenario.faults] == [
        "tasks.info",
        "tasks.run.app",
        "tasks.stop",
        "*",
    ]


def test_json_file_parses(tmp_path: Path) -> None:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps({"seed": 1, "modules": [{"id": 103, "outcome": "error"}]}))
    assert Scenario.from_file(path).modules[0].outcome is Outcome.ERROR


def test_empty_file_is_the_default_scenario(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert Scenario.from_file(path) == Scenario()


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("seed: [1", "not YAML"),
        ("- 1\n- 2", "not a mapping"),
        ("sedd: 1", "a misspelt key"),
        ("durations: {queued: -1}", "a negative duration"),
        ("modules: [{outcome: serve}]", "a module without id or slug"),
        ("modules: [{id: 1, outcome: explode}]", "an unknown outcome"),
        ("agents: [{id: 3, name: a, status: sleeping}]", "an unknown agent status"),
        ("faults: [{method: tasks.info}]", "a fault that does nothing"),
        ("page_size: 0", "an empty page"),
    ],
)
def test_invalid_files_are_refused_with_the_path(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=r"bad\.yaml"):
        Scenario.from_file(path)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError):
        Scenario.from_file(tmp_path / "absent.yaml")


async def test_new_module_without_name_is_refused_at_start(
    simulator_factory: Callable[..., Any],
) -> None:
    with pytest.raises(ScenarioError, match="needs an id, a slug and a name"):
        await simulator_factory(Scenario(modules=[ModuleSpec(id=500, slug="acme/x")]))


async def test_example_scenario_drives_the_server(
    tmp_path: Path,
    simulator_factory: Callable[..., Any],
    sim_client_factory: ClientFactory,
    fake_clock: FakeClock,
) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(EXAMPLE)
    scenario = Scenario.from_file(path).model_copy(update={"faults": []})
    simulator = await simulator_factory(scenario, clock=fake_clock)
    client = sim_client_factory(simulator)
    custom = await client.post(
        "tasks.run.app", json={"agentId": 5, "workspaceId": 5, "moduleId": 110}
    )
    assert custom.status_code == 200
    task = simulator.tasks()[0]
    assert (task["teamId"], task["meta"]["app"]["version"]) == (2, "v3.0.0")
    assert (
        await client.post("tasks.run.app", json={"agentId": 2, "workspaceId": 1, "moduleId": 101})
    ).status_code == 200, "agent 2 was replaced by a running one"
    fake_clock.advance(1 + 2)
    assert simulator.task_status(1002) == "started", "module 101 now runs 10 s"
    fake_clock.advance(100)
    assert simulator.task_status(1001) == "started", "a serving module never ends"
    teams = (await client.post("teams.list", json={})).json()
    assert teams["perPage"] == 3
    assert [t["id"] for t in teams["entities"]] == [1, 2]


def test_fast_scenario_sets_every_phase() -> None:
    assert Scenario.fast(0.01).durations == PhaseDurations.uniform(0.01)


async def test_catalogue_can_start_empty(
    tmp_path: Path, simulator_factory: Callable[..., Any], sim_client_factory: ClientFactory
) -> None:
    path = tmp_path / "bare.yaml"
    path.write_text("default_catalogue: false\nteams: [{id: 9, name: Only}]")
    client = sim_client_factory(await simulator_factory(Scenario.from_file(path)))
    assert (await client.post("ecosystem.list", json={})).json()["total"] == 0
    teams = (await client.post("teams.list", json={})).json()
    assert [team["id"] for team in teams["entities"]] == [9]
    assert (await client.post("agents.info", json={"id": 1})).status_code == 404


async def test_documented_example_scenario_is_valid_and_starts(
    tmp_path: Path, simulator_factory: Callable[..., Any]
) -> None:
    doc = Path(__file__).parents[2] / "docs" / "simulator.md"
    example = doc.read_text().split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "documented.yaml"
    path.write_text(example)
    scenario = Scenario.from_file(path)
    assert len(scenario.faults) == 5
    simulator = await simulator_factory(scenario)
    assert simulator.state.catalogue.module(110).behaviour.outcome is Outcome.SERVE
