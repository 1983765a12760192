"""The paging helper: request bodies page by page, stop rules, and the total check."""

from typing import Any

import pytest

from supervisely_operator.supervisely import PaginationMismatch, ProtocolError
from supervisely_operator.supervisely.pagination import collect_pages


class FakeList:
    """Serves ``items`` in pages of ``per_page`` and records every request body."""

    def __init__(self, items: list[int], *, per_page: int, total: int | None = None) -> None:
        self.items = items
        self.per_page = per_page
        self.total = len(items) if total is None else total
        self.bodies: list[dict[str, Any]] = []

    async def __call__(self, body: dict[str, Any]) -> object:
        self.bodies.append(body)
        page = body.get("page", 1)
        start = (page - 1) * self.per_page
        chunk = self.items[start : start + self.per_page]
        pages = -(-len(self.items) // self.per_page)
        return {
            "total": self.total,
            "perPage": self.per_page,
            "pagesCount": pages,
            "entities": [{"id": item} for item in chunk],
        }


async def test_single_page_is_one_request_without_page_fields() -> None:
    fetch = FakeList([1, 2, 3], per_page=20)
    entities = await collect_pages(method="tasks.list", body={"workspaceId": 1}, fetch=fetch)
    assert [e["id"] for e in entities] == [1, 2, 3]
    assert fetch.bodies == [{"workspaceId": 1, "sort": "id", "sort_order": "asc"}]


async def test_later_pages_resend_the_body_with_page_and_per_page() -> None:
    fetch = FakeList(list(range(1, 8)), per_page=3)
    entities = await collect_pages(method="tasks.list", body={"filter": []}, fetch=fetch)
    assert [e["id"] for e in entities] == list(range(1, 8))
    base = {"filter": [], "sort": "id", "sort_order": "asc"}
    assert fetch.bodies == [
        base,
        {**base, "page": 2, "per_page": 3},
        {**base, "page": 3, "per_page": 3},
    ]


async def test_caller_sort_is_kept_and_no_sort_order_is_added() -> None:
    fetch = FakeList([1], per_page=20)
    await collect_pages(method="apps.tasks.list", body={"sort": "startedAt"}, fetch=fetch)
    assert fetch.bodies == [{"sort": "startedAt"}]


async def test_empty_list_is_accepted() -> None:
    async def fetch(body: dict[str, Any]) -> object:
        return {"total": 0, "perPage": 20, "pagesCount": 0, "entities": []}

    assert await collect_pages(method="tasks.list", body={}, fetch=fetch) == []


async def test_fewer_items_than_total_is_a_pagination_mismatch() -> None:
    fetch = FakeList([1, 2, 3, 4], per_page=2, total=5)
    with pytest.raises(PaginationMismatch) as caught:
        await collect_pages(method="tasks.list", body={}, fetch=fetch)
    assert (caught.value.total, caught.value.collected, caught.value.method) == (5, 4, "tasks.list")


async def test_more_items_than_total_is_a_pagination_mismatch() -> None:
    fetch = FakeList([1, 2, 3], per_page=20, total=2)
    with pytest.raises(PaginationMismatch):
        await collect_pages(method="tasks.list", body={}, fetch=fetch)


@pytest.mark.parametrize(
    "reply",
    [
        [],
        {"total": 1, "entities": [{"id": 1}]},
        {"total": 1, "perPage": 20, "pagesCount": 1, "entities": [1]},
        {"total": -1, "perPage": 20, "pagesCount": 1, "entities": []},
        {"total": 2, "perPage": 0, "pagesCount": 2, "entities": [{"id": 1}]},
    ],
    ids=["array", "missing-keys", "non-object-entity", "negative-total", "zero-per-page"],
)
async def test_malformed_pages_are_protocol_errors(reply: object) -> None:
    async def fetch(body: dict[str, Any]) -> object:
        return reply

    with pytest.raises(ProtocolError):
        await collect_pages(method="tasks.list", body={}, fetch=fetch)
