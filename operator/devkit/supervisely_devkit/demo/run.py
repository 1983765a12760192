"""``supervisely-operator demo``: the operator's main job, start to finish, in one command.

By default everything is embedded: the local control plane (a real API server), the
Supervisely simulator, the CRD, the operator as a child process, and ``examples/`` applied
with ``kubectl apply -f`` as a user would. A live table shows each resource until it reaches
the phase the demo expects, a summary follows, and everything is torn down (or kept running
with ``--keep``). ``--cluster current`` uses the current kube-context instead, and
``--supervisely env`` a real Supervisely named by SERVER_ADDRESS / API_TOKEN.
"""

import json
import os
import secrets
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.live import Live

from supervisely_devkit.demo.board import Row, render
from supervisely_devkit.demo.process import OperatorProcess, operator_crds
from supervisely_devkit.devcluster.access import ClusterAccess
from supervisely_devkit.devcluster.cluster import DevCluster
from supervisely_devkit.simulator.runner import ThreadedSimulator

#: Where each bundled example should end up on the simulator's default catalogue.
EXPECTED_PHASES = {
    "train-finishes": "Succeeded",
    "train-gpu-limits": "Succeeded",
    "train-fails": "Failed",
    "train-out-of-memory": "Failed",
    "serve-model": "Running",
    "pipeline-train": "Succeeded",
    "pipeline-serve": "Running",
}

SHOWN_FOLDERS = ("pipeline",)
"""Folders of examples/ the demo applies beside its files."""

#: Snappier than production defaults, so the demo is watchable.
DEMO_OPERATOR_ENV = {
    "SUPERVISELY_OPERATOR_POLL_INTERVAL": "1",
    "SUPERVISELY_OPERATOR_TRANSITION_POLL_INTERVAL": "0.5",
}


@dataclass(frozen=True)
class DemoOptions:
    """What the command line chose."""

    examples: Path
    namespace: str
    timeout: float
    keep: bool
    current_cluster: bool
    real_supervisely: bool


@dataclass(frozen=True)
class Supervisely:
    """The Supervisely the operator talks to; ``simulator`` is None for a real server."""

    server: str
    token: str
    simulator: ThreadedSimulator | None


def run_demo(options: DemoOptions, console: Console) -> bool:
    """Run the demo; True when every resource reached its expected phase."""
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sly-demo-")))
        cluster = stack.enter_context(_cluster(options, console, workdir))
        supervisely = stack.enter_context(_supervisely(options, console))
        # The CRDs of the very operator that runs, asked of it as a user would.
        crds = operator_crds()
        names = [doc["metadata"]["name"] for doc in yaml.safe_load_all(crds) if doc]
        console.print(f"[bold]Installing the CRDs[/] {', '.join(names)}")
        cluster.kubectl("apply", "-f", "-", input=crds)
        for name in names:
            cluster.wait_established(name)

        operator = OperatorProcess(
            kubeconfig=cluster.kubeconfig,
            server=supervisely.server,
            token=supervisely.token,
            log_path=workdir / "operator.log",
            env=DEMO_OPERATOR_ENV,
        )
        console.print("[bold]Starting the operator[/] (supervisely-operator run -A)")
        operator.start()
        stack.callback(operator.stop)
        stack.callback(_delete_examples, cluster, options, console)

        files = _example_files(options.examples)
        console.print(f"[bold]kubectl apply {' '.join(files)} -n {options.namespace}[/]")
        applied = cluster.kubectl("apply", "-n", options.namespace, *files)
        console.print(applied.stdout.rstrip())
        rows = _watch(cluster, options, console)
        ok = all(row.settled for row in rows)
        _summarise(rows, supervisely, console, ok=ok)
        if not ok:
            console.print(
                f"[red]Not every resource got there.[/] Operator log: {operator.log_path}"
            )
            console.print(operator.log()[-4000:])
        if options.keep:
            _wait_for_interrupt(cluster, options, console)
        return ok


@contextmanager
def _cluster(options: DemoOptions, console: Console, workdir: Path) -> Iterator[ClusterAccess]:
    if options.current_cluster:
        kubeconfig = Path(os.environ.get("KUBECONFIG", Path.home() / ".kube" / "config"))
        console.print(f"[bold]Using the current kube-context[/] of {kubeconfig}")
        yield ClusterAccess(kubeconfig=kubeconfig, kubectl_cache_dir=workdir / "kubectl-cache")
        return
    console.print("[bold]Starting the local control plane[/] (etcd + apiextensions-apiserver)")
    with DevCluster(keep_workdir=False) as cluster:
        console.print(f"  ready in {cluster.startup_seconds:.1f} s")
        yield ClusterAccess(
            kubeconfig=cluster.kubeconfig,
            kubectl_cache_dir=workdir / "kubectl-cache",
            dev_cluster=cluster,
        )


@contextmanager
def _supervisely(options: DemoOptions, console: Console) -> Iterator[Supervisely]:
    if options.real_supervisely:
        server, token = os.environ.get("SERVER_ADDRESS"), os.environ.get("API_TOKEN")
        if not server or not token:
            raise RuntimeError("--supervisely env needs SERVER_ADDRESS and API_TOKEN")
        console.print(f"[bold]Using Supervisely at[/] {server}")
        yield Supervisely(server=server, token=token, simulator=None)
        return
    token = secrets.token_hex(16)
    with ThreadedSimulator(token=token) as simulator:
        console.print(f"[bold]Supervisely simulator[/] at {simulator.base_url}")
        yield Supervisely(server=simulator.base_url, token=token, simulator=simulator)


def _list(cluster: ClusterAccess, namespace: str) -> list[dict[str, Any]]:
    listed = cluster.kubectl("get", "superviselytasks", "-n", namespace, "-o", "json")
    items: list[dict[str, Any]] = json.loads(listed.stdout)["items"]
    return sorted(items, key=lambda item: item["metadata"]["name"])


def _rows(cluster: ClusterAccess, namespace: str) -> list[Row]:
    return [
        Row.of(obj, EXPECTED_PHASES.get(obj["metadata"]["name"]))
        for obj in _list(cluster, namespace)
    ]


def _watch(cluster: ClusterAccess, options: DemoOptions, console: Console) -> list[Row]:
    """Redraw the table until every resource settled (and stayed so briefly) or time is up."""
    began = time.monotonic()
    settled_since: float | None = None
    rows = _rows(cluster, options.namespace)
    with Live(console=console, refresh_per_second=4) as live:
        while time.monotonic() - began < options.timeout:
            rows = _rows(cluster, options.namespace)
            elapsed = time.monotonic() - began
            title = f"SuperviselyTasks in {options.namespace} ({elapsed:.0f} s)"
            live.update(render(rows, title=title, width=console.width))
            if rows and all(row.settled for row in rows):
                settled_since = settled_since or time.monotonic()
                if time.monotonic() - settled_since >= 2.0:
                    break
            else:
                settled_since = None
            time.sleep(0.5)
    return rows


def _summarise(rows: list[Row], supervisely: Supervisely, console: Console, *, ok: bool) -> None:
    console.print()
    for row in rows:
        verdict = "[green]as expected[/]" if row.settled else "[red]NOT as expected[/]"
        console.print(
            f"  {row.name}: {row.phase} (task {row.task_id}, restarts {row.restarts}) {verdict}"
        )
    if supervisely.simulator is not None:
        counts: dict[str, int] = {}
        for call in supervisely.simulator.calls():
            counts[call.method] = counts.get(call.method, 0) + 1
        calls = ", ".join(f"{method} x{count}" for method, count in sorted(counts.items()))
        console.print(f"  Supervisely calls: {calls}")
    console.print("[green bold]Demo succeeded[/]" if ok else "[red bold]Demo failed[/]")


def _wait_for_interrupt(cluster: ClusterAccess, options: DemoOptions, console: Console) -> None:
    console.print()
    console.print("[bold]Still running.[/] In another terminal:")
    console.print(f"  export KUBECONFIG={cluster.kubeconfig}")
    console.print(f"  kubectl get slytask -n {options.namespace} -o wide")
    console.print(f"  kubectl describe slytask serve-model -n {options.namespace}")
    console.print(f"  kubectl patch slytask serve-model -n {options.namespace} --type=merge "
                  "-p '{\"spec\":{\"suspend\":true}}'")  # fmt: skip
    console.print("Press Ctrl-C to clean up and exit.")
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def _example_files(examples: Path) -> list[str]:
    """kubectl's -f arguments for the examples: the folder, and its pipeline (train, then serve
    the best checkpoint) beside them; the other folders need ids of your own (adopt/)."""
    folders = [examples, *[examples / sub for sub in SHOWN_FOLDERS if (examples / sub).is_dir()]]
    return [argument for folder in folders for argument in ("-f", str(folder))]


def _delete_examples(cluster: ClusterAccess, options: DemoOptions, console: Console) -> None:
    """Delete what the demo applied while the operator still runs, so it stops the tasks."""
    files = _example_files(options.examples)
    console.print(f"[bold]Cleaning up:[/] kubectl delete {' '.join(files)}")
    cluster.kubectl(
        "delete", "-n", options.namespace, *files,
        "--ignore-not-found", "--timeout=60s",
        check=False,
    )  # fmt: skip
