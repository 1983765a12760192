"""Baseline (b) of the scale benchmark: the operator most people would write first.

A kopf program that starts a Supervisely task when a SuperviselyTask is created and runs a
2-second timer per resource that calls ``tasks.info`` and patches ``status.remoteStatus``, with
the project's client at its default limits. It writes only ``status.taskId`` and
``status.remoteStatus`` of the same CRD. No deletion handling, no restarts, no conditions: it
exists to be measured, not used. ``bench/scale.py`` runs it as
``python bench/naive_operator.py --namespace NS --liveness URL`` with ``KUBECONFIG``,
``SERVER_ADDRESS`` and ``API_TOKEN`` in the environment.
"""

import argparse
import logging
import os
from typing import Any

import kopf

from supervisely_operator.api import resource
from supervisely_operator.supervisely import (
    ModuleId,
    StartTaskRequest,
    SuperviselyClient,
    TaskId,
    WorkspaceId,
)

TIMER_SECONDS = 2.0
RESOURCE = (resource.GROUP, resource.VERSION, resource.PLURAL)


@kopf.on.startup()
async def start_up(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # kopf's default also keeps progress in status.kopf, which this CRD's status schema prunes
    # (a warning per write); annotations alone keep the baseline quiet and working.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage()
    # One exact namespace needs no scanning for namespaces (and a bare API server has none).
    settings.scanning.disabled = True
    memo.client = SuperviselyClient(os.environ["SERVER_ADDRESS"], os.environ["API_TOKEN"])


@kopf.on.cleanup()
async def clean_up(memo: kopf.Memo, **_: Any) -> None:
    await memo.client.aclose()


@kopf.on.create(*RESOURCE)
async def start_task(
    name: str, spec: kopf.Spec, patch: kopf.Patch, memo: kopf.Memo, **_: Any
) -> None:
    request = StartTaskRequest(
        module_id=ModuleId(spec["moduleId"]),
        workspace_id=WorkspaceId(spec["workspaceId"]),
        task_name=name,
    )
    started = await memo.client.start_task(request)
    patch.status["taskId"] = started.task_id


@kopf.timer(*RESOURCE, interval=TIMER_SECONDS)
async def poll_task(status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    task_id = status.get("taskId")
    if task_id is None:
        return
    info = await memo.client.get_task(TaskId(task_id))
    patch.status["remoteStatus"] = info.raw_status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--liveness", required=True, help="e.g. http://127.0.0.1:8080/healthz")
    args = parser.parse_args()
    kopf.configure(verbose=False)
    # A line per HTTP request would cost more CPU than the polling it logs.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    kopf.run(namespaces=[args.namespace], standalone=True, liveness_endpoint=args.liveness)


if __name__ == "__main__":
    main()
