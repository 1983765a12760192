"""Run the operator as a real process against the local control plane and the simulator.

Tests drive it as users would: ``kubectl apply``/``patch``/``annotate``/``delete``, and they may
SIGKILL it at any moment. Nothing of the operator is mocked or imported here.

One operator and one simulator serve the tests one after another; each test has a namespace and
a Supervisely workspace of its own, and reads only its own tasks, calls and log lines. State is
read with the ``kubernetes`` client and waited for with a watch: a ``kubectl get`` every few
hundred milliseconds cost a Go process start each time, a real share of two cores.
"""

import itertools
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import psutil
import pytest
import yaml
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from supervisely_devkit.demo.process import OperatorProcess, log_errors
from supervisely_devkit.devcluster.access import ClusterAccess
from supervisely_devkit.simulator import Scenario
from supervisely_devkit.simulator.record import CallRecord
from supervisely_devkit.simulator.runner import ThreadedSimulator
from supervisely_devkit.simulator.wire import JsonObject
from supervisely_operator.api.resource import (
    API_VERSION,
    CRON_KIND,
    CRON_LABEL,
    CRON_PLURAL,
    GROUP,
    KIND,
    PLURAL,
    TRIGGER_ANNOTATION,
    VERSION,
)

__all__ = [
    "NEVER_READY_MODULE",
    "POOL",
    "SLOW_TO_LOAD_MODULE",
    "LogMarks",
    "Operator",
    "OperatorConfig",
    "OperatorPool",
    "OperatorProcess",
    "Schedules",
    "SimulatorView",
    "Tasks",
    "condition",
    "e2e_scenario",
    "live_tasks",
    "minute_after",
    "parse_time",
    "phase_of",
    "wait_until",
]

Obj = dict[str, Any]
LIVE_STATUSES = frozenset({"queued", "consumed", "started", "deployed", "terminating"})
WATCH_SLICE_SECONDS = 5
"""A wait re-reads the object at least this often, in case a watch stream stalls."""
NEVER_READY_MODULE = 120
SLOW_TO_LOAD_MODULE = 121


def e2e_scenario() -> Scenario:
    """Phases of a few hundred milliseconds; apps that finish, fail and serve, one that takes
    2 s to load its model and one that never does."""
    return Scenario.model_validate(
        {
            "durations": {
                "queued": 0.2,
                "consumed": 0.2,
                "running": 0.6,
                "terminating": 0.3,
                "ready_delay": 0.2,
            },
            "modules": [
                {
                    "id": NEVER_READY_MODULE,
                    "slug": "supervisely-ecosystem/sim-serve-never-ready",
                    "name": "Never ready",
                    "outcome": "serve",
                    "durations": {"ready_delay": 3600},
                },
                {
                    "id": SLOW_TO_LOAD_MODULE,
                    "slug": "supervisely-ecosystem/sim-serve-slow-to-load",
                    "name": "Slow to load",
                    "outcome": "serve",
                    "durations": {"ready_delay": 2.0},
                },
            ],
        }
    )


def wait_until(
    holds: Callable[[], bool], *, what: str, timeout: float = 20.0, interval: float = 0.05
) -> None:
    """Poll ``holds`` until it is true; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while not holds():
        assert time.monotonic() < deadline, f"not {what} within {timeout}s"
        time.sleep(interval)


class Tasks:
    """SuperviselyTask objects of one namespace: written with kubectl as a user would, read with
    the ``kubernetes`` client. Their spec's ``workspaceId`` defaults to the test's workspace."""

    def __init__(
        self,
        cluster: ClusterAccess,
        objects: client.CustomObjectsApi,
        *,
        namespace: str,
        workspace_id: int,
    ) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.workspace_id = workspace_id
        self._objects = objects

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> str:
        result = self.cluster.kubectl("-n", self.namespace, *args, check=check, input=input)
        return result.stdout

    def apply(self, name: str, spec: Mapping[str, Any]) -> Obj:
        """``kubectl apply`` the resource; the version it stored (to wait from, see ``wait``)."""
        manifest = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": name},
            "spec": {"workspaceId": self.workspace_id, **spec},
        }
        applied: Obj = json.loads(
            self.kubectl("apply", "-o", "json", "-f", "-", input=yaml.safe_dump(manifest))
        )
        return applied

    def patch_spec(self, name: str, spec: Mapping[str, Any]) -> None:
        self.merge_patch(name, {"spec": dict(spec)})

    def merge_patch(self, name: str, patch: Mapping[str, Any]) -> None:
        """An RFC 7386 merge patch, as Argo CD sends for a resource action."""
        self.kubectl("patch", "slytask", name, "--type=merge", "-p", json.dumps(patch))

    def annotate(self, name: str, key: str, value: str | None) -> None:
        """Set (or, with None, remove) an annotation, as a user or an Argo CD action would."""
        change = f"{key}-" if value is None else f"{key}={value}"
        self.kubectl("annotate", "--overwrite", "slytask", name, change)

    def delete(self, name: str, *, wait: bool = False) -> None:
        self.kubectl("delete", "slytask", name, f"--wait={str(wait).lower()}", "--timeout=60s")

    def get(self, name: str) -> Obj | None:
        try:
            found: Obj = self._objects.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return found

    def names(self) -> list[str]:
        """The names of every SuperviselyTask in the namespace."""
        listed = self._objects.list_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL)
        return [item["metadata"]["name"] for item in listed["items"]]

    def wait(
        self,
        name: str,
        until: Callable[[Obj | None], bool],
        *,
        what: str,
        timeout: float = 30.0,
        since: Obj | None = None,
    ) -> Obj | None:
        """Follow the object until ``until`` holds for one of its versions; fail naming ``what``
        and the last status. ``until`` sees every version the API server stores (None once the
        object is gone) from the current one on, or from ``since`` (a version ``apply``
        returned) on: not just the ones a poll would happen upon."""
        deadline = time.monotonic() + timeout
        if since is None:
            obj, version = self._current(name)
        else:
            obj, version = since, since["metadata"]["resourceVersion"]
        while not until(obj):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                status = (obj or {}).get("status")
                raise AssertionError(f"{name}: not {what} within {timeout}s; status={status}")
            for obj in self._versions(name, since=version, seconds=remaining):
                if until(obj):
                    return obj
            obj, version = self._current(name)
        return obj

    def _current(self, name: str) -> tuple[Obj | None, str]:
        """The object (None if absent) and the resourceVersion to watch from."""
        listed = self._objects.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, field_selector=f"metadata.name={name}"
        )
        items: list[Obj] = listed["items"]
        version: str = listed["metadata"]["resourceVersion"]
        return (items[0] if items else None), version

    def _versions(self, name: str, *, since: str, seconds: float) -> Iterator[Obj | None]:
        """Each new version of the object after ``since`` for up to ``seconds`` (at most a
        slice of them); None once it is deleted. Ends early if the stream breaks."""
        window = max(1, min(WATCH_SLICE_SECONDS, int(seconds + 0.999)))
        stream = watch.Watch()
        try:
            for event in stream.stream(
                self._objects.list_namespaced_custom_object,
                GROUP,
                VERSION,
                self.namespace,
                PLURAL,
                field_selector=f"metadata.name={name}",
                resource_version=since,
                timeout_seconds=window,
                _request_timeout=window + 5,
            ):
                if event["type"] == "DELETED":
                    yield None
                elif event["type"] in ("ADDED", "MODIFIED"):
                    yield event["object"]
        except ApiException:
            return  # e.g. 410 Gone: the caller reads the object again
        finally:
            stream.stop()

    def wait_phase(self, name: str, phase: str, *, timeout: float = 30.0) -> Obj:
        obj = self.wait(name, lambda o: phase_of(o) == phase, what=phase, timeout=timeout)
        assert obj is not None
        return obj

    def wait_gone(self, name: str, *, timeout: float = 30.0) -> None:
        self.wait(name, lambda o: o is None, what="deleted", timeout=timeout)

    def delete_all(self) -> None:
        """Delete what the test left while its operator still runs; strip the finalizer of what
        is stuck behind it 30 s later (so later tests run) and fail naming it. Cron tasks go
        first: one left behind would make runs for the rest of the session."""
        self.kubectl("delete", "slycron", "--all", "--timeout=30s", check=False)
        self.kubectl("delete", "slytask", "--all", "--timeout=30s", check=False)
        leftovers = self.names()
        for leftover in leftovers:
            self.kubectl(
                "patch",
                "slytask",
                leftover,
                "--type=merge",
                "-p",
                '{"metadata":{"finalizers":null}}',
                check=False,
            )
        if leftovers:
            pytest.fail(
                f"stuck behind the finalizer 30 s after deletion (stripped so later tests run): "
                f"{leftovers}",
                pytrace=False,
            )


def minute_after(seconds: float) -> datetime:
    """The first minute boundary at least ``seconds`` from now: a tick a test has time to set up
    for. Schedule that one minute (``M H * * *``), not every minute: a boundary that comes
    during the setup must not fire too."""
    soon = datetime.now(UTC) + timedelta(seconds=seconds)
    return soon.replace(second=0, microsecond=0) + timedelta(minutes=1)


def parse_time(stamp: str) -> datetime:
    """An RFC 3339 time as the API server and the operator write it."""
    return datetime.fromisoformat(stamp)


class Schedules:
    """SuperviselyCronTask objects of the namespace of ``tasks``, and their runs. Their template's
    ``workspaceId`` defaults to the test's workspace; ``Tasks.delete_all`` deletes them."""

    def __init__(self, tasks: Tasks, objects: client.CustomObjectsApi) -> None:
        self.tasks = tasks
        self._objects = objects

    def apply(self, name: str, spec: Mapping[str, Any]) -> Obj:
        template = dict(spec["taskTemplate"])
        template["spec"] = {"workspaceId": self.tasks.workspace_id, **template["spec"]}
        manifest = {
            "apiVersion": API_VERSION,
            "kind": CRON_KIND,
            "metadata": {"name": name},
            "spec": {**spec, "taskTemplate": template},
        }
        applied: Obj = json.loads(
            self.tasks.kubectl("apply", "-o", "json", "-f", "-", input=yaml.safe_dump(manifest))
        )
        return applied

    def get(self, name: str) -> Obj:
        obj: Obj = self._objects.get_namespaced_custom_object(
            GROUP, VERSION, self.tasks.namespace, CRON_PLURAL, name
        )
        return obj

    def runs(self, name: str) -> list[Obj]:
        """The SuperviselyTasks the cron task made, oldest first."""
        listed = self._objects.list_namespaced_custom_object(
            GROUP, VERSION, self.tasks.namespace, PLURAL, label_selector=f"{CRON_LABEL}={name}"
        )
        items: list[Obj] = listed["items"]
        return sorted(
            items, key=lambda o: (o["metadata"]["creationTimestamp"], o["metadata"]["name"])
        )

    def trigger(self, name: str, value: str) -> None:
        """What Argo CD's action ``trigger`` and ``supervisely-operator trigger`` write."""
        annotation = f"{TRIGGER_ANNOTATION}={value}"
        self.tasks.kubectl("annotate", "--overwrite", "slycron", name, annotation)

    def wait(
        self, name: str, until: Callable[[Obj], bool], *, what: str, timeout: float = 30.0
    ) -> Obj:
        """Poll the cron task (and whatever ``until`` reads beside it) until ``until`` holds."""
        found: list[Obj] = []

        def holds() -> bool:
            found[:] = [self.get(name)]
            return until(found[0])

        wait_until(holds, what=f"{name}: {what}", timeout=timeout, interval=0.25)
        return found[0]


class SimulatorView:
    """The shared simulator as one test sees it: the tasks and calls of its own workspaces, and
    the levers on tasks and faults (not on agents: they are shared by every workspace). Calls
    that name no workspace (slug and agent lookups) count when they came after the test began:
    a worker runs one test at a time, so those are the test's own."""

    def __init__(
        self,
        simulator: ThreadedSimulator,
        *,
        workspace_id: int,
        new_workspace: Callable[[], int],
    ) -> None:
        self.shared = simulator
        self.workspace_ids = {workspace_id}
        self._new_workspace = new_workspace
        self._after_seq = max((call.seq for call in simulator.calls()), default=0)

    @property
    def base_url(self) -> str:
        return self.shared.base_url

    def add_workspace(self) -> int:
        """Another workspace for this test (one with a list of its own); its id."""
        workspace_id = self._new_workspace()
        self.workspace_ids.add(workspace_id)
        return workspace_id

    def tasks(self) -> list[JsonObject]:
        """The tasks of this test's workspaces, oldest first, as ``tasks.info`` shows them."""
        return [t for t in self.shared.tasks() if t["workspaceId"] in self.workspace_ids]

    def calls(self, method: str | None = None) -> list[CallRecord]:
        """This test's calls (see the class), in arrival order."""
        return [
            call
            for call in self.shared.calls(method)
            if call.seq > self._after_seq
            and (call.workspace_id is None or call.workspace_id in self.workspace_ids)
        ]

    def clear_calls(self) -> None:
        """Count only the calls that come after this."""
        self._after_seq = max((call.seq for call in self.shared.calls()), default=0)

    def task_status(self, task_id: int) -> str:
        return self.shared.task_status(task_id)

    def force_task(
        self,
        task_id: int,
        status: Literal["error", "finished", "stopped"],
        *,
        message: str | None = None,
    ) -> None:
        self.shared.force_task(task_id, status, message=message)

    def delete_task(self, task_id: int) -> None:
        self.shared.delete_task(task_id)

    def inject_fault(self, method: str = "*", **fault: Any) -> int:
        """Arm a fault; the ``tasks`` fixture disarms every fault when the test ends."""
        return self.shared.inject_fault(method, **fault)

    def clear_faults(self) -> None:
        self.shared.clear_faults()


def live_tasks(simulator: SimulatorView) -> list[int]:
    """Ids of the test's tasks that have not ended (terminating ones included)."""
    return [task["id"] for task in simulator.tasks() if task["status"] in LIVE_STATUSES]


@dataclass(frozen=True)
class OperatorConfig:
    """What makes two operators interchangeable: the token, the settings, and whether a group of
    tests has one of its own (to kill it, say) instead of the shared one."""

    token: str
    env: tuple[tuple[str, str], ...]
    own: str | None = None

    @classmethod
    def of(cls, token: str, env: Mapping[str, str], own: str | None = None) -> "OperatorConfig":
        return cls(token=token, env=tuple(sorted(env.items())), own=own)


class OperatorPool:
    """The operators of the e2e run, one running at a time.

    Each watches every namespace (``-A``), as a cluster-wide install does, so two running at
    once would both act on a test's resources. Tests with the same config get the same process;
    a test with another config (a wrong token, slower polls, one it may kill) stops the running
    one first. Every process logs to its own file in ``log_dir``.
    """

    def __init__(self, *, cluster: ClusterAccess, server: str, log_dir: Path) -> None:
        self._cluster = cluster
        self._server = server
        self.log_dir = log_dir
        self._numbers = itertools.count(1)
        self._running: tuple[OperatorConfig, OperatorProcess] | None = None
        self._checked = LogMarks(log_dir)

    def running(self, config: OperatorConfig) -> OperatorProcess:
        """The running operator of ``config``, started now if there is none (or it died)."""
        if self._running is not None:
            current, process = self._running
            if current == config and _alive(process):
                return process
        self.stop()
        process = OperatorProcess(
            kubeconfig=self._cluster.kubeconfig,
            server=self._server,
            token=config.token,
            log_path=self.log_dir / f"operator-{next(self._numbers)}.log",
            env=dict(config.env),
        )
        process.start()
        self._running = (config, process)
        return process

    def stop(self) -> None:
        """Stop the running operator, if any."""
        if self._running is not None:
            self._running[1].stop()
            self._running = None

    def checked_up_to(self, marks: "LogMarks") -> None:
        """A test read the logs up to ``marks`` for errors."""
        self._checked = marks

    def stop_and_check(self) -> None:
        """Stop the running operator between tests; fail on an error it logged since the last
        test read the logs (while it stopped, say), which no test would see otherwise."""
        self.stop()
        entries = self._checked.errors_since()
        if entries:
            shown = "\n---\n".join(entry[:2000] for entry in entries[:5])
            raise AssertionError(f"the operator logged errors after the last test:\n{shown}")
        self._checked = LogMarks(self.log_dir)


POOL = pytest.StashKey[OperatorPool]()
"""Where the session keeps its pool, so that other e2e tests can stop its operator."""


def _alive(process: OperatorProcess) -> bool:
    pid = process.pid
    if pid is None:
        return False
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


class LogMarks:
    """How far each log file in a directory reached at one moment; reads what came after."""

    def __init__(self, log_dir: Path) -> None:
        self._dir = log_dir
        self._sizes = {path: path.stat().st_size for path in log_dir.glob("*.log")}

    def text_since(self) -> str:
        """What every log file (new ones whole) got after the mark."""
        return "".join(
            path.read_bytes()[self._sizes.get(path, 0) :].decode(errors="replace")
            for path in sorted(self._dir.glob("*.log"))
        )

    def errors_since(self) -> list[str]:
        """The ERROR records and tracebacks logged after the mark."""
        return log_errors(self.text_since())


class Operator:
    """The operator a test runs with, as the test sees it: its log is what came after the test
    began (the process may have served many tests before)."""

    def __init__(self, process: OperatorProcess) -> None:
        self.process = process
        self._log_from = self._size()

    def _size(self) -> int:
        path = self.process.log_path
        return path.stat().st_size if path.exists() else 0

    @property
    def metrics_url(self) -> str:
        return self.process.metrics_url

    def log(self) -> str:
        """What the operator logged since the test began."""
        return self.process.log_path.read_bytes()[self._log_from :].decode(errors="replace")

    def whole_log(self) -> str:
        """Everything the process logged, its start-up included."""
        return self.process.log()

    def kill(self) -> None:
        """SIGKILL, as a crashed pod gets."""
        self.process.kill()

    def start(self) -> None:
        """Start it again (after a kill); it logs on in the same file."""
        self.process.start()


def phase_of(obj: Mapping[str, Any] | None) -> str | None:
    return ((obj or {}).get("status") or {}).get("phase")


def condition(obj: Mapping[str, Any], type_: str) -> dict[str, Any]:
    """The condition of this type, or an empty mapping while there is none yet."""
    conditions = (obj.get("status") or {}).get("conditions", [])
    found: dict[str, Any] = next((c for c in conditions if c["type"] == type_), {})
    return found
