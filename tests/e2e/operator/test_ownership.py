"""One task, one resource: two resources that adopt one free task at once, on a real API server.

Exactly one gets it; the other is refused naming it, and takes the task over as soon as the
winner is deleted with ``deletionPolicy: Orphan``, long before the resync would have come.
"""

import time

import yaml

from harness import Operator, SimulatorView, Tasks, condition, live_tasks

SERVE = {"moduleId": 103, "deletionPolicy": "Orphan"}
TAKEOVER_WITHIN = 15.0
"""Seconds; the refused resource's own re-check is the resync interval (300 s here)."""


def task_id_of(obj: dict | None) -> int | None:
    return ((obj or {}).get("status") or {}).get("taskId")


def refused(obj: dict | None) -> bool:
    return condition(obj or {}, "Synced").get("reason") == "AdoptionRefused"


def test_two_resources_adopting_one_task_at_once_then_the_loser_takes_it_over(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    tasks.apply("origin", SERVE)
    task_id = task_id_of(tasks.wait("origin", lambda o: task_id_of(o) is not None, what="a task"))
    tasks.delete("origin", wait=True)  # Orphan: the task runs on, nobody's
    assert live_tasks(simulator) == [task_id]

    manifests = [
        {
            "apiVersion": "supervisely.com/v1alpha1",
            "kind": "SuperviselyTask",
            "metadata": {"name": name},
            "spec": {**SERVE, "workspaceId": tasks.workspace_id, "adoptTaskId": task_id},
        }
        for name in ("left", "right")
    ]
    tasks.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(manifests))

    def settled(_: object) -> bool:
        both = [tasks.get("left"), tasks.get("right")]
        adopted = sorted(map(task_id_of, both), key=str) == sorted([task_id, None], key=str)
        return adopted and any(refused(obj) for obj in both)

    tasks.wait("left", settled, what="one adopted and one refused")
    winner, loser = ("left", "right")
    if task_id_of(tasks.get("left")) != task_id:
        winner, loser = loser, winner
    message = condition(tasks.get(loser) or {}, "Synced")["message"]
    assert message == f"Task {task_id} already belongs to {tasks.namespace}/{winner}"

    tasks.delete(winner, wait=True)
    gone_at = time.monotonic()
    taken = tasks.wait(loser, lambda o: task_id_of(o) == task_id, what="taken over", timeout=30)
    assert time.monotonic() - gone_at < TAKEOVER_WITHIN, "woken, not left to the resync"
    assert condition(taken or {}, "Synced")["status"] == "True"
    assert live_tasks(simulator) == [task_id], "the same session, never stopped"
    assert len(simulator.calls("tasks.run.app")) == 1, "adopted twice, started once"
