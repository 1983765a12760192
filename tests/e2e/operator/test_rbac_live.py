"""The one grant the kmock tier cannot see used (``tests/integration/test_controller_rbac.py``):
cluster-wide, kopf lists and watches CustomResourceDefinitions on a real API server."""

from harness import Operator, Tasks


def test_a_cluster_wide_operator_watches_crds_as_its_grant_says(
    tasks: Tasks, operator: Operator
) -> None:
    tasks.apply("train", {"moduleId": 101})
    tasks.wait_phase("train", "Succeeded")

    log = operator.whole_log()  # the watches start with the operator
    assert "Starting the watch-stream for customresourcedefinitions.v1.apiextensions.k8s.io" in log
