"""A pass turns its plan's milestones into metrics once its status is written, and not when the
write fails: a decision thrown away is decided again, and must not be counted twice.

One pass of the shell against kmock, with no kopf around it (as test_controller_pass.py).
"""

import logging
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from supervisely_operator.controller.kube import KubeApi, StaleObject
from supervisely_operator.controller.metrics import OperatorMetrics
from supervisely_operator.controller.reconciler import Reconciler
from supervisely_operator.controller.startup import FINALIZER
from supervisely_operator.reconcile.situation import (
    Started,
)

from controller_harness import (
    PASS_TIMING,
    ApiServerEmulator,
    Cluster,
    StartsTask7001,
    sent,
    task_path,
)

NAMESPACE = "vision"
LOGGER = logging.getLogger("test")
TASK_IDS = "supervisely_operator_start_to_task_id_seconds_count"


@pytest.fixture
def metrics() -> OperatorMetrics:
    return OperatorMetrics()


@pytest.fixture
def reconciler(kube: KubeApi, metrics: OperatorMetrics) -> Reconciler:
    return Reconciler(
        kube=kube,
        timing=PASS_TIMING,
        finalizer=FINALIZER,
        post_event=lambda obj, event: None,
        metrics=metrics,
        fence=lambda: None,
    )


def task_ids_recorded(metrics: OperatorMetrics) -> float:
    text = generate_latest(metrics.registry).decode()
    return next(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == TASK_IDS
    )


async def started(cluster: Cluster, reconciler: Reconciler) -> tuple[Any, Any]:
    """A new resource's first pass: the start is marked and made; what it did, to record."""
    await cluster.create_task("train", {"workspaceId": 1, "moduleId": 103}, namespace=NAMESPACE)
    obj = await cluster.patch(
        task_path("train", namespace=NAMESPACE), {"metadata": {"finalizers": [FINALIZER]}}
    )
    marked = await reconciler.run_pass(obj, remote=StartsTask7001(), deleting=False, logger=LOGGER)
    assert isinstance(marked.taken, Started)
    return marked.snapshot, marked.taken


async def test_a_recorded_task_id_is_measured_once_its_status_is_written(
    cluster: Cluster, reconciler: Reconciler, metrics: OperatorMetrics
) -> None:
    snapshot, taken = await started(cluster, reconciler)
    assert task_ids_recorded(metrics) == 0, "the start is measured when its task id is recorded"
    await reconciler.run_pass(
        snapshot, remote=StartsTask7001(), deleting=False, logger=LOGGER, taken=taken
    )
    assert cluster.status("train", namespace=NAMESPACE)["taskId"] == 7001
    assert task_ids_recorded(metrics) == 1


async def test_a_pass_whose_write_fails_measures_nothing(
    cluster: Cluster, kube_api: ApiServerEmulator, reconciler: Reconciler, metrics: OperatorMetrics
) -> None:
    snapshot, taken = await started(cluster, reconciler)
    kube_api.race_next_write(
        lambda request: (
            request.subresource == "status" and "taskId" in (sent(request).get("status") or {})
        ),
        {"metadata": {"uid": "new-incarnation"}},
    )
    with pytest.raises(StaleObject):
        await reconciler.run_pass(
            snapshot, remote=StartsTask7001(), deleting=False, logger=LOGGER, taken=taken
        )
    assert task_ids_recorded(metrics) == 0
