"""Calls, replies and errors in the Supervisely wire format.

Every error the simulator emits goes through ``ApiError`` so that error bodies always have the
``{"error": ..., "details": {"message": ...}}`` shape the SDK's ``Api.parse_error`` understands
(or the list form of ``details``, ``[{"message": ...}, ...]``, for body validation errors).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JsonObject = dict[str, Any]
"""A decoded JSON object (request body or reply)."""


@dataclass(frozen=True)
class MethodCall:
    """What a method handler gets: the decoded JSON body (POST) and the query string (GET)."""

    body: Any
    query: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ApiReply:
    """What a method handler answers: a status, a JSON body and optional extra headers."""

    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    """A non-200 answer in the platform's error shape."""

    def __init__(self, status: int, error: str, *messages: str, as_list: bool = False) -> None:
        super().__init__(f"{status} {error}: {'; '.join(messages)}")
        self.status = status
        self.error = error
        self.messages = messages
        self.as_list = as_list

    def reply(self) -> ApiReply:
        """The error as a wire reply."""
        details: Any
        if self.as_list:
            details = [{"message": message} for message in self.messages]
        else:
            details = {"message": "; ".join(self.messages)}
        return ApiReply(status=self.status, body={"error": self.error, "details": details})


def error_body(*, error: str, message: str) -> JsonObject:
    """``{"error": ..., "details": {"message": ...}}``."""
    return {"error": error, "details": {"message": message}}


def not_found(message: str) -> ApiError:
    """404 for an unknown id or slug."""
    return ApiError(404, "Not found", message)


def validation_error(*messages: str) -> ApiError:
    """400 with the list form of ``details``, as the API doc shows for body validation."""
    return ApiError(400, "Validation error", *messages, as_list=True)


def bad_request(message: str) -> ApiError:
    """400 for a well-formed request the platform refuses (e.g. an agent that is not running)."""
    return ApiError(400, "Bad request", message)


def unauthorized() -> ApiError:
    """Missing or wrong ``x-api-key`` (the real server's choice of 401 or 403 is unknown)."""
    return ApiError(401, "Unauthorized", "Invalid API token")
