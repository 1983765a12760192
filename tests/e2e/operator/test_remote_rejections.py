"""What only Supervisely can refuse ends in a condition with its reason; the rest keep going."""

from supervisely_devkit.simulator.runner import ThreadedSimulator

from harness import OperatorProcess, Tasks, condition


def test_refusals_are_reported_and_other_resources_are_still_served(
    tasks: Tasks, simulator: ThreadedSimulator, operator: OperatorProcess
) -> None:
    tasks.apply("no-such-app", {"appSlug": "supervisely-ecosystem/nope", "workspaceId": 1})
    tasks.apply("agent-down", {"moduleId": 101, "workspaceId": 1, "agentId": 2})
    tasks.apply("fine", {"moduleId": 101, "workspaceId": 1})

    unknown = tasks.wait_phase("no-such-app", "Failed")
    failed = condition(unknown, "Failed")
    assert failed["reason"] == "StartFailed"
    assert "supervisely-ecosystem/nope" in failed["message"]
    assert unknown["status"]["lastError"]["reason"] == "AppNotFound"

    waiting = tasks.wait(
        "agent-down",
        lambda o: o is not None and condition(o, "Synced").get("reason") == "AgentNotRunning",
        what="waiting for its agent",
    )
    assert waiting is not None
    assert waiting["status"]["phase"] == "Pending"
    tasks.wait_phase("fine", "Succeeded")

    simulator.set_agent_status(2, "running")
    tasks.wait_phase("agent-down", "Succeeded", timeout=30)
    assert len(simulator.calls("tasks.run.app")) == 2, "nothing started for the unknown app"


def test_a_rejected_start_is_not_retried_until_the_spec_changes(
    tasks: Tasks, simulator: ThreadedSimulator, operator: OperatorProcess
) -> None:
    simulator.inject_fault("tasks.run.app", status=400, times=1, message="moduleId is disabled")
    tasks.apply("refused", {"moduleId": 101, "workspaceId": 1})
    obj = tasks.wait_phase("refused", "Failed")
    assert "moduleId is disabled" in obj["status"]["lastError"]["message"]
    assert len(simulator.calls("tasks.run.app")) == 1

    tasks.patch_spec("refused", {"params": {"retry": True}})
    tasks.wait_phase("refused", "Succeeded")
    assert len(simulator.calls("tasks.run.app")) == 2
