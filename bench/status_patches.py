"""Count the writes to one SuperviselyTask over its whole life, as the API server sees them.

Runs the real operator against the local control plane and the simulator, watches each object
through the Kubernetes watch API (not the operator's logs), and prints, per lifecycle, how many
MODIFIED events changed the status and how many changed only metadata (kopf's finalizer and
annotations). Usage: ``.venv/bin/python bench/status_patches.py``.
"""

import contextlib
import json
import tempfile
import threading
import time
from dataclasses import dataclass, field
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

REPO = Path(__file__).resolve().parents[1]
TOKEN = "bench-token-4b1f"
NAMESPACE = "bench"
LIFECYCLES = {
    "finishes": ({"moduleId": 101, "workspaceId": 1}, "Succeeded"),
    "fails-twice": (
        {"moduleId": 102, "workspaceId": 1,
         "backoff": {"limit": 2, "initialDelaySeconds": 1, "maxDelaySeconds": 1}},
        "Failed",
    ),
    "serves-then-deleted": ({"moduleId": 103, "workspaceId": 1}, "Running"),
}  # fmt: skip


@dataclass
class Writes:
    """What the watch saw of one object."""

    status: int = 0
    metadata_only: int = 0
    phases: list[str] = field(default_factory=list)


def watch(
    api: kubernetes.client.ApiClient, counts: dict[str, Writes], stop: threading.Event
) -> None:
    custom = kubernetes.client.CustomObjectsApi(api)
    last: dict[str, dict[str, Any]] = {}
    stream = kubernetes.watch.Watch()
    events = stream.stream(
        custom.list_namespaced_custom_object,
        resource.GROUP, resource.VERSION, NAMESPACE, resource.PLURAL,
        timeout_seconds=120,
    )  # fmt: skip
    with contextlib.suppress(urllib3.exceptions.ProtocolError):  # the stream closing at the end
        _count(events, counts, last, stream, stop)


def _count(
    events: Any,
    counts: dict[str, Writes],
    last: dict[str, dict[str, Any]],
    stream: kubernetes.watch.Watch,
    stop: threading.Event,
) -> None:
    for event in events:
        obj = event["object"]
        name = obj["metadata"]["name"]
        writes = counts.setdefault(name, Writes())
        before = last.get(name)
        if event["type"] == "MODIFIED" and before is not None:
            if obj.get("status") != before.get("status"):
                writes.status += 1
            else:
                writes.metadata_only += 1
        phase = (obj.get("status") or {}).get("phase")
        if phase and (not writes.phases or writes.phases[-1] != phase):
            writes.phases.append(phase)
        last[name] = obj
        if stop.is_set():
            stream.stop()


def main() -> None:
    with (
        DevCluster() as cluster,
        ThreadedSimulator(token=TOKEN, scenario=Scenario.fast(0.3)) as sim,
    ):
        access = ClusterAccess(kubeconfig=cluster.kubeconfig)
        access.kubectl("apply", "-f", str(REPO / "crds" / "superviselytask.yaml"))
        access.wait_established(resource.CRD_NAME)
        with tempfile.TemporaryDirectory() as workdir:
            operator = OperatorProcess(
                kubeconfig=cluster.kubeconfig, server=sim.base_url, token=TOKEN,
                log_path=Path(workdir) / "operator.log",
                env={"SUPERVISELY_OPERATOR_POLL_INTERVAL": "0.5",
                     "SUPERVISELY_OPERATOR_TRANSITION_POLL_INTERVAL": "0.3"},
            )  # fmt: skip
            operator.start()
            counts: dict[str, Writes] = {}
            stop = threading.Event()
            with access.api_client() as api:
                watcher = threading.Thread(target=watch, args=(api, counts, stop), daemon=True)
                watcher.start()
                time.sleep(0.5)
                for name, (spec, _) in LIFECYCLES.items():
                    manifest = {"apiVersion": resource.API_VERSION, "kind": resource.KIND,
                                "metadata": {"name": name}, "spec": spec}  # fmt: skip
                    access.kubectl(
                        "apply", "-n", NAMESPACE, "-f", "-", input=yaml.safe_dump(manifest)
                    )
                for name, (_, phase) in LIFECYCLES.items():
                    access.kubectl(
                        "wait", "-n", NAMESPACE, f"slytask/{name}",
                        f"--for=jsonpath={{.status.phase}}={phase}", "--timeout=60s",
                    )  # fmt: skip
                time.sleep(3)  # several polls with nothing new: they must write nothing
                access.kubectl("delete", "-n", NAMESPACE, "slytask", "--all", "--timeout=60s")
                stop.set()
                time.sleep(1)
            operator.stop()
    print(f"{'lifecycle':<22}{'status writes':>15}{'metadata-only':>15}  phases")
    for name in LIFECYCLES:
        writes = counts.get(name, Writes())
        print(
            f"{name:<22}{writes.status:>15}{writes.metadata_only:>15}  {' > '.join(writes.phases)}"
        )
    print(json.dumps({name: vars(writes) for name, writes in counts.items()}))


if __name__ == "__main__":
    main()
