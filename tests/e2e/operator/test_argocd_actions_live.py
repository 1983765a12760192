"""The Argo CD resource actions on live objects of the real operator, in every test run.

Each test does what Argo CD does when someone picks an action: it runs ``discovery.lua`` and the
action's script on the live object, computes the merge patch from the live object to the one the
script returns, and sends it. Then it checks that the operator keeps the action's promise. The
merge patch is asserted too: on a real object (managedFields, last-applied annotation and all)
it must be the action's one field, or the round trip through Lua is not Argo CD's.

Restart and refresh rest on the operator's support for ``supervisely.com/restart-requested-at``
and ``supervisely.com/refresh-requested-at`` (``status.restartRequestHandled``,
``status.refreshHandled``); suspend and resume only on ``spec.suspend``.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from supervisely_operator.controller.merge_patch import merge_patch

from argocd_actions import REFRESH_ANNOTATION, RESTART_ANNOTATION, discover, run_action
from harness import Operator, SimulatorView, Tasks, live_tasks, phase_of

SERVE = {"moduleId": 103}
FINISHES = {"appSlug": "supervisely-ecosystem/sim-train-finishes"}


def offered(obj: dict[str, Any]) -> set[str]:
    return {action.name for action in discover(obj) if not action.disabled}


def run(tasks: Tasks, name: str, action: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Run ``action`` on the live object as Argo CD does; return the merge patch it sent."""
    obj = tasks.get(name)
    assert obj is not None, f"{name} is gone"
    assert action in offered(obj), f"{action} not offered in phase {phase_of(obj)}: {offered(obj)}"
    patch = merge_patch(obj, run_action(obj, action, now=now or datetime.now(UTC)))
    if patch:  # Argo CD sends nothing for an empty patch
        tasks.merge_patch(name, patch)
    return patch


def request(tasks: Tasks, name: str, action: str, *, now: datetime | None = None) -> str:
    """Run restart or refresh; the patch must be its annotation alone. Return the value."""
    annotation = {"restart": RESTART_ANNOTATION, "refresh": REFRESH_ANNOTATION}[action]
    patch = run(tasks, name, action, now=now)
    stamp: str = patch["metadata"]["annotations"][annotation]
    assert patch == {"metadata": {"annotations": {annotation: stamp}}}
    return stamp


def status(obj: dict[str, Any] | None) -> dict[str, Any]:
    return (obj or {}).get("status") or {}


def handled(
    field: str, stamp: str, *, phase: str | None = None, replacing: int | None = None
) -> Callable[[dict[str, Any] | None], bool]:
    """The operator recorded ``stamp`` in ``status.<field>`` (and, if given, is in ``phase`` with a
    task other than ``replacing``)."""
    return lambda obj: (
        status(obj).get(field) == stamp
        and (phase is None or phase_of(obj) == phase)
        and (replacing is None or status(obj).get("taskId") not in (None, replacing))
    )


def test_suspend_stops_the_task_and_resume_starts_a_new_one(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    """Also the proof of suspension itself: Argo CD's patch is what ``kubectl patch`` sends."""
    tasks.apply("serve", SERVE)
    running = tasks.wait_phase("serve", "Running")
    first = running["status"]["taskId"]
    assert offered(running) == {"restart", "suspend", "refresh"}

    assert run(tasks, "serve", "suspend") == {"spec": {"suspend": True}}
    suspended = tasks.wait_phase("serve", "Suspended")
    assert simulator.task_status(first) == "stopped"
    assert "taskId" not in status(suspended)
    assert status(suspended)["previousTaskIds"] == [first]
    assert offered(suspended) == {"resume", "refresh"}

    assert run(tasks, "serve", "resume") == {"spec": {"suspend": False}}
    resumed = tasks.wait(
        "serve",
        lambda o: phase_of(o) == "Running" and status(o).get("taskId") not in (None, first),
        what="running a new task",
    )
    assert status(resumed)["taskId"] in live_tasks(simulator)
    assert len(simulator.calls("tasks.run.app")) == 2


def test_restart_replaces_the_task_once_per_request_and_refresh_restarts_nothing(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    """Also the proof of the restart and refresh annotations themselves: Argo CD's patch is the
    annotation alone, as ``kubectl annotate`` sets it."""
    tasks.apply("serve", SERVE)
    running = tasks.wait_phase("serve", "Running")
    first = running["status"]["taskId"]

    now = datetime.now(UTC)
    stamp = request(tasks, "serve", "restart", now=now)
    restarted = tasks.wait(
        "serve",
        handled("restartRequestHandled", stamp, phase="Running", replacing=first),
        what=f"restarted for {stamp}",
    )
    assert simulator.task_status(first) == "stopped"
    assert status(restarted)["previousTaskIds"] == [first]
    assert status(restarted)["restarts"] == running["status"]["restarts"], "not counted as an error"
    second = status(restarted)["taskId"]

    # The same request again: Argo CD's patch is empty, and the passes the operator makes later,
    # one forced here by a refresh, leave the handled request alone.
    assert run(tasks, "serve", "restart", now=now) == {}
    refresh = request(tasks, "serve", "refresh")
    later = tasks.wait("serve", handled("refreshHandled", refresh), what="refreshed")
    assert (phase_of(later), status(later)["taskId"]) == ("Running", second)
    assert status(later)["restartRequestHandled"] == stamp
    assert live_tasks(simulator) == [second]
    assert len(simulator.calls("tasks.run.app")) == 2
    assert [call.body["id"] for call in simulator.calls("tasks.stop")] == [first]


def test_restart_runs_a_finished_app_again(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    """Discovery offers restart after Succeeded; the operator must start a new run then."""
    tasks.apply("train", FINISHES)
    finished = tasks.wait_phase("train", "Succeeded")

    stamp = request(tasks, "train", "restart")
    again = tasks.wait(
        "train",
        handled("restartRequestHandled", stamp, replacing=finished["status"]["taskId"]),
        what=f"a new run for {stamp}",
    )
    assert len(simulator.tasks()) == 2
    assert status(again)["restarts"] == finished["status"]["restarts"]
    tasks.wait_phase("train", "Succeeded")
