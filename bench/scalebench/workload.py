"""What the benchmark applies: a fleet of mixed apps, and the simulator scenario they play out.

Most resources serve (they stay started until stopped), a fifth train and finish after 30 to
120 s, a tenth fail and are restarted by the operator until their backoff limit. Durations are
per module in the simulator, so each finishing duration is its own module. Objects carry their
lifecycle as a label, so a watch can average writes per lifecycle.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from supervisely_devkit.simulator import Scenario
from supervisely_operator.api import resource

LIFECYCLE_LABEL: Final = "bench.supervisely.com/lifecycle"
SERVE: Final = "serve"
FINISH: Final = "finish"
FAIL: Final = "fail"
LIFECYCLES: Final = (SERVE, FINISH, FAIL)
RUNNING_LIFECYCLES: Final = frozenset({SERVE, FINISH})
"""Lifecycles that must reach Running (a failing app may error before it is seen running)."""

WORKSPACE_ID: Final = 1
AGENT_ID: Final = 1
SERVE_MODULE: Final = 9001
FINISH_MODULES: Final = {9011: 30.0, 9012: 60.0, 9013: 90.0, 9014: 120.0}
"""Module id -> seconds from started to finished."""
FAIL_MODULE: Final = 9021
FAIL_RUNNING_SECONDS: Final = 3.0
FAIL_BACKOFF: Final = {"limit": 2, "initialDelaySeconds": 1, "maxDelaySeconds": 5}
TERMINATING_SECONDS: Final = 1.0


@dataclass(frozen=True)
class Planned:
    """One object to create: its name, lifecycle and spec."""

    name: str
    lifecycle: str
    spec: dict[str, Any]


def lifecycle_of(index: int) -> str:
    """7 of every 10 serve, 2 finish, 1 fails: exact shares for any multiple of 10."""
    slot = index % 10
    if slot < 7:
        return SERVE
    if slot < 9:
        return FINISH
    return FAIL


def spec_for(index: int, lifecycle: str) -> dict[str, Any]:
    """The spec of the ``index``-th object of a lifecycle."""
    base = {"workspaceId": WORKSPACE_ID, "agentId": AGENT_ID}
    if lifecycle == SERVE:
        return {**base, "moduleId": SERVE_MODULE}
    if lifecycle == FINISH:
        modules = sorted(FINISH_MODULES)
        return {**base, "moduleId": modules[index % len(modules)]}
    return {**base, "moduleId": FAIL_MODULE, "restartPolicy": "OnError", "backoff": FAIL_BACKOFF}


def plan(count: int, *, prefix: str = "t") -> Iterator[Planned]:
    """The objects of a run of ``count``, in creation order."""
    width = len(str(max(count - 1, 0)))
    for index in range(count):
        lifecycle = lifecycle_of(index)
        yield Planned(f"{prefix}-{index:0{width}d}", lifecycle, spec_for(index, lifecycle))


def manifest(planned: Planned) -> dict[str, Any]:
    """The object as the API server is asked to create it."""
    return {
        "apiVersion": resource.API_VERSION,
        "kind": resource.KIND,
        "metadata": {"name": planned.name, "labels": {LIFECYCLE_LABEL: planned.lifecycle}},
        "spec": planned.spec,
    }


def scenario() -> Scenario:
    """Short start-up phases (about 1 s each), the long ones only where an app runs."""
    finishing = [
        {
            "id": module_id,
            "slug": f"bench/train-finishes-{int(seconds)}s",
            "name": f"Bench: train, finishes after {int(seconds)} s",
            "outcome": "finish",
            "durations": {"running": seconds},
            "versions": ["v1.0.0"],
        }
        for module_id, seconds in FINISH_MODULES.items()
    ]
    return Scenario.model_validate(
        {
            "durations": {
                "queued": 1.0,
                "consumed": 1.0,
                "running": FAIL_RUNNING_SECONDS,
                "terminating": TERMINATING_SECONDS,
                "ready_delay": 1.0,
            },
            "modules": [
                {
                    "id": SERVE_MODULE,
                    "slug": "bench/serve",
                    "name": "Bench: serve",
                    "outcome": "serve",
                    "versions": ["v1.0.0"],
                },
                *finishing,
                {
                    "id": FAIL_MODULE,
                    "slug": "bench/train-fails",
                    "name": "Bench: train, fails",
                    "outcome": "error",
                    "durations": {"running": FAIL_RUNNING_SECONDS},
                    "versions": ["v1.0.0"],
                },
            ],
        }
    )
