"""Ownership: one task, one resource, by the rule docs/operations.md states.

The index of recorded tasks is a plain dict here (kopf's index in the operator), and the
client source a stand-in that tells which server a resource's credentials reach.
"""

from dataclasses import dataclass, field

import pytest

from supervisely_operator.api import SecretReference
from supervisely_operator.reconcile.situation import ResourceRef
from supervisely_operator.remote import CredentialsUnavailable, RecordedTask
from supervisely_operator.remote.ownership import Claimant, Ownership

SERVER = "https://sly.example.com"
TASK = 42


@dataclass
class Servers:
    """Which server each credentials Secret reaches (None: the operator's own, SERVER)."""

    by_secret: dict[str, str | None] = field(default_factory=dict)
    """A Secret's server; None: the Secret cannot be read."""

    async def client_for(
        self, *, namespace: str, secret_ref: SecretReference | None, deleting: bool = False
    ) -> "FakeClient":
        if secret_ref is None:
            return FakeClient(SERVER)
        server = self.by_secret[secret_ref.name]
        if server is None:
            raise CredentialsUnavailable("SecretNotFound", "gone")
        return FakeClient(server)

    def retired(self, client: object) -> bool:
        return False

    async def close_retired(self, client: object) -> None:
        return None


@dataclass(frozen=True)
class FakeClient:
    server: str


class Resource:
    """A claimant that counts how often it was woken."""

    def __init__(self, name: str) -> None:
        self.ref = ResourceRef(namespace="ml", name=name, uid=f"uid-{name}")
        self.woken = 0
        self.claimant = Claimant(key=self, resource=self.ref, wake=self._wake)

    def _wake(self) -> None:
        self.woken += 1


Index = dict[int, list[RecordedTask]]


def ownership(index: Index | None = None, servers: Servers | None = None) -> Ownership:
    return Ownership(recorded=index if index is not None else {}, clients=servers or Servers())


def recorded(resource: Resource, secret: str | None = None) -> RecordedTask:
    credentials = SecretReference(name=secret) if secret is not None else None
    return RecordedTask(resource=resource.ref, credentials=credentials)


async def ask(
    owners: Ownership,
    resource: Resource,
    *,
    adopting: int | None = TASK,
    records: int | None = None,
) -> ResourceRef | None:
    return await owners.owner_of(
        resource.claimant, server=SERVER, adopting=adopting, records=records
    )


async def test_of_two_resources_asking_for_one_free_task_the_first_gets_it() -> None:
    owners, first, second = ownership(), Resource("first"), Resource("second")

    assert await ask(owners, first) is None, "the first one asking holds it"
    assert await ask(owners, second) == first.ref, "the other is refused, naming the holder"
    assert await ask(owners, first) is None, "asking again changes nothing"


async def test_a_refused_resource_never_holds_the_task() -> None:
    """The defect of old: each refused resource counted as the other's owner."""
    owners, first, second = ownership(), Resource("first"), Resource("second")
    await ask(owners, first)
    await ask(owners, second)

    owners.release(first.claimant)

    third = Resource("third")
    assert await ask(owners, third) is None, "the refused one held nothing"


async def test_the_refused_resource_is_woken_when_the_holder_goes_and_then_gets_it() -> None:
    owners, first, second = ownership(), Resource("first"), Resource("second")
    await ask(owners, first)
    await ask(owners, second)
    assert second.woken == 0

    owners.release(first.claimant)

    assert second.woken == 1, "it looks again without waiting for the resync"
    assert await ask(owners, second) is None


async def test_the_holder_keeps_the_task_while_its_status_records_it() -> None:
    owners, first, second = ownership(), Resource("first"), Resource("second")
    await ask(owners, first)

    # Its status records the task now, and it no longer asks to adopt it.
    assert await ask(owners, first, adopting=None, records=TASK) is None
    assert await ask(owners, second) == first.ref


async def test_a_holder_suspended_out_of_the_task_lets_it_go_and_wakes_the_waiting() -> None:
    owners, first, second = ownership(), Resource("first"), Resource("second")
    await ask(owners, first)
    await ask(owners, second)

    await ask(owners, first, adopting=None, records=None)  # its task was retired

    assert second.woken == 1
    assert await ask(owners, second) is None


async def test_a_recorded_task_belongs_to_its_resource_even_with_no_pass_yet() -> None:
    """After a restart, or while the owner is paused: the index says whose it is."""
    owner, adopter = Resource("owner"), Resource("adopter")
    owners = ownership({TASK: [recorded(owner)]})

    assert await ask(owners, adopter) == owner.ref
    assert await ask(owners, owner, adopting=None, records=TASK) is None


async def test_the_asker_s_own_record_does_not_refuse_it() -> None:
    owner = Resource("owner")
    owners = ownership({TASK: [recorded(owner)]})

    assert await ask(owners, owner) is None


@pytest.mark.parametrize(
    ("server", "refused"),
    [
        pytest.param(SERVER, True, id="another token for the same server"),
        pytest.param("https://other.example.com", False, id="another server"),
        pytest.param(None, True, id="credentials that cannot be read"),
    ],
)
async def test_ownership_holds_across_credentials_of_one_server(
    server: str | None, refused: bool
) -> None:
    owner, adopter = Resource("owner"), Resource("adopter")
    owners = ownership({TASK: [recorded(owner, secret="theirs")]}, Servers({"theirs": server}))

    assert (await ask(owners, adopter) == owner.ref) is refused


async def test_a_change_of_the_owner_wakes_who_waits_for_it() -> None:
    owner, adopter = Resource("owner"), Resource("adopter")
    index: Index = {TASK: [recorded(owner)]}
    owners = ownership(index)
    await ask(owners, adopter)

    del index[TASK]  # the owner's status no longer records it (deleted, or the task retired)
    owners.changed(owner.ref.uid)

    assert adopter.woken == 1
    assert await ask(owners, adopter) is None
    owners.changed(owner.ref.uid)
    assert adopter.woken == 1, "woken once: it waits for nobody now"


async def test_a_released_waiter_is_never_woken() -> None:
    owners, first, second = ownership(), Resource("first"), Resource("second")
    await ask(owners, first)
    await ask(owners, second)

    owners.release(second.claimant)
    owners.release(first.claimant)

    assert second.woken == 0
