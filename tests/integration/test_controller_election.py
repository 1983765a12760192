"""Leader election on a cluster that serves Leases (every real cluster does), against kmock.

The local control plane of the e2e tests serves no ``coordination.k8s.io``, so there the claim
lives on kopf's peering object (``tests/e2e/operator/test_leader_election.py``); here kmock
serves Leases and the real operator keeps its claim in one. A Lease that another holder
renews keeps the operator from acting at all; once that holder stops renewing, the operator
takes the Lease over after its duration, not before, and acts.
"""

import asyncio
import time
from typing import Any

import kmock
import pytest
from test_controller_rbac import by_the_operator, permission_of

from supervisely_devkit.simulator import Simulator
from supervisely_operator.controller.claim import micro_time
from supervisely_operator.controller.election import LEADER_PRIORITY
from supervisely_operator.controller.permissions import election_rules

from controller_harness import ApiServerEmulator, Cluster, OperatorStarter, sent, wait_until

LEASES = kmock.resource("coordination.k8s.io", "v1", "leases")
PEERINGS = kmock.resource("kopf.dev", "v1", "clusterkopfpeerings")
PEERING = "supervisely-operator"
LEASE_NAMESPACE = "default"
"""The kubeconfig's context names none, and the operator runs outside a pod."""
NAMESPACE = "vision"
SERVE = {"workspaceId": 1, "moduleId": 103}
LIFETIME = 2
ELECTION_ENV = {
    "SUPERVISELY_OPERATOR_PEERING": PEERING,
    "SUPERVISELY_OPERATOR_PEERING_LIFETIME": str(LIFETIME),
    "SUPERVISELY_OPERATOR_PEERING_RENEW_DEADLINE": "1.5",
    "SUPERVISELY_OPERATOR_PEERING_RETRY_PERIOD": "0.4",
}
LEASE_PATH = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases"


@pytest.fixture
async def peering_cluster(kube_api: ApiServerEmulator, cluster: Cluster) -> Cluster:
    """kmock serving Leases and kopf's peering objects, with the chart's peering object."""
    kube_api.resources[LEASES] = kmock.ResourceInfo(
        kind="Lease", namespaced=True, verbs={"get", "list", "watch", "create", "patch"}
    )
    kube_api.resources[PEERINGS] = kmock.ResourceInfo(
        kind="ClusterKopfPeering", namespaced=False, verbs={"get", "list", "watch", "patch"}
    )
    # The official client asks for the group's resources with a trailing slash, which kmock's
    # discovery does not match (a real API server answers both).
    kube_api["get /apis/coordination.k8s.io/v1/"] << {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "coordination.k8s.io/v1",
        "resources": [
            {
                "name": "leases",
                "singularName": "lease",
                "namespaced": True,
                "kind": "Lease",
                "verbs": ["create", "get", "list", "patch", "watch"],
            }
        ],
    }
    await cluster.create(
        "/apis/kopf.dev/v1/clusterkopfpeerings",
        {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": PEERING}},
    )
    return cluster


def credentials(simulator: Simulator, token: str) -> dict[str, str]:
    return {"SERVER_ADDRESS": simulator.base_url, "API_TOKEN": token}


def lease(kube_api: ApiServerEmulator) -> dict[str, Any] | None:
    key = (LEASES, LEASE_NAMESPACE, PEERING)
    if key not in kube_api.objects or kube_api.objects[key].deleted:
        return None
    stored: dict[str, Any] = kube_api.objects[key].raw
    return stored


def holder(kube_api: ApiServerEmulator) -> str | None:
    found = lease(kube_api)
    return None if found is None else found["spec"].get("holderIdentity")


async def test_the_holder_keeps_a_lease_acts_and_hands_it_over_as_it_exits(
    peering_cluster: Cluster,
    kube_api: ApiServerEmulator,
    simulator: Simulator,
    simulator_token: str,
    start_operator: OperatorStarter,
) -> None:
    operator = await start_operator(**ELECTION_ENV, **credentials(simulator, simulator_token))
    identity = await wait_until(lambda: holder(kube_api), what="a Lease held")
    first = lease(kube_api)
    assert first is not None
    assert first["spec"]["leaseDurationSeconds"] == LIFETIME

    await peering_cluster.create_task("serve", SERVE, namespace=NAMESPACE)
    await wait_until(
        lambda: peering_cluster.status("serve", namespace=NAMESPACE).get("phase") == "Running",
        what="the holder serves",
    )
    renewed = await wait_until(
        lambda: (lease(kube_api) or first)["spec"]["renewTime"] != first["spec"]["renewTime"],
        what="the Lease renewed",
        within=5,
    )
    assert renewed
    peering = kube_api.objects[PEERINGS, None, PEERING].raw
    assert peering["status"][identity]["priority"] >= LEADER_PRIORITY, "kopf's view follows"

    await operator.halt()

    released = lease(kube_api)
    assert released is not None
    assert released["spec"]["holderIdentity"] == "", "handed over at exit, not left to lapse"
    lease_calls = {
        permission
        for request in kube_api
        if by_the_operator(request)
        and request.url.path.startswith(LEASE_PATH)
        and (permission := permission_of(request)) is not None
    }
    [rule] = election_rules()
    assert lease_calls == {(rule.api_group, rule.resource, verb) for verb in rule.verbs}


async def test_no_act_while_another_renews_the_lease_and_a_takeover_only_after_it_lapses(
    peering_cluster: Cluster,
    kube_api: ApiServerEmulator,
    simulator: Simulator,
    simulator_token: str,
    start_operator: OperatorStarter,
) -> None:
    other = {
        "holderIdentity": "another-replica",
        "leaseDurationSeconds": LIFETIME,
        "acquireTime": micro_time(),
        "renewTime": micro_time(),
        "leaseTransitions": 4,
    }
    await peering_cluster.create(
        LEASE_PATH,
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": PEERING, "namespace": LEASE_NAMESPACE},
            "spec": other,
        },
    )
    await start_operator(**ELECTION_ENV, **credentials(simulator, simulator_token))
    await peering_cluster.create_task("serve", SERVE, namespace=NAMESPACE)

    # The other holder renews for twice the Lease's duration: the operator must not act.
    until = time.monotonic() + 2 * LIFETIME
    while time.monotonic() < until:
        await peering_cluster.patch(
            f"{LEASE_PATH}/{PEERING}", {"spec": {"renewTime": micro_time()}}
        )
        await asyncio.sleep(0.5)
    assert holder(kube_api) == "another-replica"
    assert peering_cluster.status_patches("serve", namespace=NAMESPACE) == []
    assert simulator.calls("tasks.run.app") == []

    stopped_renewing = time.monotonic()
    await wait_until(
        lambda: holder(kube_api) not in (None, "another-replica"),
        what="the Lease taken over",
        within=3 * LIFETIME,
    )
    took = time.monotonic() - stopped_renewing
    assert took >= LIFETIME - 0.5, f"taken over {took:.1f} s after the last renewal"
    taken = lease(kube_api)
    assert taken is not None
    assert taken["spec"]["leaseTransitions"] == 5
    await wait_until(
        lambda: peering_cluster.status("serve", namespace=NAMESPACE).get("phase") == "Running",
        what="the new holder serves",
    )
    writes = [
        sent(request)
        for request in kube_api
        if by_the_operator(request)
        and request.method == "PATCH"
        and request.url.path.startswith(LEASE_PATH)
    ]
    assert writes, "renewed"
    assert all(write["metadata"]["resourceVersion"] for write in writes), "each write a CAS"
