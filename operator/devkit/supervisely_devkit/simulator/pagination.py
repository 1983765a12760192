"""Filtering, sorting and paging of list methods, exactly as section 2 of the API doc.

The reply always carries ``total``, ``perPage``, ``pagesCount`` and ``entities``; ``total`` counts
every match, so the entities of all pages add up to it, which the SDK checks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from supervisely_devkit.simulator.payloads import FilterItem, ListRequest
from supervisely_devkit.simulator.scenario import Scenario
from supervisely_devkit.simulator.wire import ApiReply, JsonObject, validation_error

_MISSING = object()


def field_value(entity: JsonObject, path: str) -> Any:
    """The value at a dotted path (``meta.app.id``), or a marker when absent."""
    value: Any = entity
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def matches(entity: JsonObject, item: FilterItem) -> bool:
    """Whether an entity passes one ``=``/``in`` filter item."""
    value = field_value(entity, item.field)
    if value is _MISSING:
        return False
    if item.operator == "=":
        return bool(value == item.value)
    if not isinstance(item.value, list):
        raise validation_error(f'"filter": operator "in" needs a list value for {item.field!r}')
    return value in item.value


def _sort_key(value: Any) -> tuple[int, float, str]:
    """Numbers before strings before anything else; missing values last."""
    if value is _MISSING or value is None:
        return (3, 0.0, "")
    if isinstance(value, bool | int | float):
        return (0, float(value), "")
    if isinstance(value, str):
        return (1, 0.0, value)
    return (2, 0.0, repr(value))


def select(entities: Sequence[JsonObject], request: ListRequest) -> list[JsonObject]:
    """Filtered and sorted entities (ascending by id unless ``sort`` says otherwise)."""
    kept = [e for e in entities if all(matches(e, item) for item in request.filter)]
    kept.sort(key=lambda e: _sort_key(field_value(e, "id")))
    field = request.sort or "id"
    kept.sort(key=lambda e: _sort_key(field_value(e, field)), reverse=request.sort_order == "desc")
    return kept


def page_reply(
    entities: Sequence[JsonObject], request: ListRequest, *, scenario: Scenario
) -> ApiReply:
    """The reply of a list method: filter, sort, then cut out the requested page."""
    return ApiReply(
        body=page_of(
            select(entities, request),
            request=request,
            default_size=scenario.page_size,
            max_size=scenario.max_page_size,
        )
    )


def page_of(
    entities: Sequence[JsonObject], *, request: ListRequest, default_size: int, max_size: int
) -> JsonObject:
    """One page of already selected entities, with the four keys the SDK reads."""
    per_page = min(request.per_page or default_size, max_size)
    page = request.page or 1
    total = len(entities)
    start = (page - 1) * per_page
    return {
        "total": total,
        "perPage": per_page,
        "pagesCount": math.ceil(total / per_page),
        "entities": list(entities[start : start + per_page]),
    }
