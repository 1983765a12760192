"""What a user sees of a task's life beside its status: its Events, through ``kubectl get events``
and ``kubectl describe`` (the dev cluster's front serves core v1 Events; the API server alone has
none), and its log, through ``supervisely-operator logs`` and its kubectl plugin; against the
local API server and the simulator, while the operator runs tasks. One test, to start one
operator for both.

The log command shows a task's log, follows a running one to its end, shows a restarted
resource's earlier task, and says plainly that a token was refused; no output holds a token. It runs
in-process (through click's runner, with its real arguments and the real cluster and
simulator: a process would spend most of its time importing the kubernetes client), except
``kubectl slytask logs``, which runs as kubectl runs a plugin: a process found on PATH.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner, Result

from supervisely_devkit.devcluster.access import ClusterAccess, kubectl_binary
from supervisely_operator.cli import main

from harness import Operator, SimulatorView, Tasks, wait_until

WRONG_TOKEN = "e2e-wrong-token-7a1d33"


def full_log(simulator: SimulatorView, token: str, task_id: int) -> list[str]:
    """The task's whole log, straight from the simulator."""
    reply = httpx.get(
        f"{simulator.base_url}/public/api/v3/tasks.log.download",
        params={"id": task_id, "limit": 1000},
        headers={"x-api-key": token},
        timeout=10,
    )
    return [entry["message"] for entry in reply.json()]


def test_a_tasks_events_and_log_are_shown_its_log_followed_and_an_earlier_one_found(
    crd_cluster: ClusterAccess,
    simulator: SimulatorView,
    operator: Operator,
    operator_token: str,
    tasks: Tasks,
) -> None:
    ns = tasks.namespace
    outputs: list[str] = []

    def logs(*args: str, token: str = operator_token) -> Result:
        env = {"SERVER_ADDRESS": simulator.base_url, "API_TOKEN": token}
        command = ["logs", *args, "-n", ns, "--kubeconfig", str(crd_cluster.kubeconfig)]
        result = CliRunner().invoke(main, command, env=env)
        outputs.extend([result.stdout, result.stderr])
        return result

    backoff = {"limit": 1, "initialDelaySeconds": 1, "maxDelaySeconds": 1}
    tasks.apply("fails", {"moduleId": 102, "backoff": backoff})
    tasks.apply("finishes", {"moduleId": 101})

    # Follow a task from its start: the command returns once the task has ended.
    started = tasks.wait(
        "finishes", lambda o: bool(((o or {}).get("status") or {}).get("taskId")), what="started"
    )
    assert started is not None
    task_id = started["status"]["taskId"]
    followed = logs("slytask/finishes", "--follow")
    assert followed.exit_code == 0, followed.output
    lines = followed.stdout.splitlines()
    assert lines == full_log(simulator, operator_token, task_id), "each line once, all of them"
    assert lines[0].startswith(f"Task {task_id} queued")
    assert lines[-1] == "Application finished successfully"
    events_of_a_life_reach_kubectl(tasks, "finishes", task_id)

    # A restarted resource: its earlier task by --task-id, its current one through kubectl.
    failed = tasks.wait_phase("fails", "Failed")
    [earlier] = failed["status"]["previousTaskIds"]
    before = logs("fails", "--task-id", str(earlier))
    assert before.exit_code == 0, before.output
    assert before.stdout.splitlines() == full_log(simulator, operator_token, earlier)
    assert any(line.startswith("Task failed") for line in before.stdout.splitlines())
    plugin = subprocess.run(
        [kubectl_binary(), "slytask", "logs", "fails", "-n", ns, "--tail", "2", "--timestamps"],
        env={
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "KUBECONFIG": str(crd_cluster.kubeconfig),
            "SERVER_ADDRESS": simulator.base_url,
            "API_TOKEN": operator_token,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    outputs.extend([plugin.stdout, plugin.stderr])
    assert plugin.returncode == 0, plugin.stderr
    current = full_log(simulator, operator_token, failed["status"]["taskId"])
    shown = [line.split(maxsplit=2)[-1] for line in plugin.stdout.splitlines()]
    assert shown == current[-2:], "the last two lines, each after its time and level"

    # A refused token, said plainly.
    refused = logs("slytask/fails", token=WRONG_TOKEN)
    assert refused.exit_code == 1
    assert refused.stderr == (
        f"Error: Supervisely ({simulator.base_url}) refused the API token from SERVER_ADDRESS "
        "and API_TOKEN of this environment (HTTP 401): fix that token\n"
    )

    for output in outputs:
        assert operator_token not in output
        assert WRONG_TOKEN not in output
    assert "Failed to post an event" not in operator.log()


def events_of_a_life_reach_kubectl(tasks: Tasks, name: str, task_id: int) -> None:
    """The Events kopf posted for the task's life, as kubectl shows them."""
    obj = tasks.wait_phase(name, "Succeeded")

    def told() -> list[dict[str, Any]]:
        listed = tasks.kubectl(
            "get", "events", "--field-selector", f"involvedObject.name={name}", "-o", "json"
        )
        items: list[dict[str, Any]] = json.loads(listed)["items"]
        return items

    # kopf posts Events from a queue, in order: once Finished is there, all before it are too.
    wait_until(lambda: "Finished" in [e["reason"] for e in told()], what="told")
    events = told()
    reasons = [event["reason"] for event in events]
    assert reasons[0] in {"Started", "Adopted"}
    assert reasons[-1] == "Finished"
    assert set(reasons) <= {
        "Started",
        "Adopted",
        "Queued",
        "AwaitingReadiness",
        "Running",
        "Finished",
    }
    assert events[-1]["message"] == f"Task {task_id} finished"
    for event in events:
        assert event["type"] == "Normal"
        assert event["involvedObject"] == {
            "apiVersion": "supervisely.com/v1alpha1",
            "kind": "SuperviselyTask",
            "name": name,
            "namespace": tasks.namespace,
            "uid": obj["metadata"]["uid"],
        }
        assert event["source"] == {"component": "supervisely-operator"}
    described = tasks.kubectl("describe", "slytask", name).split("\nEvents:", 1)[1]
    assert f"Task {task_id} finished" in described
