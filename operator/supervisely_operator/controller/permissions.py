"""Every Kubernetes permission the operator needs, stated once, for the chart's RBAC.

Two sources: the calls this operator makes itself through the official client
(:data:`supervisely_operator.controller.kube.RBAC_VERBS`), and what kopf does on its behalf
(watching, finalizers and annotations, Events, peering, resource discovery). The chart's RBAC
test compares its rendered rules with :func:`required_rules`, so a new call without a grant
fails the test suite rather than a production cluster. With peering, the claim to act is a
Lease in the operator's own namespace (:func:`election_rules`, a Role of its own there).
"""

from dataclasses import dataclass

from supervisely_operator.api import resource
from supervisely_operator.controller import claim
from supervisely_operator.controller.kube import RBAC_VERBS

KOPF_GROUP = "kopf.dev"


@dataclass(frozen=True, order=True)
class Rule:
    """One RBAC rule: an API group, a resource and its verbs."""

    api_group: str
    resource: str
    verbs: frozenset[str]


def _kopf_rules(*, clusterwide: bool, peering: bool) -> list[Rule]:
    rules = [
        # Watching the resource, adding/removing the finalizer, progress annotations.
        Rule(resource.GROUP, resource.PLURAL, frozenset({"list", "watch", "patch"})),
        # Watching the cron tasks (a daemon each; kopf patches nothing of theirs but may).
        Rule(resource.GROUP, resource.CRON_PLURAL, frozenset({"list", "watch", "patch"})),
        # Not a call: a run's ownerReference blocks its cron task's deletion until it is gone,
        # which a real API server allows only to whom may set the cron task's finalizers.
        Rule(resource.GROUP, f"{resource.CRON_PLURAL}/finalizers", frozenset({"update"})),
        # kopf.event() posts core v1 Events.
        Rule("", "events", frozenset({"create"})),
    ]
    if clusterwide:
        # Cluster-wide kopf follows CRDs to notice the resource appear or go; namespaced mode
        # runs with scanning disabled and needs no cluster-scoped permission at all.
        rules.append(
            Rule("apiextensions.k8s.io", "customresourcedefinitions", frozenset({"list", "watch"}))
        )
    if peering:
        plural = "clusterkopfpeerings" if clusterwide else "kopfpeerings"
        rules.append(Rule(KOPF_GROUP, plural, frozenset({"get", "list", "watch", "patch"})))
    return rules


def required_rules(*, clusterwide: bool, peering: bool) -> list[Rule]:
    """The union of our own calls and kopf's, merged per (group, resource), sorted."""
    verbs: dict[tuple[str, str], set[str]] = {}
    own = [Rule(group, name, frozenset(v)) for (group, name), v in RBAC_VERBS.items()]
    for rule in [*own, *_kopf_rules(clusterwide=clusterwide, peering=peering)]:
        verbs.setdefault((rule.api_group, rule.resource), set()).update(rule.verbs)
    return sorted(Rule(group, name, frozenset(v)) for (group, name), v in verbs.items())


def election_rules() -> list[Rule]:
    """What the claim to act needs in the operator's own namespace (with peering only; where
    the cluster serves no Leases it lives on the peering object, which kopf's rules cover)."""
    return sorted(Rule(group, name, verbs) for (group, name), verbs in claim.RBAC_VERBS.items())
