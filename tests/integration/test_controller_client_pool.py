"""The pool of Supervisely clients: which credentials serve a resource, and for how long.

The Secrets are read through the official client from kmock, as the operator reads them; the
clock of the Secret cache is a fake, so the cache period is exact without sleeping.
"""

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from pydantic import SecretStr

from supervisely_operator.api import SecretReference, SuperviselyTaskSpec, SuperviselyTaskStatus
from supervisely_operator.controller.credentials import (
    ClientObserver,
    ClientPool,
    Credentials,
    CredentialsUnavailable,
)
from supervisely_operator.controller.kube import KubeApi
from supervisely_operator.controller.reconciler import utc_now
from supervisely_operator.reconcile.situation import NothingToObserve, ResourceRef
from supervisely_operator.remote import PollTiming, RemoteHub, ResourceRemote
from supervisely_operator.supervisely import ClientSettings, TaskId, Transient

from controller_harness import ApiServerEmulator, Cluster

SERVER = "http://127.0.0.1:9"
"""Nothing is called: clients are made lazily and these tests never send a request."""
TOKEN = "pool-test-token-0123456789"
ROTATED = "pool-test-token-rotated-9876"
CACHE_SECONDS = 30.0


class FakeMonotonic:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


PoolFactory = Callable[..., ClientPool]


@pytest.fixture
def clock() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
async def pool_factory(kube: KubeApi, clock: FakeMonotonic) -> AsyncIterator[PoolFactory]:
    pools: list[ClientPool] = []

    def make(
        default: Credentials | None = None, observer: ClientObserver | None = None
    ) -> ClientPool:
        pool = ClientPool(
            kube=kube,
            default=default,
            settings=ClientSettings(max_attempts=1),
            secret_cache_seconds=CACHE_SECONDS,
            observer=observer,
            monotonic=clock,
        )
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        await pool.aclose()


def reads_of(cluster: Cluster, namespace: str, name: str) -> int:
    return len(cluster.requests("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}"))


def ref(name: str) -> SecretReference:
    return SecretReference.model_validate({"name": name})


async def test_a_secret_is_read_once_per_cache_period_then_again(
    cluster: Cluster, pool_factory: PoolFactory, clock: FakeMonotonic
) -> None:
    await cluster.create_secret(
        "creds", {"SERVER_ADDRESS": SERVER, "API_TOKEN": TOKEN}, namespace="ml"
    )
    pool = pool_factory()

    first = await pool.client_for(namespace="ml", secret_ref=ref("creds"))
    clock.now = CACHE_SECONDS - 0.1
    again = await pool.client_for(namespace="ml", secret_ref=ref("creds"))
    assert again is first
    assert reads_of(cluster, "ml", "creds") == 1

    clock.now = CACHE_SECONDS
    after = await pool.client_for(namespace="ml", secret_ref=ref("creds"))
    assert reads_of(cluster, "ml", "creds") == 2
    assert after is first, "same server and token: the same client"


async def test_a_rotated_token_takes_effect_once_the_cache_period_is_over(
    cluster: Cluster, pool_factory: PoolFactory, clock: FakeMonotonic
) -> None:
    await cluster.create_secret(
        "creds", {"SERVER_ADDRESS": SERVER, "API_TOKEN": TOKEN}, namespace="ml"
    )
    await cluster.create_secret(
        "already-rotated", {"SERVER_ADDRESS": SERVER, "API_TOKEN": ROTATED}, namespace="ml"
    )
    pool = pool_factory()
    before = await pool.client_for(namespace="ml", secret_ref=ref("creds"))

    await cluster.update_secret("creds", {"API_TOKEN": ROTATED}, namespace="ml")
    assert await pool.client_for(namespace="ml", secret_ref=ref("creds")) is before
    clock.now = CACHE_SECONDS
    rotated = await pool.client_for(namespace="ml", secret_ref=ref("creds"))

    assert rotated is not before
    assert rotated is await pool.client_for(namespace="ml", secret_ref=ref("already-rotated")), (
        "the new client is the one for the rotated token"
    )


async def test_resources_with_the_same_server_and_token_share_one_client(
    cluster: Cluster, pool_factory: PoolFactory
) -> None:
    """A thousand resources naming one Secret (or equal ones) need one connection pool."""
    same = {"SERVER_ADDRESS": SERVER, "API_TOKEN": TOKEN}
    await cluster.create_secret("creds", same, namespace="ml")
    await cluster.create_secret("team-creds", same, namespace="research")
    await cluster.create_secret(
        "other", {"SERVER_ADDRESS": SERVER, "API_TOKEN": ROTATED}, namespace="ml"
    )
    pool = pool_factory(Credentials(server_address=SERVER, api_token=SecretStr(TOKEN)))

    shared = await pool.client_for(namespace="ml", secret_ref=ref("creds"))
    assert await pool.client_for(namespace="research", secret_ref=ref("team-creds")) is shared
    assert await pool.client_for(namespace="ml", secret_ref=None) is shared
    assert await pool.client_for(namespace="ml", secret_ref=ref("other")) is not shared


async def test_every_client_of_one_server_shares_one_gate_whatever_its_token(
    cluster: Cluster, pool_factory: PoolFactory
) -> None:
    """The limits protect the server, so two tokens on it get two clients but one gate."""
    await cluster.create_secret(
        "other-token", {"SERVER_ADDRESS": f"{SERVER}/", "API_TOKEN": ROTATED}, namespace="ml"
    )
    await cluster.create_secret(
        "other-server", {"SERVER_ADDRESS": "http://127.0.0.2:9", "API_TOKEN": TOKEN}, namespace="ml"
    )
    pool = pool_factory(Credentials(server_address=SERVER, api_token=SecretStr(TOKEN)))

    default = await pool.client_for(namespace="ml", secret_ref=None)
    other_token = await pool.client_for(namespace="ml", secret_ref=ref("other-token"))
    other_server = await pool.client_for(namespace="ml", secret_ref=ref("other-server"))

    assert other_token is not default
    assert other_token.gate is default.gate, "same server (spelt with a trailing /): one gate"
    assert other_server.gate is not default.gate
    assert (default.gate.server, other_server.gate.server) == (SERVER, "http://127.0.0.2:9")


def test_the_pool_key_holds_a_digest_of_the_token_never_the_token() -> None:
    credentials = Credentials(server_address=SERVER, api_token=SecretStr(TOKEN))
    server, digest = credentials.key()
    assert server == SERVER
    assert TOKEN not in digest
    assert len(digest) == 64
    assert TOKEN not in repr(credentials)


@pytest.mark.parametrize(
    ("data", "missing"),
    [
        pytest.param({"SERVER_ADDRESS": SERVER}, "API_TOKEN", id="no-token"),
        pytest.param({"API_TOKEN": TOKEN}, "SERVER_ADDRESS", id="no-server"),
        pytest.param({"SERVER_ADDRESS": SERVER, "API_TOKEN": ""}, "API_TOKEN", id="empty-token"),
    ],
)
async def test_a_secret_without_both_keys_is_invalid_and_says_which_is_missing(
    cluster: Cluster, pool_factory: PoolFactory, data: dict[str, str], missing: str
) -> None:
    await cluster.create_secret("creds", data, namespace="ml")

    with pytest.raises(CredentialsUnavailable) as refused:
        await pool_factory().client_for(namespace="ml", secret_ref=ref("creds"))

    assert refused.value.reason == "SecretInvalid"
    assert refused.value.message == f"Secret ml/creds lacks the keys {missing}"


async def test_a_deletion_may_still_use_the_credentials_of_a_secret_gone_since(
    cluster: Cluster, pool_factory: PoolFactory, clock: FakeMonotonic
) -> None:
    """A namespace deletion takes the Secret before the resource as often as not; the task
    must still be stopped. Anything else learns that the Secret is gone."""
    await cluster.create_secret(
        "creds", {"SERVER_ADDRESS": SERVER, "API_TOKEN": TOKEN}, namespace="ml"
    )
    pool = pool_factory()
    known = await pool.client_for(namespace="ml", secret_ref=ref("creds"))
    cluster.delete_secret("creds", namespace="ml")
    clock.now = CACHE_SECONDS

    with pytest.raises(CredentialsUnavailable) as gone:
        await pool.client_for(namespace="ml", secret_ref=ref("creds"))
    assert gone.value.reason == "SecretNotFound"
    assert await pool.client_for(namespace="ml", secret_ref=ref("creds"), deleting=True) is known
    with pytest.raises(CredentialsUnavailable):
        await pool.client_for(namespace="ml", secret_ref=ref("never-read"), deleting=True)


async def test_a_missing_secret_and_missing_defaults_are_told_apart(
    pool_factory: PoolFactory,
) -> None:
    pool = pool_factory()

    with pytest.raises(CredentialsUnavailable) as no_secret:
        await pool.client_for(namespace="ml", secret_ref=ref("creds"))
    with pytest.raises(CredentialsUnavailable) as no_default:
        await pool.client_for(namespace="ml", secret_ref=None)

    assert (no_secret.value.reason, no_secret.value.message) == (
        "SecretNotFound",
        "Secret ml/creds does not exist",
    )
    assert no_default.value.reason == "CredentialsMissing"


async def test_a_malformed_token_in_a_secret_is_invalid_without_being_named(
    cluster: Cluster, pool_factory: PoolFactory
) -> None:
    malformed = "token with spaces 55aa"
    await cluster.create_secret(
        "creds", {"SERVER_ADDRESS": SERVER, "API_TOKEN": malformed}, namespace="ml"
    )

    with pytest.raises(CredentialsUnavailable) as refused:
        await pool_factory().client_for(namespace="ml", secret_ref=ref("creds"))

    assert refused.value.reason == "CredentialsInvalid"
    assert malformed not in refused.value.message


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (
            403,
            "Secret ml/creds cannot be read: HTTP 403 Forbidden; the operator's RBAC must allow "
            "get on Secrets in this namespace",
        ),
        (500, "Secret ml/creds cannot be read: HTTP 500 Internal Server Error"),
    ],
)
async def test_a_secret_the_api_server_will_not_serve_is_unreadable_and_says_why(
    kube_api: ApiServerEmulator,
    cluster: Cluster,
    pool_factory: PoolFactory,
    status: int,
    message: str,
) -> None:
    await cluster.create_secret(
        "creds", {"SERVER_ADDRESS": SERVER, "API_TOKEN": TOKEN}, namespace="ml"
    )
    kube_api["get /api/v1/namespaces/ml/secrets/creds"] << status

    with pytest.raises(CredentialsUnavailable) as refused:
        await pool_factory().client_for(namespace="ml", secret_ref=ref("creds"))

    assert (refused.value.reason, refused.value.message) == ("SecretUnreadable", message)


async def test_the_client_of_a_rotated_token_closes_when_its_last_resource_moves_off(
    cluster: Cluster, pool_factory: PoolFactory, clock: FakeMonotonic
) -> None:
    await cluster.create_secret(
        "creds", {"SERVER_ADDRESS": SERVER, "API_TOKEN": TOKEN}, namespace="ml"
    )
    pool = pool_factory()
    hub = RemoteHub(
        pool,
        timing=PollTiming(interval=1.0, transition_interval=1.0, idle_interval=1.0, per_page=10),
        lookup_ttl=60.0,
        start_deadline=5.0,
        log_tail_lines=0,
        recorded={},
        now=utc_now,
    )
    first, second = (
        hub.remote_for(ResourceRef(namespace="ml", name=n, uid=f"uid-{n}"), wake=lambda: None)
        for n in ("a", "b")
    )
    # No task yet: observing makes no call, it only picks the resource's client.
    spec = SuperviselyTaskSpec.model_validate(
        {"workspaceId": 1, "moduleId": 1, "credentialsSecretRef": {"name": "creds"}}
    )

    async def observe(remote: ResourceRemote) -> None:
        observation = await remote.observe(
            spec=spec, status=SuperviselyTaskStatus(), refresh_requested=None, deleting=False
        )
        assert isinstance(observation.task, NothingToObserve)

    old = await pool.client_for(namespace="ml", secret_ref=ref("creds"))
    await observe(first)
    await observe(second)

    await cluster.update_secret("creds", {"API_TOKEN": ROTATED}, namespace="ml")
    clock.now = CACHE_SECONDS
    await observe(first)
    new = await pool.client_for(namespace="ml", secret_ref=ref("creds"))
    assert new is not old
    assert pool.retired(old)
    await asyncio.sleep(0.01)
    assert not old.closed, "the other resource still uses it"

    await observe(second)
    await asyncio.sleep(0.01)
    assert old.closed, "closed once the last resource moved to the new token"
    assert not new.closed
    await hub.aclose()


async def test_a_client_shared_by_another_secret_outlives_a_rotation(
    cluster: Cluster, pool_factory: PoolFactory, clock: FakeMonotonic
) -> None:
    for name in ("creds", "same-token"):
        await cluster.create_secret(
            name, {"SERVER_ADDRESS": SERVER, "API_TOKEN": TOKEN}, namespace="ml"
        )
    pool = pool_factory()
    shared = await pool.client_for(namespace="ml", secret_ref=ref("creds"))
    assert await pool.client_for(namespace="ml", secret_ref=ref("same-token")) is shared

    await cluster.update_secret("creds", {"API_TOKEN": ROTATED}, namespace="ml")
    clock.now = CACHE_SECONDS
    await pool.client_for(namespace="ml", secret_ref=ref("creds"))

    assert not pool.retired(shared)
    assert await pool.client_for(namespace="ml", secret_ref=ref("same-token")) is shared


class Recorder:
    """A ClientObserver that keeps what it is told (the operator's is its metrics)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, str]] = []
        self.waits: list[str] = []
        self.gone: list[tuple[str, str]] = []

    def on_call(
        self, *, server: str, credentials: str, method: str, outcome: str, seconds: float
    ) -> None:
        self.calls.append((server, credentials, method, outcome))

    def on_wait(self, *, method: str, seconds: float) -> None:
        self.waits.append(method)

    def credentials_gone(self, *, server: str, credentials: str) -> None:
        self.gone.append((server, credentials))


async def test_each_call_is_told_with_its_server_label_and_credentials_never_the_token(
    pool_factory: PoolFactory,
) -> None:
    """What the per-server metrics are keyed by: no path, no user info, a digest of the token."""
    recorder = Recorder()
    credentials = Credentials(
        server_address="http://user:hunter2@127.0.0.1:9/base", api_token=SecretStr(TOKEN)
    )
    pool = pool_factory(credentials, observer=recorder)
    client = await pool.client_for(namespace="ml", secret_ref=None)
    with pytest.raises(Transient):
        await client.get_task(TaskId(1))  # nothing listens on port 9

    digest = credentials.key()[1]
    assert recorder.calls == [("http://127.0.0.1:9", digest, "tasks.info", "connection_error")]
    assert recorder.waits == ["tasks.info"]
    assert pool.waiting() == {"http://127.0.0.1:9": 0}
    told = repr([recorder.calls, recorder.waits, pool.waiting()])
    assert TOKEN not in told
    assert "hunter2" not in told


async def test_a_rotated_token_is_told_gone_so_its_refusals_count_no_more(
    cluster: Cluster, pool_factory: PoolFactory, clock: FakeMonotonic
) -> None:
    await cluster.create_secret(
        "creds", {"SERVER_ADDRESS": SERVER, "API_TOKEN": TOKEN}, namespace="ml"
    )
    recorder = Recorder()
    pool = pool_factory(observer=recorder)
    await pool.client_for(namespace="ml", secret_ref=ref("creds"))
    await cluster.update_secret("creds", {"API_TOKEN": ROTATED}, namespace="ml")
    clock.now = CACHE_SECONDS
    await pool.client_for(namespace="ml", secret_ref=ref("creds"))
    old = Credentials(server_address=SERVER, api_token=SecretStr(TOKEN)).key()[1]
    assert recorder.gone == [("http://127.0.0.1:9", old)]
