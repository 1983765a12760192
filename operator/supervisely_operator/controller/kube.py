"""The operator's own calls to the Kubernetes API, through the official client.

kopf watches and manages the finalizer; everything else the operator writes goes through here:
status patches of both kinds (conflict-checked, so a decision made on a stale object is never
written), Secrets with credentials, a cron task's runs (made and deleted), and deletion after
``ttlSecondsAfterFinished``. The official client
blocks, so calls run on a small thread pool of their own.

Each public method maps to one RBAC verb; the chart's RBAC test reads ``RBAC_VERBS``.
"""

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import kubernetes
import urllib3

from supervisely_operator.api import resource

IN_CLUSTER_NAMESPACE: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

RBAC_VERBS: Final = {
    (resource.GROUP, resource.PLURAL): frozenset({"get", "delete", "create"}),
    (resource.GROUP, f"{resource.PLURAL}/status"): frozenset({"patch"}),
    (resource.GROUP, f"{resource.CRON_PLURAL}/status"): frozenset({"patch"}),
    ("", "secrets"): frozenset({"get"}),
}
"""What this module calls, as (API group, resource) -> verbs, for the chart's RBAC check."""

logger = logging.getLogger(__name__)


class StaleObject(Exception):
    """The object changed since it was read (HTTP 409): decide again on the fresh one."""


class ObjectGone(Exception):
    """The object no longer exists (HTTP 404)."""


def object_gone(error: kubernetes.client.ApiException) -> bool:
    """Whether a 404 says the object is gone. Only an answer about it (a Status) does: a bare
    "404 page not found" comes from a server that does not serve the resource at all right
    now (a restarted API server does so until its CRDs are served again), and taken for the
    object gone it ended a deletion before the task was stopped."""
    if error.status != 404:
        return False
    try:
        answer = json.loads(error.body or "")
    except ValueError:
        return False
    return isinstance(answer, dict) and answer.get("kind") == "Status"


class KubeRefused(Exception):
    """The API server refused a call (403, 500, ...) or could not be reached (``status`` None).

    The message holds the status and the server's one-word reason, never a body.
    """

    def __init__(self, status: int | None, reason: str) -> None:
        super().__init__(f"HTTP {status} {reason}" if status is not None else reason)
        self.status = status


@dataclass(frozen=True)
class SecretData:
    """The decoded keys of a Secret; the repr never shows values."""

    values: Mapping[str, str]

    def __repr__(self) -> str:
        return f"SecretData(keys={sorted(self.values)})"


def load_kube_config(*, retries: int | None = None) -> kubernetes.client.ApiClient:
    """In-cluster configuration when running in a pod, else the current kubeconfig context.

    ``retries``: urllib3's own retries of a failed request (None: urllib3's default of 3).
    """
    configuration = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_incluster_config(client_configuration=configuration)
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(client_configuration=configuration)
    configuration.retries = retries
    return kubernetes.client.ApiClient(configuration)


def load_cli_kube_config(
    kubeconfig: str | None = None, context: str | None = None
) -> tuple[kubernetes.client.ApiClient, str]:
    """For a command run by a person: their kubeconfig (``$KUBECONFIG``, or the one named) and
    its context's namespace, as kubectl has them; in a pod without one, the pod's own."""
    configuration = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_kube_config(
            config_file=kubeconfig, context=context, client_configuration=configuration
        )
        contexts, active = kubernetes.config.list_kube_config_contexts(config_file=kubeconfig)
    except kubernetes.config.ConfigException:
        if kubeconfig is not None or context is not None:
            raise
        kubernetes.config.load_incluster_config(client_configuration=configuration)
        namespace = (
            IN_CLUSTER_NAMESPACE.read_text().strip() if IN_CLUSTER_NAMESPACE.exists() else ""
        )
        return kubernetes.client.ApiClient(configuration), namespace or "default"
    chosen = next((c for c in contexts if c["name"] == context), active) if context else active
    namespace = (chosen or {}).get("context", {}).get("namespace") or "default"
    return kubernetes.client.ApiClient(configuration), namespace


class KubeApi:
    """Thin async wrapper over the official client for the few calls the operator makes."""

    def __init__(self, api_client: kubernetes.client.ApiClient, *, threads: int) -> None:
        self._api_client = api_client
        self._custom = kubernetes.client.CustomObjectsApi(api_client)
        self._core: kubernetes.client.CoreV1Api | None = None
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="kube-api")
        self._failed_calls = 0
        """Calls refused in a row: an outage is logged when it starts and when it ends only."""

    def _read_secret(self, *, namespace: str, name: str) -> Any:
        """CoreV1Api is made on first use, in a worker thread: importing it takes 1.5 s, and
        only resources with a credentialsSecretRef need it."""
        if self._core is None:
            self._core = kubernetes.client.CoreV1Api(self._api_client)
        return self._core.read_namespaced_secret(namespace=namespace, name=name)

    def close(self) -> None:
        """Release the threads and the connection pool."""
        self._pool.shutdown(wait=True)
        self._api_client.close()

    async def _call(self, function: Callable[..., Any], /, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._pool, lambda: function(**kwargs))
        except kubernetes.client.ApiException as error:
            if error.status == 409:
                self._answered()
                raise StaleObject(str(error.reason)) from None
            if object_gone(error):
                self._answered()
                raise ObjectGone(str(error.reason)) from None
            raise self._refused(KubeRefused(error.status, str(error.reason))) from None
        except urllib3.exceptions.HTTPError as error:
            unreachable = KubeRefused(None, f"the API server cannot be reached: {error}")
            raise self._refused(unreachable) from None
        self._answered()
        return result

    def _refused(self, error: KubeRefused) -> KubeRefused:
        if self._failed_calls == 0:
            logger.warning(
                "The Kubernetes API is unavailable (%s); passes retry quietly until it answers",
                error,
            )
        self._failed_calls += 1
        return error

    def _answered(self) -> None:
        if self._failed_calls:
            logger.info(
                "The Kubernetes API answers again after %d failed calls", self._failed_calls
            )
            self._failed_calls = 0

    async def patch_status(
        self, *, namespace: str, name: str, resource_version: str, status: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch ``status`` if the object is still at ``resource_version``; the new object."""
        body = {"metadata": {"resourceVersion": resource_version}, "status": status}
        result: dict[str, Any] = await self._call(
            self._custom.patch_namespaced_custom_object_status,
            group=resource.GROUP,
            version=resource.VERSION,
            plural=resource.PLURAL,
            namespace=namespace,
            name=name,
            body=body,
        )
        return result

    async def patch_cron_status(
        self, *, namespace: str, name: str, resource_version: str, status: Mapping[str, Any]
    ) -> None:
        """The same for a SuperviselyCronTask."""
        body = {"metadata": {"resourceVersion": resource_version}, "status": status}
        await self._call(
            self._custom.patch_namespaced_custom_object_status,
            group=resource.GROUP,
            version=resource.VERSION,
            plural=resource.CRON_PLURAL,
            namespace=namespace,
            name=name,
            body=body,
        )

    async def get(self, *, namespace: str, name: str) -> dict[str, Any]:
        """The object as it is now."""
        result: dict[str, Any] = await self._call(
            self._custom.get_namespaced_custom_object,
            group=resource.GROUP,
            version=resource.VERSION,
            plural=resource.PLURAL,
            namespace=namespace,
            name=name,
        )
        return result

    async def create(self, *, namespace: str, body: Mapping[str, Any]) -> bool:
        """Create a SuperviselyTask; False when one of its name exists already (the create of a
        run is idempotent by its name)."""
        try:
            await self._call(
                self._custom.create_namespaced_custom_object,
                group=resource.GROUP,
                version=resource.VERSION,
                plural=resource.PLURAL,
                namespace=namespace,
                body=dict(body),
            )
        except StaleObject:  # 409: AlreadyExists
            return False
        return True

    async def delete(self, *, namespace: str, name: str, uid: str) -> None:
        """Delete a SuperviselyTask, but only the incarnation with this uid."""
        options = kubernetes.client.V1DeleteOptions(
            preconditions=kubernetes.client.V1Preconditions(uid=uid)
        )
        with contextlib.suppress(ObjectGone):
            await self._call(
                self._custom.delete_namespaced_custom_object,
                group=resource.GROUP,
                version=resource.VERSION,
                plural=resource.PLURAL,
                namespace=namespace,
                name=name,
                body=options,
            )

    async def read_secret(self, *, namespace: str, name: str) -> SecretData:
        """A Secret's data, decoded."""
        secret = await self._call(self._read_secret, namespace=namespace, name=name)
        data = secret.data or {}
        return SecretData({key: base64.b64decode(value).decode() for key, value in data.items()})
