"""The Kubernetes API server restarts mid-run: the operator rides it out and converges.

The local control plane's apiserver process is stopped and started again on its port; etcd
keeps the data, as when a control-plane node restarts. Meanwhile Supervisely goes on: an app
finishes while nobody can write its status.
"""

import re

import pytest

from supervisely_devkit.devcluster.access import ClusterAccess

from harness import Operator, SimulatorView, Tasks, live_tasks, phase_of

SERVE = {"moduleId": 103}
FINISHES = {"moduleId": 101}


@pytest.fixture
def own_operator() -> str:
    """The outage is counted in the operator's whole log: an operator of its own, that no other
    test has used."""
    return "rides out an API server restart"


OUTAGE_WARNING = re.compile(r"\[WARNING\s*\].*The Kubernetes API is unavailable")
RECOVERED = re.compile(r"\[INFO\s*\].*The Kubernetes API answers again")


def test_an_api_server_restart_is_ridden_out_with_one_warning_per_outage(
    crd_cluster: ClusterAccess,
    tasks: Tasks,
    simulator: SimulatorView,
    operator: Operator,
) -> None:
    cluster = crd_cluster.dev_cluster
    if cluster is None:
        pytest.skip("restarts the local control plane's API server; an external one is not ours")
    for name in ("serve-a", "serve-b"):
        tasks.apply(name, SERVE)
    for name in ("serve-a", "serve-b"):
        tasks.wait_phase(name, "Running")
    tasks.apply("train", FINISHES)
    tasks.wait(
        "train",
        lambda obj: phase_of(obj) in {"Queued", "Running"},
        what="train started",
    )

    cluster.restart_apiserver(down_for=3.0)

    tasks.apply("serve-c", SERVE)
    for name in ("serve-a", "serve-b", "serve-c"):
        tasks.wait_phase(name, "Running", timeout=60)
    tasks.wait_phase("train", "Succeeded", timeout=60)

    assert len(simulator.calls("tasks.run.app")) == 4, "one start per resource, none repeated"
    assert len(live_tasks(simulator)) == 3
    log = operator.whole_log()
    assert len(OUTAGE_WARNING.findall(log)) == 1, "our writes: one warning per outage"
    assert RECOVERED.search(log), "and one line when it is over"
    retries = [line for line in log.splitlines() if "failed; will retry" in line]
    assert retries, "kopf's watches noticed the outage"
    assert all("Request attempt #1" in line for line in retries), (
        "kopf's watches: the first attempt of each request, not every retry"
    )
