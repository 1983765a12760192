"""Fault injection: make chosen API methods fail the way a real network and server do.

A fault can answer with an HTTP error (5xx, 429 with ``Retry-After``, or any 4xx), hold the reply
for a while (to outlast a client timeout) or drop the connection without an answer. Each fault
fires a fixed number of ``times``, with a ``probability`` drawn from a seeded RNG, or both, so a
run is reproducible. ``after_effect`` lets the method take effect first and only then spoils the
reply: the "task was created but the client never heard" case that idempotent clients must handle.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from http import HTTPStatus
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from supervisely_devkit.simulator.wire import ApiReply, error_body

ANY_METHOD = "*"


class FaultSpec(BaseModel):
    """One injected fault: from a scenario file, the Python API or ``POST /_sim/faults``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str = Field(ANY_METHOD, description="API method name, or '*' for every method")
    status: int | None = Field(None, ge=400, le=599, description="answer with this HTTP status")
    retry_after: int | None = Field(None, ge=0, description="seconds, sent as Retry-After")
    delay: float | None = Field(None, ge=0, description="seconds to hold the reply")
    drop: bool = Field(False, description="close the connection without an answer")
    times: int | None = Field(None, ge=1, description="fire this many times, then retire")
    probability: float | None = Field(None, ge=0, le=1, description="chance to fire per call")
    after_effect: bool = Field(False, description="let the method take effect, then fail")
    error: str | None = Field(None, description="the error body's 'error' text")
    message: str | None = Field(None, description="the error body's details.message")

    @model_validator(mode="after")
    def _has_an_effect(self) -> Self:
        if self.status is None and self.delay is None and not self.drop:
            raise ValueError("a fault needs at least one of status, delay or drop")
        if self.status is not None and self.drop:
            raise ValueError("a fault cannot both answer with a status and drop the connection")
        if self.retry_after is not None and self.status is None:
            raise ValueError("retry_after needs a status (usually 429)")
        return self

    def matches(self, method: str) -> bool:
        """Whether this fault applies to calls of ``method``."""
        return self.method in (ANY_METHOD, method)

    def describe(self) -> str:
        """A short label for the call record, e.g. ``status:503`` or ``delay:30+drop``."""
        parts = []
        if self.delay is not None:
            parts.append(f"delay:{self.delay:g}")
        if self.status is not None:
            parts.append(f"status:{self.status}")
        if self.drop:
            parts.append("drop")
        return "+".join(parts)

    def error_reply(self) -> ApiReply | None:
        """The reply that replaces the real one, or None if this fault does not answer itself."""
        if self.status is None:
            return None
        headers = {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}
        error = self.error or _reason(self.status)
        message = self.message or f"Injected fault: {self.status} {error}"
        return ApiReply(
            status=self.status, body=error_body(error=error, message=message), headers=headers
        )


@dataclass
class _ArmedFault:
    """A fault in force and how many more times it may fire (None: unbounded)."""

    fault_id: int
    spec: FaultSpec
    remaining: int | None


class FaultInjector:
    """The faults in force; picks the one (if any) that spoils the current call."""

    def __init__(self, *, rng: random.Random) -> None:
        self._rng = rng
        self._armed: list[_ArmedFault] = []
        self._next_id = 1

    def add(self, spec: FaultSpec) -> int:
        """Arm a fault and return its id."""
        fault_id = self._next_id
        self._next_id += 1
        self._armed.append(_ArmedFault(fault_id=fault_id, spec=spec, remaining=spec.times))
        return fault_id

    def clear(self) -> None:
        """Disarm every fault."""
        self._armed.clear()

    def armed(self) -> list[dict[str, object]]:
        """The faults in force, for ``GET /_sim/faults``."""
        return [
            {"id": armed.fault_id, "remaining": armed.remaining, **armed.spec.model_dump()}
            for armed in self._armed
        ]

    def pick(self, method: str) -> FaultSpec | None:
        """The first armed fault that fires for this call; its count goes down by one."""
        for armed in self._armed:
            if not armed.spec.matches(method):
                continue
            probability = armed.spec.probability
            if probability is not None and self._rng.random() >= probability:
                continue
            if armed.remaining is not None:
                armed.remaining -= 1
                if armed.remaining == 0:
                    self._armed.remove(armed)
            return armed.spec
        return None


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
