"""Run the operator as a real process against the local control plane and the simulator.

Tests drive it as users would: ``kubectl apply``/``patch``/``delete`` and reading status, and
they may SIGKILL it at any moment. Nothing of the operator is mocked or imported here.
"""

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import yaml

from supervisely_operator.demo.process import OperatorProcess
from supervisely_operator.devcluster.access import ClusterAccess
from supervisely_operator.simulator.runner import ThreadedSimulator

__all__ = [
    "OperatorProcess",
    "Tasks",
    "condition",
    "live_tasks",
    "phase_of",
    "wait_until",
]


def wait_until(holds: Callable[[], bool], *, what: str, timeout: float = 20.0) -> None:
    """Poll ``holds`` until it is true; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while not holds():
        assert time.monotonic() < deadline, f"not {what} within {timeout}s"
        time.sleep(0.05)


class Tasks:
    """SuperviselyTask objects of one namespace, through kubectl."""

    def __init__(self, cluster: ClusterAccess, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> str:
        result = self.cluster.kubectl("-n", self.namespace, *args, check=check, input=input)
        return result.stdout

    def apply(self, name: str, spec: Mapping[str, Any]) -> None:
        manifest = {
            "apiVersion": "supervisely.com/v1alpha1",
            "kind": "SuperviselyTask",
            "metadata": {"name": name},
            "spec": dict(spec),
        }
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))

    def patch_spec(self, name: str, spec: Mapping[str, Any]) -> None:
        self.merge_patch(name, {"spec": dict(spec)})

    def merge_patch(self, name: str, patch: Mapping[str, Any]) -> None:
        """An RFC 7386 merge patch, as Argo CD sends for a resource action."""
        self.kubectl("patch", "slytask", name, "--type=merge", "-p", json.dumps(patch))

    def annotate(self, name: str, key: str, value: str | None) -> None:
        """Set (or, with None, remove) an annotation, as a user or an Argo CD action would."""
        change = f"{key}-" if value is None else f"{key}={value}"
        self.kubectl("annotate", "--overwrite", "slytask", name, change)

    def get(self, name: str) -> dict[str, Any] | None:
        out = self.kubectl("get", "slytask", name, "-o", "json", "--ignore-not-found")
        return json.loads(out) if out.strip() else None

    def delete(self, name: str, *, wait: bool = False) -> None:
        self.kubectl("delete", "slytask", name, f"--wait={str(wait).lower()}", "--timeout=60s")

    def wait(
        self,
        name: str,
        until: Callable[[dict[str, Any] | None], bool],
        *,
        what: str,
        timeout: float = 30.0,
    ) -> dict[str, Any] | None:
        """Poll the object until ``until`` holds; fail naming ``what`` and the last status."""
        deadline = time.monotonic() + timeout
        obj = self.get(name)
        while not until(obj):
            if time.monotonic() > deadline:
                status = (obj or {}).get("status")
                raise AssertionError(f"{name}: not {what} within {timeout}s; status={status}")
            time.sleep(0.3)
            obj = self.get(name)
        return obj

    def wait_phase(self, name: str, phase: str, *, timeout: float = 30.0) -> dict[str, Any]:
        obj = self.wait(name, lambda o: phase_of(o) == phase, what=phase, timeout=timeout)
        assert obj is not None
        return obj

    def wait_gone(self, name: str, *, timeout: float = 30.0) -> None:
        self.wait(name, lambda o: o is None, what="deleted", timeout=timeout)


def live_tasks(simulator: ThreadedSimulator) -> list[int]:
    """Ids of the simulator's tasks that have not ended (terminating ones included)."""
    active = {"queued", "consumed", "started", "deployed", "terminating"}
    return [task["id"] for task in simulator.tasks() if task["status"] in active]


def phase_of(obj: Mapping[str, Any] | None) -> str | None:
    return ((obj or {}).get("status") or {}).get("phase")


def condition(obj: Mapping[str, Any], type_: str) -> dict[str, Any]:
    """The condition of this type, or an empty mapping while there is none yet."""
    conditions = (obj.get("status") or {}).get("conditions", [])
    found: dict[str, Any] = next((c for c in conditions if c["type"] == type_), {})
    return found
