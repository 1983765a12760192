"""End-to-end tests run against a real Kubernetes API server, in every pytest run.

The session starts one local control plane (etcd + apiextensions-apiserver + the
discovery front, see ``supervisely_devkit.devcluster``) and hands out a
``ClusterAccess`` to it; set ``SUPERVISELY_OPERATOR_TEST_KUBECONFIG`` to run the
same tests against another cluster instead. Every test in this directory is
marked ``e2e`` so it can be selected (``-m e2e``) or deselected (``-m "not e2e"``)
on purpose; nothing here skips by default.
"""

import os
import pathlib
from collections.abc import Iterator

import pytest
from kubernetes import client

from supervisely_devkit.devcluster.access import ClusterAccess
from supervisely_devkit.devcluster.cluster import DevCluster
from supervisely_operator.api.resource import CRD_NAME, CRON_CRD_NAME

from harness import POOL

ENV_TEST_KUBECONFIG = "SUPERVISELY_OPERATOR_TEST_KUBECONFIG"
CRDS_DIR = pathlib.Path(__file__).resolve().parents[2] / "crds"
E2E_DIR = pathlib.Path(__file__).resolve().parent
OPERATOR_TESTS = E2E_DIR / "operator"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in item.path.resolve().parents:
            item.add_marker(pytest.mark.e2e)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """The other e2e tests run operators of their own, each watching every namespace: the
    operator tests' shared one must not be running beside them."""
    pool = item.config.stash.get(POOL, None)
    if pool is not None and OPERATOR_TESTS not in item.path.resolve().parents:
        pool.stop_and_check()


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterAccess]:
    """The cluster under test: a fresh DevCluster, or the one the env var names."""
    cache_dir = tmp_path_factory.mktemp("kubectl-cache")
    external = os.environ.get(ENV_TEST_KUBECONFIG)
    if external:
        yield ClusterAccess(kubeconfig=pathlib.Path(external), kubectl_cache_dir=cache_dir)
        return
    with DevCluster() as cluster:
        yield ClusterAccess(
            kubeconfig=cluster.kubeconfig, kubectl_cache_dir=cache_dir, dev_cluster=cluster
        )


@pytest.fixture(scope="session")
def crd_cluster(kube_cluster: ClusterAccess) -> ClusterAccess:
    """The cluster with the committed CRDs applied as a user would (plain ``kubectl apply -f``)."""
    kube_cluster.kubectl("apply", "-f", str(CRDS_DIR))
    kube_cluster.wait_established(CRD_NAME, CRON_CRD_NAME)
    return kube_cluster


@pytest.fixture(scope="session")
def kube_objects(crd_cluster: ClusterAccess) -> Iterator[client.CustomObjectsApi]:
    """The ``kubernetes`` client that tests read custom objects with (kubectl is for what a
    user does; a kubectl process per read costs a Go start each time)."""
    with crd_cluster.api_client() as api_client:
        yield client.CustomObjectsApi(api_client)
