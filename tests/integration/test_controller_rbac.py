"""Least privilege, proven on the wire: what the operator calls is exactly what the chart grants.

``tests/unit/test_chart_rbac.py`` shows that the chart grants ``required_rules`` and that our
own calls are declared; kopf's share of the rules is a list written by hand. Here every request
the running operator sends to the Kubernetes API in a full life (Secret credentials, a conflict,
Events, a stop, a deletion by TTL, a finalizer removed) is mapped to its RBAC (group, resource,
verb): nothing outside the grant is used, and nothing granted goes unused.
"""

from urllib.parse import parse_qs

import kmock
import pytest

from supervisely_devkit.simulator import Simulator
from supervisely_operator.api import resource
from supervisely_operator.controller.permissions import required_rules

from controller_harness import ApiServerEmulator, Cluster, OperatorStarter, task_path, wait_until

NAMESPACE = "vision"
Permission = tuple[str, str, str]


def permission_of(request: kmock.Request) -> Permission | None:
    """(API group, resource, verb) of a request as RBAC sees it; None for discovery."""
    parts = request.url.path.strip("/").split("/")
    if parts[0] == "api" and len(parts) > 2:
        group, rest = "", parts[2:]
    elif parts[0] == "apis" and len(parts) > 3:
        group, rest = parts[1], parts[3:]
    else:
        return None  # /api/v1, /apis/<group>/<version>, /version: discovery, open to everyone
    if rest[:1] == ["namespaces"] and len(rest) > 2:
        rest = rest[2:]
    resource, name, subresource = [*rest, None, None][:3]
    if subresource is not None:
        resource = f"{resource}/{subresource}"
    watching = parse_qs(request.url.query_string).get("watch") == ["true"]
    verb = {
        "POST": "create",
        "PATCH": "patch",
        "PUT": "update",
        "DELETE": "delete",
    }.get(request.method) or ("watch" if watching else "get" if name else "list")
    return group, str(resource), verb


def by_the_operator(request: kmock.Request) -> bool:
    """kopf's and the official client's requests; the test's own go through aiohttp."""
    agent = request.headers.get("User-Agent", "")
    return agent.startswith(("kopf/", "OpenAPI-Generator/"))


CRD_DISCOVERY = {
    ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
}
"""Cluster-wide kopf follows CRDs to see the resource appear; kmock's discovery does not lead
it there, so ``tests/e2e/operator/test_rbac_live.py`` proves this grant used instead."""
OWNER_FINALIZERS = {("supervisely.com", "superviselycrontasks/finalizers", "update")}
"""Never a call: the API server checks it when a run names its cron task as an owner that
blocks deletion (kmock does not)."""


def cron_path(*, namespace: str) -> str:
    return (
        f"/apis/{resource.GROUP}/{resource.VERSION}/namespaces/{namespace}/{resource.CRON_PLURAL}"
    )


def granted(*, clusterwide: bool) -> set[Permission]:
    return {
        (rule.api_group, rule.resource, verb)
        for rule in required_rules(clusterwide=clusterwide, peering=False)
        for verb in rule.verbs
    }


@pytest.mark.parametrize(
    ("env", "clusterwide"),
    [
        pytest.param({}, True, id="cluster-wide"),
        pytest.param({"NAMESPACES": NAMESPACE}, False, id="namespaced"),
    ],
)
async def test_the_operator_uses_exactly_the_permissions_the_chart_grants(
    cluster: Cluster,
    kube_api: ApiServerEmulator,
    simulator: Simulator,
    simulator_token: str,
    start_operator: OperatorStarter,
    env: dict[str, str],
    clusterwide: bool,
) -> None:
    await start_operator(**{f"SUPERVISELY_OPERATOR_{k}": v for k, v in env.items()})
    await cluster.create_secret(
        "creds",
        {"SERVER_ADDRESS": simulator.base_url, "API_TOKEN": simulator_token},
        namespace=NAMESPACE,
    )
    # A conflict makes the operator read the object back (get).
    kube_api.race_next_write(
        lambda request: request.subresource == "status", {"metadata": {"labels": {"a": "b"}}}
    )
    await cluster.create_task(
        "train",
        {
            "workspaceId": 1,
            "moduleId": 101,
            "credentialsSecretRef": {"name": "creds"},
            "ttlSecondsAfterFinished": 0,
        },
        namespace=NAMESPACE,
    )
    await cluster.create_task(
        "serve",
        {"workspaceId": 1, "moduleId": 103, "credentialsSecretRef": {"name": "creds"}},
        namespace=NAMESPACE,
    )
    await wait_until(
        lambda: cluster.status("serve", namespace=NAMESPACE).get("phase") == "Running",
        what="serve Running",
    )
    await cluster.patch(task_path("serve", namespace=NAMESPACE), {"spec": {"suspend": True}})
    await wait_until(
        lambda: cluster.status("serve", namespace=NAMESPACE).get("phase") == "Suspended",
        what="serve Suspended",
    )
    # ttlSecondsAfterFinished: 0 makes the operator delete "train" itself once it succeeded;
    # the finalizer comes off on the way out.
    await wait_until(
        lambda: cluster.requests("DELETE", task_path("train", namespace=NAMESPACE)),
        what="train deleted by the operator",
        within=15,
    )
    await wait_until(
        lambda: "Suspended" in cluster.event_reasons(namespace=NAMESPACE), what="the Events posted"
    )
    # A cron task whose trigger makes a run that finishes and is trimmed from its history.
    await cluster.create(
        cron_path(namespace=NAMESPACE),
        {
            "apiVersion": resource.API_VERSION,
            "kind": resource.CRON_KIND,
            "metadata": {
                "name": "nightly",
                "namespace": NAMESPACE,
                "annotations": {resource.TRIGGER_ANNOTATION: "now"},
            },
            "spec": {
                "schedule": "0 0 1 1 *",
                "successfulTasksHistoryLimit": 0,
                "taskTemplate": {
                    "spec": {
                        "workspaceId": 1,
                        "moduleId": 101,
                        "credentialsSecretRef": {"name": "creds"},
                    }
                },
            },
        },
    )
    await wait_until(
        lambda: any(
            request.method == "DELETE" and "/superviselytasks/nightly-" in request.url.path
            for request in kube_api
        ),
        what="the cron task's run made, finished and trimmed",
        within=20,
    )

    used = {
        permission
        for request in kube_api
        if by_the_operator(request) and (permission := permission_of(request)) is not None
    }
    grant = granted(clusterwide=clusterwide)
    assert used - grant == set(), "every call the operator makes is granted"
    unused = grant - CRD_DISCOVERY - OWNER_FINALIZERS - used
    assert unused == set(), "every grant is used: nothing more than needed"
