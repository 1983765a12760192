"""Where the claim to act is kept: a Lease where the cluster serves ``coordination.k8s.io``, else
an annotation on kopf's peering object.

The claim is client-go's leader election record (holder, lease duration, acquire and renew
times, transitions); every write of it carries the resourceVersion it was read at, so of two
replicas that try at once exactly one succeeds. kopf's peering object exists wherever the
operator runs with peering (the chart makes it, kopf waits for it), and kopf keeps its own
keep-alives in its status; the claim lives beside them in an annotation, which kopf never reads.

The calls run on a thread of their own and each is bounded in time: a renewal must neither wait
behind status writes stuck on a dead connection nor outlast the interval between renewals.
"""

import asyncio
import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol

import kubernetes
import urllib3

from supervisely_operator.controller.kube import KubeRefused, ObjectGone, StaleObject, object_gone

PEERING_GROUP: Final = "kopf.dev"
LEASE_GROUP: Final = "coordination.k8s.io"
CLAIM_ANNOTATION: Final = "supervisely.com/leader"
"""The annotation of kopf's peering object that holds the claim (a JSON leader record)."""
SERVICE_ACCOUNT_NAMESPACE: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

RBAC_VERBS: Final = {(LEASE_GROUP, "leases"): frozenset({"get", "create", "patch"})}
"""The Lease calls, in the operator's own namespace (kopf's peering rules cover the other)."""


@dataclass(frozen=True)
class Claim:
    """Who may act: client-go's ``LeaderElectionRecord``, which is also a Lease's spec."""

    holder: str
    """The holder's identity; empty once released."""
    lease_seconds: int
    acquired: str
    renewed: str
    transitions: int

    @classmethod
    def of(cls, raw: Mapping[str, Any] | None) -> "Claim | None":
        """The claim in a Lease's spec or a decoded annotation; None when nobody ever held it."""
        if not raw:
            return None
        return cls(
            holder=raw.get("holderIdentity") or "",
            lease_seconds=int(raw.get("leaseDurationSeconds") or 0),
            acquired=raw.get("acquireTime") or "",
            renewed=raw.get("renewTime") or "",
            transitions=int(raw.get("leaseTransitions") or 0),
        )

    def to_wire(self) -> dict[str, Any]:
        """As a Lease's spec says it."""
        return {
            "holderIdentity": self.holder,
            "leaseDurationSeconds": self.lease_seconds,
            "acquireTime": self.acquired,
            "renewTime": self.renewed,
            "leaseTransitions": self.transitions,
        }


def micro_time(moment: datetime | None = None) -> str:
    """A Kubernetes MicroTime (RFC 3339 with microseconds), as a Lease's times are written."""
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Stored:
    """The claim as read, and the resourceVersion the next write must match."""

    claim: Claim | None
    resource_version: str | None
    """None: the object does not exist yet (a Lease is made on first claim)."""


class ClaimStore(Protocol):
    """Reads and writes the claim; a write over a changed object raises ``StaleObject``."""

    where: str
    """What holds the claim, for log lines (e.g. "Lease ns/name")."""

    async def read(self) -> Stored: ...

    async def write(self, claim: Claim, *, over: Stored) -> None: ...


class Calls:
    """The official client on one thread of its own, each call bounded by ``timeout``."""

    def __init__(self, api_client: kubernetes.client.ApiClient, *, timeout: float) -> None:
        self.custom = kubernetes.client.CustomObjectsApi(api_client)
        self.api_client = api_client
        self._timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="claim")

    async def __call__(self, function: Callable[..., Any], /, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        call = lambda: function(**kwargs, _request_timeout=self._timeout)  # noqa: E731
        try:
            return await loop.run_in_executor(self._pool, call)
        except kubernetes.client.ApiException as error:
            if error.status == 409:
                raise StaleObject(str(error.reason)) from None
            if object_gone(error):
                raise ObjectGone(str(error.reason)) from None
            raise KubeRefused(error.status, str(error.reason)) from None
        except urllib3.exceptions.HTTPError as error:
            raise KubeRefused(None, f"the API server cannot be reached: {error}") from None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.api_client.close()


class LeaseStore:
    """The claim as a ``coordination.k8s.io/v1`` Lease, made on first claim."""

    def __init__(self, calls: Calls, *, namespace: str, name: str) -> None:
        self._calls = calls
        self._namespace = namespace
        self._name = name
        self.where = f"Lease {namespace}/{name}"

    def _path(self) -> dict[str, str]:
        return {"group": LEASE_GROUP, "version": "v1", "plural": "leases"}

    async def read(self) -> Stored:
        custom = self._calls.custom
        try:
            lease = await self._calls(
                custom.get_namespaced_custom_object,
                **self._path(),
                namespace=self._namespace,
                name=self._name,
            )
        except ObjectGone:
            return Stored(claim=None, resource_version=None)
        return Stored(
            claim=Claim.of(lease.get("spec")),
            resource_version=lease["metadata"]["resourceVersion"],
        )

    async def write(self, claim: Claim, *, over: Stored) -> None:
        custom = self._calls.custom
        if over.resource_version is None:
            body = {
                "apiVersion": f"{LEASE_GROUP}/v1",
                "kind": "Lease",
                "metadata": {"name": self._name, "namespace": self._namespace},
                "spec": claim.to_wire(),
            }
            try:
                await self._calls(
                    custom.create_namespaced_custom_object,
                    **self._path(),
                    namespace=self._namespace,
                    body=body,
                )
            except KubeRefused as error:
                if error.status == 409:  # AlreadyExists: another replica made it first
                    raise StaleObject("the Lease was made meanwhile") from None
                raise
            return
        patch = {"metadata": {"resourceVersion": over.resource_version}, "spec": claim.to_wire()}
        await self._calls(
            custom.patch_namespaced_custom_object,
            **self._path(),
            namespace=self._namespace,
            name=self._name,
            body=patch,
        )


class PeeringObject:
    """kopf's peering object: a ClusterKopfPeering, or a KopfPeering in a watched namespace."""

    def __init__(self, calls: Calls, *, namespace: str | None, name: str) -> None:
        self._calls = calls
        self._namespace = namespace
        self._name = name
        self.where = (
            f"ClusterKopfPeering {name}" if namespace is None else f"KopfPeering {namespace}/{name}"
        )

    async def get(self) -> dict[str, Any]:
        custom = self._calls.custom
        function: Callable[..., Any]
        if self._namespace is None:
            function, where = custom.get_cluster_custom_object, {}
        else:
            function, where = custom.get_namespaced_custom_object, {"namespace": self._namespace}
        found: dict[str, Any] = await self._calls(function, **self._address(), **where)
        return found

    async def patch(self, body: Mapping[str, Any]) -> None:
        """A merge patch (a resourceVersion in it is a precondition)."""
        custom = self._calls.custom
        function: Callable[..., Any]
        if self._namespace is None:
            function, where = custom.patch_cluster_custom_object, {}
        else:
            function, where = custom.patch_namespaced_custom_object, {"namespace": self._namespace}
        await self._calls(function, **self._address(), **where, body=body)

    def _address(self) -> dict[str, str]:
        plural = "clusterkopfpeerings" if self._namespace is None else "kopfpeerings"
        return {"group": PEERING_GROUP, "version": "v1", "plural": plural, "name": self._name}


class PeeringStore:
    """The claim as an annotation of kopf's peering object."""

    def __init__(self, peering: PeeringObject) -> None:
        self._peering = peering
        self.where = peering.where

    async def read(self) -> Stored:
        metadata = (await self._peering.get())["metadata"]
        raw = (metadata.get("annotations") or {}).get(CLAIM_ANNOTATION)
        return Stored(
            claim=Claim.of(json.loads(raw)) if raw else None,
            resource_version=metadata["resourceVersion"],
        )

    async def write(self, claim: Claim, *, over: Stored) -> None:
        record = json.dumps(claim.to_wire(), separators=(",", ":"))
        metadata = {
            "resourceVersion": over.resource_version,
            "annotations": {CLAIM_ANNOTATION: record},
        }
        await self._peering.patch({"metadata": metadata})


async def serves_leases(calls: Calls) -> bool:
    """Whether the cluster serves ``coordination.k8s.io/v1`` Leases (every real cluster does;
    the local control plane of the tests does not)."""
    api = kubernetes.client.CoordinationV1Api(calls.api_client)
    try:
        found = await calls(api.get_api_resources)
    except ObjectGone:
        return False
    except KubeRefused as error:
        if error.status == 404:  # the group is not served: any 404 says so here
            return False
        raise
    return any(resource.name == "leases" for resource in found.resources)


def own_namespace() -> str:
    """The namespace this replica runs in (its Lease lives there): the pod's own, else the
    kubeconfig context's, else ``default``."""
    if SERVICE_ACCOUNT_NAMESPACE.exists():
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    try:
        _, context = kubernetes.config.list_kube_config_contexts()
    except (kubernetes.config.ConfigException, OSError):
        return "default"
    namespace: str = (context or {}).get("context", {}).get("namespace") or "default"
    return namespace
