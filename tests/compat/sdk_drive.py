"""Drive a Supervisely API simulator with the official SDK, unchanged (run by the SDK's venv).

Run by tests/compat/test_sdk_compat.py with the python of a venv that has supervisely==6.74.51;
it reads SERVER_ADDRESS and API_TOKEN from the environment like any SDK script, exercises the
calls the operator relies on, and prints one JSON object with what the SDK saw. It imports
nothing from the project: the point is that the SDK alone is satisfied.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import requests
import supervisely as sly
from supervisely.api.task_api import KubernetesSettings, TaskFinishedWithError

POLL = 0.1


def arm_fault(server: str, token: str, fault: dict[str, Any]) -> None:
    response = requests.post(
        f"{server}/_sim/faults", json=fault, headers={"x-api-key": token}, timeout=10
    )
    response.raise_for_status()


def main() -> dict[str, Any]:
    server = os.environ["SERVER_ADDRESS"]
    token = os.environ["API_TOKEN"]
    api = sly.Api.from_env(retry_count=4)
    results: dict[str, Any] = {}

    finishes_id = api.app.get_ecosystem_module_id("supervisely-ecosystem/sim-train-finishes")
    results["module_id"] = finishes_id
    try:
        api.app.get_ecosystem_module_id("nobody/no-such-app")
        results["missing_slug"] = "found?!"
    except KeyError:
        results["missing_slug"] = "KeyError"

    task = api.task.start(
        agent_id=1,
        module_id=finishes_id,
        workspace_id=1,
        task_name="sdk-compat",
        kubernetes_settings=KubernetesSettings(
            use_health_check=True, limit_cpus=4, limit_memory_gb=8
        ),
        # A plain string: the SDK's own TaskApi.RestartPolicy enum is not JSON serialisable.
        restart_policy="on_error",
    )
    task_id = task["id"]
    results["start_reply"] = task
    info = api.task.get_info_by_id(task_id)
    results["info_keys"] = sorted(info)
    results["first_status"] = str(api.task.get_status(task_id))
    api.task.wait(
        task_id, api.task.Status.STARTED, wait_attempts=200, wait_attempt_timeout_sec=POLL
    )
    results["status_after_wait"] = str(api.task.get_status(task_id))
    results["stop_reply"] = str(api.task.stop(task_id))
    api.task.wait(
        task_id, api.task.Status.STOPPED, wait_attempts=200, wait_attempt_timeout_sec=POLL
    )
    results["status_after_stop"] = str(api.task.get_status(task_id))
    results["logs"] = api.task.get_logs(task_id, limit=3)
    results["listed_ids"] = [t["id"] for t in api.task.get_list(1)]
    results["missing_task"] = api.task.get_info_by_id(999_999)

    failing = api.task.start(agent_id=1, module_id=102, workspace_id=1, task_name="sdk-fails")
    try:
        api.task.wait(
            failing["id"],
            api.task.Status.FINISHED,
            wait_attempts=200,
            wait_attempt_timeout_sec=POLL,
        )
        results["failing_wait"] = "returned"
    except TaskFinishedWithError:
        results["failing_wait"] = "TaskFinishedWithError"

    serve_id = api.app.get_ecosystem_module_id("supervisely-ecosystem/sim-serve-model")
    session = api.app.start(agent_id=1, module_id=serve_id, workspace_id=1, task_name="sdk-serve")
    results["session"] = {
        "task_id": session.task_id,
        "user_id": session.user_id,
        "module_id": session.module_id,
        "app_id": session.app_id,
    }
    results["ready_for_api_calls"] = api.app.wait_until_ready_for_api_calls(
        session.task_id, attempts=100, attempt_delay_sec=POLL
    )
    deadline = time.monotonic() + 20
    while not api.task.is_ready(session.task_id) and time.monotonic() < deadline:
        time.sleep(POLL)
    results["is_ready"] = api.task.is_ready(session.task_id)
    results["app_stop"] = str(api.app.stop(session.task_id))
    results["sessions"] = [s.task_id for s in api.app.get_sessions(1, serve_id)]

    results["agent_status"] = str(api.agent.get_status(1))
    results["agent_2_status"] = str(api.agent.get_status(2))
    results["available_agents"] = [a.id for a in api.agent.get_list_available(1)]
    results["workspace"] = api.workspace.get_info_by_id(1).name
    results["team"] = api.team.get_info_by_id(1).name
    results["workspaces"] = [w.id for w in api.workspace.get_list(1)]

    # Transport: a retried 503 (no sleep between attempts), then the SDK's version probe.
    quick = sly.Api(server, token, retry_count=4, retry_sleep_sec=0)
    arm_fault(server, token, {"method": "tasks.info", "status": 503, "times": 2})
    results["after_503s"] = quick.task.get_info_by_id(task_id)["id"]
    arm_fault(server, token, {"method": "tasks.info", "status": 429, "retry_after": 1, "times": 1})
    began = time.monotonic()
    quick.task.get_info_by_id(task_id)
    results["retry_after_waited"] = round(time.monotonic() - began, 2)
    try:
        quick.task.start(agent_id=2, module_id=finishes_id, workspace_id=1)
        results["waiting_agent"] = "started?!"
    except requests.exceptions.HTTPError as exc:
        results["waiting_agent"] = exc.response.status_code
    return results


if __name__ == "__main__":
    print(json.dumps(main(), default=str))
    sys.stdout.flush()
