"""The Argo CD health check on live objects of the real operator, in every test run.

The captured testdata pins the check to what the operator wrote on the day of the capture; this
keeps it pinned to what the operator writes today. A renamed condition, reason or phase fails
here before an Argo CD user sees a wrong heart.
"""

from collections.abc import Callable
from typing import Any

from argocd_health import Verdict, run_health
from harness import Operator, SimulatorView, Tasks, condition, phase_of

SERVE = {"moduleId": 103}


def synced_is(value: str) -> Callable[[dict[str, Any] | None], bool]:
    return lambda obj: obj is not None and condition(obj, "Synced").get("status") == value


def verdict_of(tasks: Tasks, name: str) -> Verdict:
    obj = tasks.get(name)
    assert obj is not None, f"{name} is gone"
    return run_health(obj)


def test_live_objects_get_the_documented_verdicts(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    created = tasks.apply("serve", SERVE)
    tasks.apply("train", {"moduleId": 101})
    tasks.apply("fails", {"moduleId": 102, "backoff": {"limit": 0}})

    # Every version on the way up is Progressing, Running while the app loads too: never
    # Degraded, Unknown or Healthy early.
    seen: list[tuple[str | None, Verdict]] = []

    def ready_and_recorded(obj: dict[str, Any] | None) -> bool:
        assert obj is not None
        seen.append((phase_of(obj), run_health(obj)))
        return condition(obj, "Ready").get("status") == "True"

    running = tasks.wait("serve", ready_and_recorded, what="Running and Ready", since=created)
    assert running is not None
    on_the_way = [(phase, v.status) for phase, v in seen[:-1]]
    assert on_the_way[0] == (None, "Progressing"), "from the version without a status on"
    assert {status for _, status in on_the_way} == {"Progressing"}, on_the_way
    assert run_health(running) == Verdict("Healthy", condition(running, "Ready")["message"])

    succeeded = tasks.wait_phase("train", "Succeeded")
    expected = Verdict("Healthy", condition(succeeded, "Succeeded")["message"])
    assert run_health(succeeded) == expected

    failed = tasks.wait_phase("fails", "Failed")
    assert condition(failed, "Failed")["reason"] == "BackoffLimitExceeded"
    assert run_health(failed) == Verdict("Degraded", condition(failed, "Failed")["message"])

    # An outage is Progressing while it lasts, a refused token Degraded; Healthy again after.
    for fault, reason, health in (
        (503, "Unavailable", "Progressing"),
        (401, "Unauthorized", "Degraded"),
    ):
        simulator.inject_fault("*", status=fault)
        try:
            refused = tasks.wait("serve", synced_is("False"), what=f"reporting {reason}")
        finally:
            simulator.clear_faults()  # a failure here must not leave teardown a dead Supervisely
        assert refused is not None
        assert condition(refused, "Synced")["reason"] == reason
        assert run_health(refused) == Verdict(health, condition(refused, "Synced")["message"])
        tasks.wait("serve", synced_is("True"), what="synced again")
        assert verdict_of(tasks, "serve").status == "Healthy"

    tasks.patch_spec("serve", {"suspend": True})
    suspended = tasks.wait_phase("serve", "Suspended")
    assert run_health(suspended) == Verdict("Suspended", condition(suspended, "Ready")["message"])
