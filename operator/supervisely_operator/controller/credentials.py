"""Which Supervisely client serves a resource: the operator's own, or one from its Secret.

Clients are pooled by server and token, so a thousand resources sharing one Secret share one
connection pool; every client of one server, whatever its token, shares one gate (the limits of
``supervisely.limits``), because the server's capacity is what the limits protect. A Secret is
read from the resource's own namespace only (a resource must not borrow another namespace's
credentials) and re-read after a short cache period, so a rotated token takes effect without a
restart.
"""

import hashlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from pydantic import SecretStr

from supervisely_operator.api import SecretReference
from supervisely_operator.api.reasons import Reason
from supervisely_operator.controller.kube import KubeApi, KubeRefused, ObjectGone
from supervisely_operator.remote import CredentialsUnavailable
from supervisely_operator.supervisely import (
    CallObserver,
    ClientSettings,
    ServerGate,
    SuperviselyClient,
    WaitObserver,
    normalize_server_address,
    server_label,
)

SERVER_ADDRESS_KEY = "SERVER_ADDRESS"
API_TOKEN_KEY = "API_TOKEN"  # noqa: S105 - the key name, not a token


@dataclass(frozen=True)
class Credentials:
    """A server address and its token; the token stays masked in reprs."""

    server_address: str
    api_token: SecretStr

    def key(self) -> tuple[str, str]:
        """Pool key: the server and a digest of the token (never the token itself)."""
        digest = hashlib.sha256(self.api_token.get_secret_value().encode()).hexdigest()
        return (self.server_address, digest)


class ClientObserver(Protocol):
    """What the pool tells the metrics of its clients' calls: with the server they went to (as
    a label) and which credentials made them (the digest the pool keys them by, never the
    token), so that one refused token among several is told apart."""

    def on_call(
        self, *, server: str, credentials: str, method: str, outcome: str, seconds: float
    ) -> None: ...

    def on_wait(self, *, method: str, seconds: float) -> None: ...

    def credentials_gone(self, *, server: str, credentials: str) -> None:
        """The pool hands these credentials out no more (a rotated token)."""
        ...


class ClientPool:
    """One Supervisely client per (server, token) and one gate per server, made on first use."""

    def __init__(
        self,
        *,
        kube: KubeApi,
        default: Credentials | None,
        settings: ClientSettings,
        secret_cache_seconds: float,
        observer: ClientObserver | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kube = kube
        self._default = default
        self._settings = settings
        self._cache_seconds = secret_cache_seconds
        self._monotonic = monotonic
        self._observer = observer
        self._clients: dict[tuple[str, str], SuperviselyClient] = {}
        self._gates: dict[str, ServerGate] = {}
        self._secrets: dict[tuple[str, str], tuple[float, Credentials]] = {}
        self._retired: dict[int, SuperviselyClient] = {}
        """Clients of rotated tokens, by id: closed when the last resource moves off them."""

    async def client_for(
        self, *, namespace: str, secret_ref: SecretReference | None, deleting: bool = False
    ) -> SuperviselyClient:
        """The client for a resource in ``namespace`` with this ``credentialsSecretRef``.

        ``deleting``: the resource is being deleted and its task must be stopped. When its
        Secret is gone by then (a namespace deleted as a whole takes the Secret first as often
        as not, and accepts no new one), the credentials last read from it still stop the task.
        """
        if secret_ref is None:
            if self._default is None:
                raise CredentialsUnavailable(
                    Reason.CREDENTIALS_MISSING,
                    "The operator has no SERVER_ADDRESS/API_TOKEN and the resource names no "
                    "credentialsSecretRef",
                )
            credentials = self._default
        else:
            credentials = await self._from_secret(namespace, secret_ref.name, deleting=deleting)
        key = credentials.key()
        if key not in self._clients:
            try:
                server = normalize_server_address(credentials.server_address)
                gate = self._gates.get(server) or ServerGate.for_server(server, self._settings)
                on_call, on_wait = self._hooks(server_label(server), key[1])
                self._clients[key] = SuperviselyClient(
                    server,
                    credentials.api_token,
                    self._settings,
                    gate=gate,
                    on_call=on_call,
                    on_wait=on_wait,
                )
                self._gates[server] = gate
            except ValueError as error:  # a malformed address or token; the text names neither
                raise CredentialsUnavailable(Reason.CREDENTIALS_INVALID, str(error)) from None
        return self._clients[key]

    def _hooks(
        self, server: str, credentials: str
    ) -> tuple[CallObserver | None, WaitObserver | None]:
        """The client's metrics hooks, which name its server and credentials to the observer."""
        observer = self._observer
        if observer is None:
            return None, None

        def on_call(method: str, outcome: str, seconds: float) -> None:
            observer.on_call(
                server=server,
                credentials=credentials,
                method=method,
                outcome=outcome,
                seconds=seconds,
            )

        def on_wait(method: str, seconds: float) -> None:
            observer.on_wait(method=method, seconds=seconds)

        return on_call, on_wait

    def waiting(self) -> dict[str, int]:
        """Attempts held at each server's gate right now, by server label (every server the
        pool has a gate for, 0 included)."""
        held: Counter[str] = Counter()
        for server, gate in self._gates.items():
            held[server_label(server)] += gate.waiting
        return {server: held[server] for server in sorted(held)}

    async def _from_secret(self, namespace: str, name: str, *, deleting: bool) -> Credentials:
        cached = self._secrets.get((namespace, name))
        if cached is not None and self._monotonic() - cached[0] < self._cache_seconds:
            return cached[1]
        try:
            secret = await self._kube.read_secret(namespace=namespace, name=name)
        except (ObjectGone, KubeRefused) as error:
            if deleting and cached is not None:
                return cached[1]
            raise _unreadable(namespace, name, error) from None
        missing = [key for key in (SERVER_ADDRESS_KEY, API_TOKEN_KEY) if not secret.values.get(key)]
        if missing:
            raise CredentialsUnavailable(
                Reason.SECRET_INVALID,
                f"Secret {namespace}/{name} lacks the keys {', '.join(missing)}",
            )
        credentials = Credentials(
            server_address=secret.values[SERVER_ADDRESS_KEY],
            api_token=SecretStr(secret.values[API_TOKEN_KEY]),
        )
        self._secrets[(namespace, name)] = (self._monotonic(), credentials)
        if cached is not None and cached[1].key() != credentials.key():
            self._retire_unless_shared(cached[1].key())
        return credentials

    def _retire_unless_shared(self, key: tuple[str, str]) -> None:
        """A rotated token's client is handed out no more, unless other credentials share it."""
        in_use = [credentials.key() for _, credentials in self._secrets.values()]
        if self._default is not None:
            in_use.append(self._default.key())
        client = None if key in in_use else self._clients.pop(key, None)
        if client is not None:
            self._retired[id(client)] = client
            if self._observer is not None:
                self._observer.credentials_gone(
                    server=server_label(client.server), credentials=key[1]
                )

    def retired(self, client: SuperviselyClient) -> bool:
        """The pool hands this client out no more: its token was rotated away."""
        return id(client) in self._retired and self._retired[id(client)] is client

    async def close_retired(self, client: SuperviselyClient) -> None:
        """Close a retired client once nothing uses it (its pollers have stopped)."""
        if self.retired(client):
            del self._retired[id(client)]
            await client.aclose()

    async def aclose(self) -> None:
        """Close every pooled client."""
        for client in [*self._clients.values(), *self._retired.values()]:
            await client.aclose()
        self._clients.clear()
        self._retired.clear()


def _unreadable(namespace: str, name: str, error: Exception) -> CredentialsUnavailable:
    """Why a Secret could not be read, in words that say what to fix."""
    if isinstance(error, ObjectGone):
        return CredentialsUnavailable(
            Reason.SECRET_NOT_FOUND, f"Secret {namespace}/{name} does not exist"
        )
    hint = ""
    if isinstance(error, KubeRefused) and error.status == 403:
        hint = "; the operator's RBAC must allow get on Secrets in this namespace"
    return CredentialsUnavailable(
        Reason.SECRET_UNREADABLE, f"Secret {namespace}/{name} cannot be read: {error}{hint}"
    )
