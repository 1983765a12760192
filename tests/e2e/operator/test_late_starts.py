"""A start the server holds past the client's timeout, and only then carries out.

The client gives up (``requestTimeout``, 2 s here) and cannot know whether the task will exist.
Within the grace (``startGrace``, 4 s here) the late task is found by its marker and adopted;
later than that, a second start has been made, and the late task is a stray that the operator
stops. Either way one task is left running.
"""

from collections.abc import Mapping

import pytest

from harness import Operator, SimulatorView, Tasks, live_tasks, wait_until

SERVE = {"moduleId": 103}


@pytest.fixture
def timeout_and_grace(operator_env: Mapping[str, str]) -> tuple[float, float]:
    """The operator's request timeout and start grace, in seconds."""
    return (
        float(operator_env["SUPERVISELY_OPERATOR_REQUEST_TIMEOUT"]),
        float(operator_env["SUPERVISELY_OPERATOR_START_GRACE"]),
    )


def test_a_start_held_past_the_client_timeout_is_adopted_not_made_again(
    tasks: Tasks,
    simulator: SimulatorView,
    operator: Operator,
    timeout_and_grace: tuple[float, float],
) -> None:
    request_timeout, start_grace = timeout_and_grace
    simulator.inject_fault("tasks.run.app", delay=(request_timeout + start_grace) / 2, times=1)
    tasks.apply("serve", SERVE)

    obj = tasks.wait_phase("serve", "Running")
    [task] = simulator.tasks()
    assert obj["status"]["taskId"] == task["id"]
    assert len(simulator.calls("tasks.run.app")) == 1, "no second start"


def test_a_start_carried_out_after_the_grace_is_stopped_as_a_stray(
    tasks: Tasks,
    simulator: SimulatorView,
    operator: Operator,
    timeout_and_grace: tuple[float, float],
) -> None:
    _, start_grace = timeout_and_grace
    simulator.inject_fault("tasks.run.app", delay=start_grace + 2, times=1)
    tasks.apply("serve", SERVE)

    wait_until(lambda: len(simulator.tasks()) == 2, what="the second start, then the late one")
    obj = tasks.wait_phase("serve", "Running")
    own = obj["status"]["taskId"]
    late = max(task["id"] for task in simulator.tasks())
    assert own != late, "the resource keeps the start it recorded"
    wait_until(lambda: live_tasks(simulator) == [own], what="the late task stopped")
    assert [call.body["id"] for call in simulator.calls("tasks.stop")] == [late]
