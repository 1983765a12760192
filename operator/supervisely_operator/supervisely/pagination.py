"""Reading every page of a Supervisely list method, exactly as the SDK does.

One helper for every paginated call (``tasks.list``, ``ecosystem.list``, ...), so the paging rules
live in one place (``ModuleApiBase.get_list_all_pages``, section 2 of the API brief):

- add ``"sort": "id", "sort_order": "asc"`` when the body has no ``sort``;
- the first request carries no page fields;
- pages 2..``pagesCount`` resend the body plus ``page`` and ``per_page`` (``perPage`` of the
  first reply, snake_case on the wire);
- the items collected must number ``total``, otherwise the list changed while it was read (or
  the server is broken) and :class:`PaginationMismatch` is raised rather than returning a list
  that silently misses a task.
"""

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from supervisely_operator.supervisely.errors import PaginationMismatch, ProtocolError

FetchPage = Callable[[dict[str, Any]], Awaitable[object]]
"""Sends one list request body and returns the decoded JSON reply."""


class _Page(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    total: int = Field(ge=0)
    per_page: int = Field(alias="perPage", ge=0)
    pages_count: int = Field(alias="pagesCount", ge=0)
    entities: list[dict[str, Any]]


async def collect_pages(
    *,
    method: str,
    body: Mapping[str, Any],
    fetch: FetchPage,
    strict: bool = True,
) -> list[dict[str, Any]]:
    """Every entity of a paginated list, in server order.

    ``strict=False`` returns what was collected even when the count differs from ``total``,
    without duplicates: a list of live tasks filtered by status changes while it is read (a
    task that moves between pages is missed or seen twice). Only a caller that checks every
    absent item on its own may accept that.
    """
    request = dict(body)
    if "sort" not in request:
        request["sort"] = "id"
        request["sort_order"] = "asc"
    first = _parse_page(await fetch(request), method=method)
    entities = list(first.entities)
    done = first.pages_count <= 1 and len(entities) == first.total
    if not done:
        if first.pages_count > 1 and first.per_page < 1:
            raise ProtocolError(
                f"perPage is {first.per_page} with {first.pages_count} pages", method=method
            )
        for page in range(2, first.pages_count + 1):
            reply = await fetch({**request, "page": page, "per_page": first.per_page})
            entities.extend(_parse_page(reply, method=method).entities)
    if len(entities) != first.total:
        if strict:
            raise PaginationMismatch(method=method, total=first.total, collected=len(entities))
        seen: set[object] = set()
        unique = []
        for entity in entities:
            key = entity.get("id")
            if key is None or key not in seen:
                seen.add(key)
                unique.append(entity)
        return unique
    return entities


def _parse_page(reply: object, *, method: str) -> _Page:
    try:
        return _Page.model_validate(reply)
    except ValidationError as exc:
        problems = exc.error_count()
    # Outside the except block, so the ValidationError (which quotes the reply) is not chained.
    raise ProtocolError(
        f"not a page of results ({problems} problems; expected total, perPage, pagesCount, "
        "entities)",
        method=method,
    )
