"""The official Supervisely SDK (6.74.51) drives the simulator unchanged.

The SDK's pins clash with the project's lock, so it lives in its own venv
(``tests/compat/make_sdk_venv.sh``) and runs ``sdk_drive.py`` as a subprocess against a
simulator started here; the test then checks what the SDK saw and what the simulator recorded.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from supervisely_devkit.simulator import Scenario, Simulator
from supervisely_operator.api import OutputLinkKind
from supervisely_operator.supervisely import task_outputs

SDK_PYTHON = os.environ.get("SUPERVISELY_SDK_PYTHON")
DRIVER = Path(__file__).with_name("sdk_drive.py")
TOKEN = "sdk-compat-token-0123456789"

if os.environ.get("SUPERVISELY_SDK_REQUIRED") and not SDK_PYTHON:
    # CI sets this: there a missing SDK venv is a failure, never a quiet skip.
    raise RuntimeError("SUPERVISELY_SDK_REQUIRED is set but SUPERVISELY_SDK_PYTHON is not")

pytestmark = pytest.mark.skipif(
    not SDK_PYTHON,
    reason=(
        "set SUPERVISELY_SDK_PYTHON to the python of a venv with supervisely==6.74.51 "
        "(tests/compat/make_sdk_venv.sh builds one)"
    ),
)

RUN_APP_KEYS = {
    "agentId",
    "workspaceId",
    "description",
    "params",
    "logLevel",
    "usersIds",
    "appVersion",
    "isBranch",
    "taskName",
    "restartPolicy",
    "proxyKeepUrl",
    "advancedSettings",
    "moduleId",
}


async def run_driver(simulator: Simulator) -> dict[str, Any]:
    assert SDK_PYTHON is not None
    env = {
        **os.environ,
        "SERVER_ADDRESS": simulator.base_url,
        "API_TOKEN": TOKEN,
        "SUPERVISELY_SKIP_HTTPS_USER_HELPER_CHECK": "1",
    }
    env.pop("SUPERVISELY_TASK_ID", None)
    completed = await asyncio.to_thread(
        subprocess.run,
        [SDK_PYTHON, str(DRIVER)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    stderr_tail = completed.stderr[-4000:].replace(TOKEN, "<token>")
    assert completed.returncode == 0, stderr_tail
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


async def test_sdk_drives_the_simulator() -> None:
    async with Simulator(token=TOKEN, scenario=Scenario.fast(0.2)) as simulator:
        result = await run_driver(simulator)
        calls = simulator.calls()

    assert result["module_id"] == 101
    assert result["missing_slug"] == "KeyError"
    start = result["start_reply"]
    assert start["taskId"] == start["id"] == 1001, "TaskApi.start copies taskId into id"
    assert {"id", "type", "status", "workspaceId", "meta", "settings"} <= set(result["info_keys"])
    assert result["first_status"] == "queued"
    assert result["status_after_wait"] == "started"
    assert result["stop_reply"] == "terminating"
    assert result["status_after_stop"] == "stopped"
    assert len(result["logs"]) == 3
    assert all(
        set(entry) == {"level", "message", "timestamp", "task_id"} for entry in result["logs"]
    )
    assert 1001 in result["listed_ids"]
    assert result["missing_task"] is None, "the SDK maps a 404 on tasks.info to None"
    assert result["failing_wait"] == "TaskFinishedWithError"
    session = result["session"]
    assert (session["module_id"], session["app_id"], session["user_id"]) == (103, 203, 1)
    assert result["ready_for_api_calls"] is True
    assert result["is_ready"] is True
    assert result["app_stop"] == "terminating"
    assert session["task_id"] in result["sessions"]
    assert result["agent_status"].lower().endswith("running")
    assert result["agent_2_status"].lower().endswith("waiting")
    assert result["available_agents"] == [1]
    assert (result["workspace"], result["team"], result["workspaces"]) == (
        "Default workspace",
        "Simulated team",
        [1, 2],
    )
    assert result["after_503s"] == 1001, "two 503s are retried through"
    assert result["retry_after_waited"] >= 1, "the SDK honours Retry-After on 429"
    assert result["waiting_agent"] == 400
    check_outputs(result)

    first_run = next(call for call in calls if call.method == "tasks.run.app")
    assert set(first_run.body) == RUN_APP_KEYS
    assert first_run.body["advancedSettings"] == {
        "limitByWorkspace": False,
        "useHealthCheck": True,
        "limitCpus": 4,
        "limitMemoryGb": 8,
    }, "KubernetesSettings arrive flattened next to limitByWorkspace"
    assert first_run.body["restartPolicy"] == "on_error"
    app_start = next(
        call for call in calls if call.method == "tasks.run.app" and call.body["moduleId"] == 103
    )
    assert app_start.body["appVersion"] == "v2.0.3", "AppApi.start looks up the latest release"
    assert [call.method for call in calls].count("instance.version") == 2, (
        "each Api object probes the version once, after its first non-200"
    )
    assert all(call.token_valid for call in calls)


def check_outputs(result: dict[str, Any]) -> None:
    """What the SDK's set_output_* calls left in meta.output, and how the operator reads it."""
    output = result["output"]
    assert set(output) == {"project", "experiment", "general"}, "each call replaced its own key"
    outputs = task_outputs(output)
    assert outputs is not None
    assert outputs.project is not None
    assert (outputs.project.id, outputs.project.name) == (76, "Lemons")
    assert outputs.link is not None
    assert (outputs.link.kind, outputs.link.title, outputs.link.url) == (
        OutputLinkKind.DIRECTORY,
        "/experiments/76/",
        "/files/7660",
    )
    assert outputs.experiment is not None
    assert outputs.experiment.best_checkpoint == "best.pth"
    assert outputs.experiment.metrics == {"mAP": 0.994, "AP50": 1.0, "AP75": 1.0}

    read = [task_outputs({"general": general}) for general in result["generals"]]
    assert [o.link.kind if o and o.link else None for o in read[:3]] == [
        OutputLinkKind.REPORT,
        OutputLinkKind.ARCHIVE,
        OutputLinkKind.FILE,
    ]
    assert read[3] is not None
    assert read[3].text == "Done"
    assert read[4] is not None
    assert read[4].error == "Training failed: CUDA out of memory"

    trained = result["trained"]
    assert trained["best_checkpoint"] == "best.pt", "the SDK reads the default training's run"
    assert trained["metrics"]["mAP"] == 0.72
    assert trained["task_id"] > 1001
