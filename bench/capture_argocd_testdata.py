"""Capture the testdata of the Argo CD health checks from real objects of both kinds.

A health check is only as good as its idea of what the operator writes, so the objects in
``deploy/argocd/resource_customizations/supervisely.com/<kind>/testdata/`` are not
written by hand: this script runs the real operator against the local control plane and the
Supervisely simulator, drives one resource into each state the check tells apart, and records
every version of every object through the Kubernetes watch API, so a phase that lasts one poll
(Pending, Queued, Stopping) is caught as surely as a final one. Each case saves the first (or,
for settled states, the last) version that matches it, without the metadata that only identifies
one run (uid, resourceVersion, managedFields, and the annotations of kubectl and kopf).

Cron tasks run on a real clock's minutes, so their runs here are triggered (the annotation
Argo CD's action ``trigger`` writes), never waited for.

It writes testdata only. The verdicts in health_test.yaml are the specification and are kept by
hand; ``tests/unit/test_argocd_health.py`` and ``test_argocd_cron.py`` fail when the two
disagree. Run it after a change to
what the operator writes: ``.venv/bin/python bench/capture_argocd_testdata.py``.

Two cases lean on the local control plane: it serves no core API, so ``secret-not-found`` comes
from a Secret read answered 404 (the operator's reaction is the one a missing Secret gets), and
``unauthorized`` from the simulator answering 401, as Supervisely does for a revoked token.
"""

import contextlib
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import urllib3
import yaml

from supervisely_devkit.demo.process import OperatorProcess
from supervisely_devkit.devcluster.access import ClusterAccess
from supervisely_devkit.devcluster.cluster import DevCluster
from supervisely_devkit.simulator import Scenario
from supervisely_devkit.simulator.runner import ThreadedSimulator
from supervisely_operator.api import resource
from supervisely_operator.api.resource import RESTART_ANNOTATION as RESTART
from supervisely_operator.api.resource import TRIGGER_ANNOTATION as TRIGGER

REPO = Path(__file__).resolve().parents[1]
CUSTOMIZATIONS = REPO / "deploy/argocd/resource_customizations/supervisely.com"
TESTDATA = CUSTOMIZATIONS / resource.KIND / "testdata"
CRON_TESTDATA = CUSTOMIZATIONS / resource.CRON_KIND / "testdata"
TOKEN = "capture-token-9c2e"
NAMESPACE = "ml-team"
WAIT = 60.0
# Short polls; the simulator keeps its default, watchable phase durations (a second or more),
# so every phase is written at least once.
OPERATOR_ENV = {
    "SUPERVISELY_OPERATOR_POLL_INTERVAL": "0.5",
    "SUPERVISELY_OPERATOR_TRANSITION_POLL_INTERVAL": "0.3",
    "SUPERVISELY_OPERATOR_START_GRACE": "6",  # at least twice the request timeout
    "SUPERVISELY_OPERATOR_REQUEST_TIMEOUT": "3",
    "SUPERVISELY_OPERATOR_REQUEST_ATTEMPTS": "2",
}
# Identity of one run, and annotations that only copy the spec (kubectl's last-applied
# configuration, kopf's last-handled one and its managed marker).
VOLATILE_METADATA = ("uid", "resourceVersion", "managedFields", "annotations")

SERVE = {"moduleId": 103, "workspaceId": 1}
NEVER_READY = 120
SCENARIO = Scenario.model_validate(
    {
        "modules": [
            {
                "id": NEVER_READY,
                "slug": "supervisely-ecosystem/sim-serve-never-ready",
                "name": "Sim: serve (never ready)",
                "outcome": "serve",
                "durations": {"ready_delay": 1e9},
            }
        ]
    }
)
"""The default catalogue, and a serving app whose model never loads (for the start deadline)."""
RESOURCES: dict[str, dict[str, Any]] = {
    "serve-model": {**SERVE, "params": {"modelName": "yolov8s"}},
    "train-detector": {"appSlug": "supervisely-ecosystem/sim-train-finishes", "workspaceId": 1},
    "train-fails": {"moduleId": 102, "workspaceId": 1, "backoff": {"limit": 0}},
    "train-restarts": {
        "moduleId": 102, "workspaceId": 1,
        "backoff": {"limit": 1, "initialDelaySeconds": 30, "maxDelaySeconds": 30},
    },
    "unknown-app": {"appSlug": "supervisely-ecosystem/no-such-app", "workspaceId": 1},
    "agent-down": {"moduleId": 101, "workspaceId": 1, "agentId": 2},
    "missing-secret": {**SERVE, "credentialsSecretRef": {"name": "supervisely-credentials"}},
    "serve-suspended": SERVE,
    "serve-deleted": SERVE,
    "serve-restarted": SERVE,
    "serve-never-ready": {"moduleId": NEVER_READY, "workspaceId": 1, "startDeadlineSeconds": 4},
    "adopt-missing": {**SERVE, "adoptTaskId": 999999},
    "train-oom": {
        "moduleId": 102, "workspaceId": 1,
        "failureRules": [{"action": "Fail", "onLogLine": "out of memory"}],
    },
}  # fmt: skip
NIGHTLY = {"schedule": "30 2 * * *", "timeZone": "Europe/Berlin"}
CRON_RESOURCES: dict[str, dict[str, Any]] = {
    "nightly-train": {**NIGHTLY, "taskTemplate": {"spec": RESOURCES["train-detector"]}},
    "nightly-fails": {**NIGHTLY, "taskTemplate": {"spec": RESOURCES["train-fails"]}},
    "nightly-paused": {**NIGHTLY, "taskTemplate": {"spec": SERVE}},
    # Admitted (five fields of digits), refused by the operator's parser: no minute 99.
    "bad-schedule": {"schedule": "99 * * * *", "taskTemplate": {"spec": SERVE}},
}

Obj = dict[str, Any]


def condition(obj: Obj, type_: str) -> Obj:
    conditions = (obj.get("status") or {}).get("conditions", [])
    found: Obj = next((c for c in conditions if c["type"] == type_), {})
    return found


def phase_is(phase: str, reason: str | None = None) -> Callable[[Obj], bool]:
    """The object is in ``phase`` (and its Ready condition gives ``reason``, if one is given)."""

    def check(obj: Obj) -> bool:
        if (obj.get("status") or {}).get("phase") != phase:
            return False
        return reason is None or condition(obj, "Ready").get("reason") == reason

    return check


def is_synced(obj: Obj) -> bool:
    return condition(obj, "Synced").get("status") == "True"


def not_synced(reason: str) -> Callable[[Obj], bool]:
    def check(obj: Obj) -> bool:
        synced = condition(obj, "Synced")
        return synced.get("status") == "False" and synced.get("reason") == reason

    return check


@dataclass(frozen=True)
class Case:
    """One testdata file: which object, which of its versions."""

    resource: str
    matches: Callable[[Obj], bool]
    last: bool = False
    """Save the last matching version (a settled state) rather than the first."""


CASES: dict[str, Case] = {
    "no-status": Case("serve-model", lambda o: "status" not in o),
    "pending": Case("serve-model", phase_is("Pending", "Starting")),
    "queued": Case("serve-model", phase_is("Queued")),
    "running": Case("serve-model", phase_is("Running", "Running")),
    "spec-not-observed": Case(
        "serve-model",
        lambda o: "status" in o and o["metadata"]["generation"] > o["status"]["observedGeneration"],
    ),
    "stopping-spec-changed": Case("serve-model", phase_is("Stopping", "SpecChanged")),
    "unavailable": Case("serve-model", not_synced("Unavailable")),
    "unauthorized": Case("serve-model", not_synced("Unauthorized")),
    "succeeded": Case("train-detector", phase_is("Succeeded"), last=True),
    "failed-backoff-limit": Case("train-fails", phase_is("Failed"), last=True),
    "restarting": Case("train-restarts", phase_is("Pending", "Restarting")),
    "failed-start": Case("unknown-app", phase_is("Failed"), last=True),
    "agent-not-running": Case("agent-down", not_synced("AgentNotRunning")),
    "secret-not-found": Case("missing-secret", not_synced("SecretNotFound")),
    "stopping-suspend": Case("serve-suspended", phase_is("Stopping", "Suspended")),
    "suspended": Case("serve-suspended", phase_is("Suspended"), last=True),
    "stopping-deletion": Case(
        "serve-deleted", lambda o: "deletionTimestamp" in o["metadata"] and phase_is("Stopping")(o)
    ),
    "running-awaiting-readiness": Case("serve-model", phase_is("Running", "AwaitingReadiness")),
    "stopping-restart-requested": Case("serve-restarted", phase_is("Stopping", "RestartRequested")),
    "stopping-start-deadline": Case(
        "serve-never-ready", phase_is("Stopping", "StartDeadlineExceeded")
    ),
    "adoption-refused": Case("adopt-missing", not_synced("AdoptionRefused"), last=True),
    "failed-failure-rule": Case(
        "train-oom",
        lambda o: condition(o, "Failed").get("reason") == "FailureRuleMatched",
        last=True,
    ),
}


def ready_is(reason: str) -> Callable[[Obj], bool]:
    """The object's Ready condition gives ``reason`` (a cron task has no phase)."""

    def check(obj: Obj) -> bool:
        return condition(obj, "Ready").get("reason") == reason

    return check


def spec_not_observed(obj: Obj) -> bool:
    return "status" in obj and obj["metadata"]["generation"] > obj["status"]["observedGeneration"]


def has_status(field: str) -> Callable[[Obj], bool]:
    def check(obj: Obj) -> bool:
        return bool((obj.get("status") or {}).get(field))

    return check


CRON_CASES: dict[str, Case] = {
    "no-status": Case("nightly-train", lambda o: "status" not in o),
    "scheduling": Case("nightly-train", ready_is("Scheduling")),
    "spec-not-observed": Case("nightly-train", spec_not_observed),
    "run-active": Case("nightly-train", has_status("active")),
    "last-run-succeeded": Case("nightly-train", has_status("lastSuccessfulTime"), last=True),
    "last-run-failed": Case("nightly-fails", has_status("lastFailedTime"), last=True),
    "suspended": Case("nightly-paused", ready_is("Suspended"), last=True),
    "invalid-schedule": Case("bad-schedule", ready_is("InvalidSpec"), last=True),
}


class Recorder:
    """Every version of every object of one kind in the namespace, as the watch delivers them."""

    def __init__(self) -> None:
        self._versions: dict[str, list[Obj]] = {}
        self._changed = threading.Condition()

    def record(self, obj: Obj) -> None:
        with self._changed:
            self._versions.setdefault(obj["metadata"]["name"], []).append(obj)
            self._changed.notify_all()

    def versions(self, name: str) -> list[Obj]:
        with self._changed:
            return list(self._versions.get(name, []))

    def wait_for(
        self, name: str, matches: Callable[[Obj], bool], what: str, *, since: int = 0
    ) -> Obj:
        """The first version of ``name`` from the ``since``-th on that matches; waits for one."""
        deadline = time.monotonic() + WAIT
        with self._changed:
            while True:
                recorded = self._versions.get(name, [])[since:]
                found = next((o for o in recorded if matches(o)), None)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    last = (self._versions.get(name) or [{}])[-1].get("status")
                    raise TimeoutError(f"{name}: never {what} within {WAIT}s; last status {last}")
                self._changed.wait(left)


def watch(
    api: kubernetes.client.ApiClient, plural: str, recorder: Recorder, stop: threading.Event
) -> None:
    """Record until ``stop``; short server-side timeouts let it notice ``stop`` in time."""
    custom = kubernetes.client.CustomObjectsApi(api)
    resource_version = ""
    while not stop.is_set():
        events = kubernetes.watch.Watch().stream(
            custom.list_namespaced_custom_object,
            resource.GROUP, resource.VERSION, NAMESPACE, plural,
            resource_version=resource_version, timeout_seconds=1,
        )  # fmt: skip
        with contextlib.suppress(urllib3.exceptions.ProtocolError):
            for event in events:
                obj = event["object"]
                resource_version = obj["metadata"]["resourceVersion"]
                if event["type"] in ("ADDED", "MODIFIED"):
                    recorder.record(obj)


def strip(obj: Obj) -> Obj:
    """The object without what identifies one run rather than a state."""
    metadata = {k: v for k, v in obj["metadata"].items() if k not in VOLATILE_METADATA}
    return {**obj, "metadata": metadata}


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (a failed task's log tail) as literal blocks, as kubectl shows them."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def drive(access: ClusterAccess, sim: ThreadedSimulator, recorder: Recorder) -> None:
    """Put each resource through the states of ``CASES``, in an order that keeps it short."""

    def kubectl(*args: str, stdin: str | None = None) -> None:
        access.kubectl("-n", NAMESPACE, *args, input=stdin)

    def patch(name: str, spec: Obj) -> None:
        kubectl("patch", "slytask", name, "--type=merge", "-p", yaml.safe_dump({"spec": spec}))

    def reach(case: str) -> None:
        recorder.wait_for(CASES[case].resource, CASES[case].matches, case)

    for name, spec in RESOURCES.items():
        manifest = {"apiVersion": resource.API_VERSION, "kind": resource.KIND,
                    "metadata": {"name": name}, "spec": spec}  # fmt: skip
        kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))

    for case in ("running", "succeeded", "failed-backoff-limit", "failed-start", "restarting",
                 "agent-not-running", "secret-not-found"):  # fmt: skip
        reach(case)

    recorder.wait_for("serve-suspended", phase_is("Running"), "Running")
    patch("serve-suspended", {"suspend": True})
    reach("suspended")

    recorder.wait_for("serve-deleted", phase_is("Running"), "Running")
    kubectl("delete", "slytask", "serve-deleted", "--wait=false")
    reach("stopping-deletion")

    recorder.wait_for("serve-restarted", phase_is("Running", "Running"), "Running")
    kubectl("annotate", "slytask", "serve-restarted", f"{RESTART}=2026-12-03T12:00:00Z")
    reach("stopping-restart-requested")

    patch("serve-model", {"params": {"modelName": "yolov8m"}})
    reach("spec-not-observed")
    reach("stopping-spec-changed")
    since = len(recorder.versions("serve-model"))
    ready = phase_is("Running", "Running")  # the app answers is_ready
    recorder.wait_for("serve-model", ready, "running the new task", since=since)

    # Outages last until the operator has written them down, then Supervisely comes back.
    for case, fault_status in (("unavailable", 503), ("unauthorized", 401)):
        sim.inject_fault("*", status=fault_status)
        reach(case)
        sim.clear_faults()
        since = len(recorder.versions("serve-model"))
        recorder.wait_for("serve-model", is_synced, "synced again", since=since)

    for case in CASES:
        reach(case)  # every case was seen, including those no step above waited for
    time.sleep(2)  # the settled states' last writes (a failed task's log tail) land


def drive_crons(access: ClusterAccess, recorder: Recorder) -> None:
    """Put each cron task through the states of ``CRON_CASES``; runs are triggered, not waited
    for (the schedule's tick is at night)."""

    def kubectl(*args: str, stdin: str | None = None) -> None:
        access.kubectl("-n", NAMESPACE, *args, input=stdin)

    def reach(case: str) -> None:
        recorder.wait_for(CRON_CASES[case].resource, CRON_CASES[case].matches, case)

    for name, spec in CRON_RESOURCES.items():
        manifest = {"apiVersion": resource.API_VERSION, "kind": resource.CRON_KIND,
                    "metadata": {"name": name}, "spec": spec}  # fmt: skip
        kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    reach("scheduling")
    reach("invalid-schedule")
    edit = yaml.safe_dump({"spec": {"startingDeadlineSeconds": 3600}})
    kubectl("patch", "slycron", "nightly-train", "--type=merge", "-p", edit)
    reach("spec-not-observed")
    suspend = yaml.safe_dump({"spec": {"suspend": True}})
    kubectl("patch", "slycron", "nightly-paused", "--type=merge", "-p", suspend)
    for name in ("nightly-train", "nightly-fails"):
        kubectl("annotate", "slycron", name, f"{TRIGGER}=2026-12-07T12:00:00Z")
    for case in ("run-active", *CRON_CASES):
        reach(case)
    time.sleep(2)  # the settled states' last writes land


def save(recorder: Recorder, cases: dict[str, Case], testdata: Path) -> Iterator[str]:
    """Write one file per case; yield a line about each."""
    testdata.mkdir(parents=True, exist_ok=True)
    for case_name, case in cases.items():
        matching = [o for o in recorder.versions(case.resource) if case.matches(o)]
        obj = strip(matching[-1] if case.last else matching[0])
        header = (
            f"# Captured by bench/capture_argocd_testdata.py from the real operator: "
            f"{case.resource}, {case_name}.\n"
        )
        body = yaml.dump(obj, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)
        (testdata / f"{case_name}.yaml").write_text(header + body)
        status = obj.get("status") or {}
        synced = condition(obj, "Synced")
        yield (
            f"{case_name:<24} phase={status.get('phase')!s:<10} "
            f"ready={condition(obj, 'Ready').get('reason')!s:<12} "
            f"synced={synced.get('status')}/{synced.get('reason')}"
        )


def main() -> None:
    with (
        DevCluster() as cluster,
        ThreadedSimulator(token=TOKEN, scenario=SCENARIO) as sim,
        tempfile.TemporaryDirectory() as workdir,
    ):
        access = ClusterAccess(kubeconfig=cluster.kubeconfig)
        for crd in ("superviselytask", "superviselycrontask"):
            access.kubectl("apply", "-f", str(REPO / "crds" / f"{crd}.yaml"))
        access.wait_established(resource.CRD_NAME, resource.CRON_CRD_NAME)
        operator = OperatorProcess(
            kubeconfig=cluster.kubeconfig, server=sim.base_url, token=TOKEN,
            log_path=Path(workdir) / "operator.log", env=OPERATOR_ENV,
        )  # fmt: skip
        recorder, cron_recorder, stop = Recorder(), Recorder(), threading.Event()
        operator.start()
        try:
            with access.api_client() as api:
                watchers = [
                    threading.Thread(target=watch, args=(api, plural, into, stop), daemon=True)
                    for plural, into in (
                        (resource.PLURAL, recorder),
                        (resource.CRON_PLURAL, cron_recorder),
                    )
                ]
                for watcher in watchers:
                    watcher.start()
                time.sleep(0.5)  # the watches are open before the first object exists
                try:
                    drive(access, sim, recorder)
                    drive_crons(access, cron_recorder)
                finally:
                    stop.set()
                    for watcher in watchers:
                        watcher.join()
        finally:
            operator.stop()
    for line in save(recorder, CASES, TESTDATA):
        print(line)
    for line in save(cron_recorder, CRON_CASES, CRON_TESTDATA):
        print(line)


if __name__ == "__main__":
    main()
