"""A watch stream that goes silent without closing is noticed, said once, and opened again.

The operator reaches the API server through a loopback proxy of its own
(``supervisely_devkit.devcluster.faultproxy``), which silences the open watch of
SuperviselyTasks: it drops every byte, the server's end of the response included, and keeps
the connection open, as a NAT or a load balancer that lost the flow does. An edit made then
reaches the operator only once it gives up on the silent stream: within the inactivity
timeout, plus 5 s to act on the edit. Timeouts are shortened for the test (the server ends a
watch after 2 s, a stream is silent after 4 s); a healthy stream is never taken for silent.
"""

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisely_devkit.devcluster.access import ClusterAccess
from supervisely_devkit.devcluster.faultproxy import FaultProxy, kubeconfig_through, upstream_of
from supervisely_devkit.simulator import Scenario
from supervisely_devkit.simulator.runner import ThreadedSimulator

from harness import FAST_OPERATOR_ENV, OperatorProcess, Tasks, phase_of, wait_until

TOKEN = "e2e-silence-token-2b9e57"
SERVE = {"moduleId": 103, "workspaceId": 1}
SERVER_TIMEOUT, INACTIVITY_TIMEOUT = 2, 4
TASKS_WATCH = rb"superviselytasks\?watch=true"
SILENT = re.compile(r"\[WARNING\s*\].*The watch of SuperviselyTask \(superviselytasks\.")


@pytest.fixture
def proxy(crd_cluster: ClusterAccess) -> Iterator[FaultProxy]:
    with FaultProxy(*upstream_of(crd_cluster.kubeconfig)) as started:
        yield started


@pytest.fixture
def behind_proxy(
    crd_cluster: ClusterAccess, proxy: FaultProxy, tmp_path: Path
) -> Iterator[OperatorProcess]:
    scenario = Scenario.model_validate(
        {"durations": {"queued": 0.2, "consumed": 0.2, "running": 0.6, "terminating": 0.3}}
    )
    with ThreadedSimulator(token=TOKEN, scenario=scenario) as simulator:
        process = OperatorProcess(
            kubeconfig=kubeconfig_through(proxy, crd_cluster.kubeconfig, tmp_path / "kubeconfig"),
            server=simulator.base_url,
            token=TOKEN,
            log_path=tmp_path / "operator.log",
            env={
                **FAST_OPERATOR_ENV,
                "SUPERVISELY_OPERATOR_WATCH_SERVER_TIMEOUT": str(SERVER_TIMEOUT),
                "SUPERVISELY_OPERATOR_WATCH_INACTIVITY_TIMEOUT": str(INACTIVITY_TIMEOUT),
            },
        )
        process.start()
        try:
            yield process
        finally:
            process.stop()


def test_an_edit_behind_a_silent_watch_takes_effect_once_the_stream_is_given_up(
    crd_cluster: ClusterAccess, proxy: FaultProxy, behind_proxy: OperatorProcess
) -> None:
    tasks = Tasks(crd_cluster, f"e2e-{uuid.uuid4().hex[:8]}")
    try:
        tasks.apply("serve", SERVE)
        tasks.wait_phase("serve", "Running")
        time.sleep(SERVER_TIMEOUT + 1)  # a healthy stream ends and starts again meanwhile
        assert not SILENT.search(behind_proxy.log()), "a healthy stream was taken for silent"

        wait_until(lambda: proxy.silence(TASKS_WATCH) > 0, what="the watch silenced", timeout=10)
        silenced = time.monotonic()
        tasks.patch_spec("serve", {"suspend": True})
        tasks.wait(
            "serve",
            lambda obj: phase_of(obj) == "Suspended",
            what="Suspended",
            timeout=INACTIVITY_TIMEOUT + 5,
        )
        took = time.monotonic() - silenced
        print(f"the edit took effect {took:.1f} s after the watch went silent")
        assert len(SILENT.findall(behind_proxy.log())) == 1, "said once, naming the kind"
    finally:
        tasks.kubectl("delete", "slytask", "--all", "--timeout=30s", check=False)
