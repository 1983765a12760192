"""What tasks publish (``meta.output``): ``tasks.output.set`` as the SDK sends it, and a module's
own ``outputs`` published when it finishes or is ready; plus readiness at the ends of a task's
life. Driven over HTTP by a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from supervisely_devkit.simulator import (
    FakeClock,
    LinkKind,
    LinkOutputSpec,
    ModuleSpec,
    OutputsSpec,
    PhaseDurations,
    ProjectOutputSpec,
    Scenario,
    ScenarioError,
    Simulator,
)
from supervisely_devkit.simulator.catalogue import TRAINING_OUTPUTS
from supervisely_devkit.simulator.outputs import published_output

ClientFactory = Callable[..., httpx.AsyncClient]
SimulatorFactory = Callable[..., Any]

DURATIONS = PhaseDurations(queued=1, consumed=2, running=5, terminating=1, ready_delay=3)
"""started at +3 s; a finishing app ends at +8 s; a serving app is ready at +6 s."""
FINISHES, FAILS, SERVES, NEVER_READY = 101, 102, 103, 120
SERVE_OUTPUTS = OutputsSpec(
    project=ProjectOutputSpec(id=7, name="Served"),
    link=LinkOutputSpec(kind=LinkKind.REPORT, title="serving.lnk", url="/files/77"),
)
PROJECT = {"project": {"id": 76, "title": "Lemons"}}
DIRECTORY = {  # TaskApi.set_output_directory(task_id, 7660, "/experiments/76/")
    "general": {
        "icon": {"className": "zmdi zmdi-folder", "color": "#33c94c", "backgroundColor": "#d9f7e4"},
        "title": "/experiments/76/",
        "titleUrl": "/files/7660",
        "download": False,
        "description": "Directory",
    }
}
EXPERIMENT = {"experiment": {"data": {"experiment_name": "run", "evaluation_metrics": {"mAP": 1}}}}


class Session:
    """A simulator on a fake clock and a plain client for it."""

    def __init__(self, simulator: Simulator, client: httpx.AsyncClient, clock: FakeClock) -> None:
        self.simulator = simulator
        self.client = client
        self.clock = clock

    async def start(self, module_id: int) -> int:
        body = {"agentId": 1, "workspaceId": 1, "moduleId": module_id}
        response = await self.client.post("tasks.run.app", json=body)
        assert response.status_code == 200, response.text
        task_id: int = response.json()[0]["taskId"]
        return task_id

    async def output_at(self, task_id: int, seconds: float) -> dict[str, Any]:
        """``meta.output`` at ``seconds`` after the clock's start."""
        self.clock.advance(seconds - (self.clock() - 1000.0))
        response = await self.client.post("tasks.info", json={"id": task_id})
        assert response.status_code == 200, response.text
        output: dict[str, Any] = response.json()["meta"]["output"]
        return output

    async def set_output(self, task_id: int, output: object) -> httpx.Response:
        return await self.client.post(
            "tasks.output.set", json={"taskId": task_id, "output": output}
        )

    async def is_ready(self, task_id: int) -> httpx.Response:
        body = {"taskId": task_id, "command": "is_ready", "context": {}, "state": {}}
        return await self.client.post("tasks.request.direct", json=body)


@pytest.fixture
async def session(
    simulator_factory: SimulatorFactory, sim_client_factory: ClientFactory, fake_clock: FakeClock
) -> Session:
    scenario = Scenario(
        durations=DURATIONS,
        modules=[
            ModuleSpec(id=SERVES, outputs=SERVE_OUTPUTS),
            ModuleSpec(
                id=NEVER_READY,
                slug="acme/never-ready",
                name="Never ready",
                outcome="serve",
                durations={"ready_delay": 1e9},
            ),
        ],
    )
    simulator = await simulator_factory(scenario, clock=fake_clock)
    return Session(simulator, sim_client_factory(simulator), fake_clock)


async def test_each_output_set_replaces_only_the_keys_it_sends(session: Session) -> None:
    task_id = await session.start(SERVES)
    assert await session.output_at(task_id, 0) == {}

    for output in (PROJECT, EXPERIMENT, DIRECTORY):
        response = await session.set_output(task_id, output)
        assert (response.status_code, response.json()) == (200, {"success": True})
    text = {"general": {"title": "Done", "isError": False}}
    await session.set_output(task_id, text)

    assert await session.output_at(task_id, 0) == {**PROJECT, **EXPERIMENT, **text}
    listed = await session.client.post("tasks.list", json={"workspaceId": 1})
    (entity,) = listed.json()["entities"]
    assert entity["meta"]["output"] == {**PROJECT, **EXPERIMENT, **text}


async def test_output_set_refuses_unknown_tasks_and_bad_bodies(session: Session) -> None:
    task_id = await session.start(SERVES)

    missing = await session.set_output(4242, PROJECT)
    not_an_object = await session.set_output(task_id, ["project"])
    no_output = await session.client.post("tasks.output.set", json={"taskId": task_id})

    assert missing.status_code == 404
    assert not_an_object.status_code == no_output.status_code == 400
    assert await session.output_at(task_id, 0) == {}


async def test_an_ended_task_still_takes_a_late_output(session: Session) -> None:
    task_id = await session.start(FAILS)
    await session.output_at(task_id, 60)

    assert (await session.set_output(task_id, PROJECT)).status_code == 200
    assert await session.output_at(task_id, 61) == PROJECT


async def test_a_finishing_module_publishes_its_outputs_when_it_finishes(
    session: Session,
) -> None:
    task_id = await session.start(FINISHES)
    await session.set_output(task_id, PROJECT)

    before = await session.output_at(task_id, 7.99)
    after = await session.output_at(task_id, 8)

    assert before == PROJECT
    assert after == {**PROJECT, **published_output(TRAINING_OUTPUTS, task_id=task_id)}
    assert after["experiment"]["data"]["task_id"] == task_id, "filled in when not given"
    assert after["general"]["titleUrl"] == f"/files/{task_id}", "a link made up for the task"


async def test_a_serving_module_publishes_its_outputs_when_it_is_ready(session: Session) -> None:
    task_id = await session.start(SERVES)

    before = await session.output_at(task_id, 5.99)
    after = await session.output_at(task_id, 6)

    assert before == {}
    assert after == {
        "project": {"id": 7, "title": "Served"},
        "general": {
            "icon": {
                "className": "zmdi zmdi-receipt",
                "color": "#33c94c",
                "backgroundColor": "#d9f7e4",
            },
            "title": "serving.lnk",
            "titleUrl": "/files/77",
            "download": False,
            "description": "Report",
        },
    }


@pytest.mark.parametrize("end", ["stop", "force"])
async def test_a_task_ended_before_its_moment_publishes_nothing(session: Session, end: str) -> None:
    task_id = await session.start(FINISHES)
    await session.output_at(task_id, 5)
    if end == "stop":
        await session.client.post("tasks.stop", json={"id": task_id})
    else:
        session.simulator.force_task(task_id, "finished")

    assert await session.output_at(task_id, 60) == {}


async def test_a_failing_module_publishes_nothing(session: Session) -> None:
    task_id = await session.start(FAILS)
    assert await session.output_at(task_id, 60) == {}


async def test_publish_output_is_a_lever_for_tests(session: Session) -> None:
    task_id = await session.start(SERVES)
    session.simulator.publish_output(task_id, DIRECTORY)
    assert await session.output_at(task_id, 0) == DIRECTORY


async def test_an_ended_task_is_refused_by_the_platform_not_by_its_app(session: Session) -> None:
    task_id = await session.start(SERVES)
    await session.output_at(task_id, 3)
    assert (await session.is_ready(task_id)).json() == {"detail": "Service not ready"}
    await session.client.post("tasks.stop", json={"id": task_id})
    terminating = await session.is_ready(task_id)
    await session.output_at(task_id, 10)

    stopped = await session.is_ready(task_id)

    assert terminating.status_code == 503, "still live: the app's own answer"
    assert stopped.status_code == 400
    assert stopped.json() == {
        "error": "Bad request",
        "details": {"message": f"Task {task_id} is not running (status stopped)"},
    }


async def test_a_very_long_ready_delay_keeps_an_app_from_ever_being_ready(
    session: Session,
) -> None:
    task_id = await session.start(NEVER_READY)
    await session.output_at(task_id, 3)
    started = await session.is_ready(task_id)
    await session.output_at(task_id, 86_400 * 365)

    a_year_later = await session.is_ready(task_id)

    assert started.status_code == a_year_later.status_code == 503
    info = await session.client.post("tasks.info", json={"id": task_id})
    assert info.json()["status"] == "started"


def test_scenario_outputs_from_yaml_and_refusals(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(
        """
modules:
  - id: 101
    outputs:
      project: {id: 7, name: Lemons}
      link: {kind: archive, title: model.tar, url: /files/9}
      experiment: {experiment_name: run, evaluation_metrics: {mAP: 0.5}}
"""
    )
    outputs = Scenario.from_file(path).modules[0].outputs
    assert outputs is not None
    assert outputs.link == LinkOutputSpec(kind=LinkKind.ARCHIVE, title="model.tar", url="/files/9")

    path.write_text("modules: [{id: 101, outputs: {link: {title: a}, text: done}}]")
    with pytest.raises(ScenarioError, match="pick one"):
        Scenario.from_file(path)
    path.write_text("durations: {ready_delay: .inf}")
    with pytest.raises(ScenarioError, match="ready_delay"):
        Scenario.from_file(path)
