"""The chart grants exactly the permissions the operator uses: no more, no fewer.

Two links make the chain. The chart's rendered rules must equal
``controller/permissions.py``'s ``required_rules`` in all four modes (cluster-wide or per
namespace, with or without peering), so a new entry there or in ``kube.py``'s ``RBAC_VERBS``
fails here until the chart grants it. And ``RBAC_VERBS`` must match what ``kube.py`` actually
calls: its source is parsed and every ``self._custom.<method>`` / ``self._core.<method>`` of the
official client is turned into (group, resource, verb), so a call added without declaring it
fails too, and so does a declaration nothing calls any more.
"""

import ast
import inspect
import itertools
import re
from collections.abc import Iterator
from typing import Any

import helm_python
import pytest

from chart_render import NAMESPACE, load_chart, render_objects
from supervisely_operator.api import resource
from supervisely_operator.controller import kube, permissions
from supervisely_operator.controller.permissions import Rule, election_rules, required_rules

WATCHED = ["team-a", "team-b"]

Grants = dict[tuple[str, str], frozenset[str]]


@pytest.fixture(scope="module")
def chart() -> Iterator[helm_python.Chart]:
    with load_chart() as loaded:
        yield loaded


def grants_of_rules(rules: list[Rule]) -> Grants:
    return {(rule.api_group, rule.resource): rule.verbs for rule in rules}


def grants_of_role(role: dict[str, Any]) -> Grants:
    """A rendered (Cluster)Role's rules as (group, resource) -> verbs; refuses anything broader."""
    grants: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        assert set(rule) == {"apiGroups", "resources", "verbs"}, f"unexpected keys in {rule}"
        assert "*" not in [*rule["apiGroups"], *rule["resources"], *rule["verbs"]], rule
        for group, name in itertools.product(rule["apiGroups"], rule["resources"]):
            grants.setdefault((group, name), set()).update(rule["verbs"])
    return {key: frozenset(verbs) for key, verbs in grants.items()}


ELECTION = "-leader-election"


def roles(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The (Cluster)Roles or bindings for the resources; the election's own are apart."""
    return [
        obj
        for obj in objects
        if obj["kind"] == kind and not obj["metadata"]["name"].endswith(ELECTION)
    ]


def election_roles(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [
        obj for obj in objects if obj["kind"] == kind and obj["metadata"]["name"].endswith(ELECTION)
    ]


@pytest.mark.parametrize("peering", [False, True], ids=["standalone", "peering"])
def test_cluster_wide_grants_exactly_the_required_rules(
    chart: helm_python.Chart, peering: bool
) -> None:
    objects = render_objects(chart, {"peering": {"enabled": peering}})
    assert roles(objects, "Role") == []
    assert roles(objects, "RoleBinding") == []
    [cluster_role] = roles(objects, "ClusterRole")
    expected = grants_of_rules(required_rules(clusterwide=True, peering=peering))
    assert grants_of_role(cluster_role) == expected
    [binding] = roles(objects, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": cluster_role["metadata"]["name"],
    }
    assert_binds_the_operator(objects, binding)


@pytest.mark.parametrize("peering", [False, True], ids=["standalone", "peering"])
def test_namespaced_grants_exactly_the_required_rules_in_each_namespace(
    chart: helm_python.Chart, peering: bool
) -> None:
    objects = render_objects(chart, {"namespaces": WATCHED, "peering": {"enabled": peering}})
    assert roles(objects, "ClusterRole") == []
    assert roles(objects, "ClusterRoleBinding") == []
    expected = grants_of_rules(required_rules(clusterwide=False, peering=peering))
    by_namespace = {role["metadata"]["namespace"]: role for role in roles(objects, "Role")}
    assert sorted(by_namespace) == WATCHED
    for role in by_namespace.values():
        assert grants_of_role(role) == expected
    bindings = {b["metadata"]["namespace"]: b for b in roles(objects, "RoleBinding")}
    assert sorted(bindings) == WATCHED
    for namespace, binding in bindings.items():
        assert binding["roleRef"]["kind"] == "Role"
        assert binding["roleRef"]["name"] == by_namespace[namespace]["metadata"]["name"]
        assert_binds_the_operator(objects, binding)


def test_namespaced_mode_needs_nothing_cluster_scoped() -> None:
    cluster_scoped = {
        ("apiextensions.k8s.io", "customresourcedefinitions"),
        ("kopf.dev", "clusterkopfpeerings"),
    }
    for peering in (False, True):
        granted = grants_of_rules(required_rules(clusterwide=False, peering=peering))
        assert not cluster_scoped & set(granted)


@pytest.mark.parametrize("namespaces", [[], WATCHED], ids=["cluster-wide", "namespaced"])
def test_peering_grants_the_claim_in_the_release_namespace_only(
    chart: helm_python.Chart, namespaces: list[str]
) -> None:
    """The Lease lives in the operator's own namespace: a Role there, never leases elsewhere
    (a cluster-wide grant on Leases would let it take other controllers' leadership)."""
    objects = render_objects(chart, {"namespaces": namespaces, "peering": {"enabled": True}})
    [role] = election_roles(objects, "Role")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert grants_of_role(role) == grants_of_rules(election_rules())
    [binding] = election_roles(objects, "RoleBinding")
    assert binding["metadata"]["namespace"] == NAMESPACE
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert_binds_the_operator(objects, binding)
    standalone = render_objects(chart, {"namespaces": namespaces})
    assert election_roles(standalone, "Role") == []


def test_rbac_off_renders_no_roles(chart: helm_python.Chart) -> None:
    kinds = {obj["kind"] for obj in render_objects(chart, {"rbac": {"create": False}})}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


def assert_binds_the_operator(objects: list[dict[str, Any]], binding: dict[str, Any]) -> None:
    [deployment] = [obj for obj in objects if obj["kind"] == "Deployment"]
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}
    ]


def test_a_newly_declared_permission_breaks_the_equality(
    chart: helm_python.Chart, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What happens when kube.py declares one more call: the chart no longer matches."""
    grown = {**kube.RBAC_VERBS, ("", "configmaps"): frozenset({"get"})}
    monkeypatch.setattr(permissions, "RBAC_VERBS", grown)
    [cluster_role] = roles(render_objects(chart), "ClusterRole")
    required = grants_of_rules(required_rules(clusterwide=True, peering=False))
    assert required[("", "configmaps")] == {"get"}
    assert grants_of_role(cluster_role) != required


# --- kube.py's calls against its RBAC_VERBS ------------------------------------------------------

VERB_PREFIXES = {
    "get_": "get",
    "read_": "get",
    "list_": "list",
    "patch_": "patch",
    "delete_": "delete",
    "create_": "create",
    "replace_": "update",
}
CLIENTS = {"_custom", "_core"}


class UnmappedCall(AssertionError):
    """A client method this test cannot turn into RBAC terms; teach it before using the method."""


def permission_of(method: str, call: ast.Call | None) -> tuple[str, str, str]:
    """(API group, resource, verb) an official-client method needs, e.g.
    patch_namespaced_custom_object_status -> (supervisely.com, superviselytasks/status, patch)."""
    name = re.sub(r"_with_http_info$", "", method)
    verb = next((v for prefix, v in VERB_PREFIXES.items() if name.startswith(prefix)), None)
    if verb is None:
        raise UnmappedCall(f"no verb for {method}")
    subresource = "/status" if name.endswith("_status") else ""
    if "custom_object" in name:
        plurals = {None: resource.PLURAL, "resource.PLURAL": resource.PLURAL}
        plurals["resource.CRON_PLURAL"] = resource.CRON_PLURAL
        plural = keyword(call, "plural")
        if plural not in plurals:
            raise UnmappedCall(f"{method} on plural={plural}, not one of the operator's plurals")
        return resource.GROUP, plurals[plural] + subresource, verb
    if "secret" in name:
        return "", "secrets" + subresource, verb
    raise UnmappedCall(f"no resource for {method}")


def keyword(call: ast.Call | None, name: str) -> str | None:
    if call is None:
        return None
    return next((ast.unparse(k.value) for k in call.keywords if k.arg == name), None)


def client_calls(source: str) -> Iterator[tuple[str, ast.Call | None]]:
    """Every ``self._custom.<m>`` / ``self._core.<m>``, called directly or handed to a helper
    (``self._call(self._custom.get_..., group=..., plural=...)``), with the call it appears in."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr in CLIENTS
            and isinstance(node.value.value, ast.Name)
            and node.value.value.id == "self"
        ):
            parent = parents.get(node)
            yield node.attr, parent if isinstance(parent, ast.Call) else None


def used_permissions(source: str) -> set[tuple[str, str, str]]:
    return {permission_of(method, call) for method, call in client_calls(source)}


def declared_permissions() -> set[tuple[str, str, str]]:
    return {
        (group, name, verb) for (group, name), verbs in kube.RBAC_VERBS.items() for verb in verbs
    }


def test_kube_calls_are_all_declared_in_rbac_verbs() -> None:
    used = used_permissions(inspect.getsource(kube))
    assert used, "found no client calls in kube.py: the parser no longer sees them"
    assert used <= declared_permissions(), (
        f"called but not in RBAC_VERBS: {used - declared_permissions()}"
    )


def test_rbac_verbs_declares_nothing_kube_does_not_call() -> None:
    """Least privilege: a declaration left behind after its call went would keep a grant alive."""
    used = used_permissions(inspect.getsource(kube))
    assert declared_permissions() <= used, (
        f"declared, never called: {declared_permissions() - used}"
    )


def test_the_parser_sees_new_calls() -> None:
    """On a made-up KubeApi that calls more than kube.py: each call is found and mapped."""
    source = """
class KubeApi:
    async def more(self):
        await self._call(self._custom.list_namespaced_custom_object, plural=resource.PLURAL)
        self._core.replace_namespaced_secret(name="x", namespace="y", body={})
        self._custom.patch_namespaced_custom_object_status_with_http_info()
"""
    assert used_permissions(source) == {
        (resource.GROUP, resource.PLURAL, "list"),
        ("", "secrets", "update"),
        (resource.GROUP, f"{resource.PLURAL}/status", "patch"),
    }
    assert not used_permissions(source) <= declared_permissions()


@pytest.mark.parametrize(
    "source",
    [
        "self._core.read_namespaced_config_map()",
        "self._core.watch_namespaced_secret()",
        "self._call(self._custom.get_namespaced_custom_object, plural='jobs')",
    ],
)
def test_the_parser_refuses_what_it_cannot_map(source: str) -> None:
    with pytest.raises(UnmappedCall):
        used_permissions(source)
