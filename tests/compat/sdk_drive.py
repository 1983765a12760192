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
from supervisely.api.nn.utils import get_experiment_info_by_task_id
from supervisely.api.task_api import KubernetesSettings, TaskFinishedWithError

POLL = 0.1
EXPERIMENT_INFO = {  # TaskApi.set_output_experiment's docstring example, shortened
    "experiment_name": "247 Lemons RT-DETRv2-M",
    "framework_name": "RT-DETRv2",
    "model_name": "RT-DETRv2-M",
    "task_type": "object detection",
    "project_id": 76,
    "task_id": 247,
    "model_files": {"config": "model_config.yml"},
    "checkpoints": ["checkpoints/best.pth", "checkpoints/last.pth"],
    "best_checkpoint": "best.pth",
    "model_meta": "model_meta.json",
    "hyperparameters": "hyperparameters.yaml",
    "artifacts_dir": "/experiments/76_Lemons/247_RT-DETRv2/",
    "evaluation_metrics": {"mAP": 0.994, "AP50": 1.0, "AP75": 1.0},
    "primary_metric": "mAP",
}


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
    drive_outputs(api, task_id, results)
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

    trained = api.task.start(agent_id=1, module_id=finishes_id, workspace_id=1)
    api.task.wait(
        trained["id"], api.task.Status.FINISHED, wait_attempts=200, wait_attempt_timeout_sec=POLL
    )
    experiment = get_experiment_info_by_task_id(api, trained["id"])
    results["trained"] = {
        "task_id": experiment.task_id,
        "best_checkpoint": experiment.best_checkpoint,
        "metrics": experiment.evaluation_metrics,
    }

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


def drive_outputs(api: sly.Api, task_id: int, results: dict[str, Any]) -> None:
    """Every ``set_output_*`` call that needs no other API (file URLs given or made locally)."""
    api.task.set_output_project(task_id, 76, project_name="Lemons")
    api.task.set_output_experiment(task_id, EXPERIMENT_INFO)
    api.task.set_output_directory(task_id, 7660, "/experiments/76/")
    results["output"] = api.task.get_info_by_id(task_id)["meta"]["output"]
    generals = []
    for publish in (
        lambda: api.task.set_output_report(task_id, 9, "report.lnk"),
        lambda: api.task.set_output_archive(task_id, 10, "out.tar", file_url="/s/out.tar"),
        lambda: api.task.set_output_file_download(task_id, 11, "p.json", file_url="/s/p.json"),
        lambda: api.task.set_output_text(task_id, "Done"),
        lambda: api.task.set_output_error(task_id, "Training failed", "CUDA out of memory"),
    ):
        publish()
        generals.append(api.task.get_info_by_id(task_id)["meta"]["output"]["general"])
    results["generals"] = generals


if __name__ == "__main__":
    print(json.dumps(main(), default=str))
    sys.stdout.flush()
