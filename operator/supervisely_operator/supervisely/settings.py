"""Tuning knobs of the Supervisely client: timeouts, retries, backoff, limits and the pool.

The official SDK waits forever on its ``requests`` calls and retries ten times over about five
minutes. An operator handler must not block that long, so the defaults here are tighter: a few
seconds to connect, thirty to read, five attempts with capped exponential backoff. Each field
documents its unit, default and reason. The model is frozen so one settings object can be shared
by every client safely.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ClientSettings(BaseModel):
    """Immutable settings for one :class:`~supervisely_operator.supervisely.SuperviselyClient`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    connect_timeout: float = Field(
        default=5.0,
        gt=0,
        description="Seconds to open a TCP/TLS connection. Short: an unreachable server should "
        "fail fast and be retried, and a connect failure is always safe to retry.",
    )
    read_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds to wait for each chunk of the reply. tasks.run.app can take a few "
        "seconds on a busy instance; longer waits tie up an operator worker.",
    )
    write_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds to send each chunk of the request body.",
    )
    pool_timeout: float = Field(
        default=5.0,
        gt=0,
        description="Seconds to wait for a free pooled connection before giving up.",
    )
    readiness_timeout: float = Field(
        default=5.0,
        gt=0,
        description="Seconds to wait for an app's answer to is_ready (tasks.request.direct); "
        "the server is asked to give up as soon. Short: a probe is repeated every poll, and an "
        "app that takes longer to answer is not ready to serve.",
    )
    readiness_attempts: int = Field(
        default=2,
        ge=1,
        description="Requests per is_ready probe, the first one included. Few: the poller "
        "probes again on its next list anyway.",
    )
    max_attempts: int = Field(
        default=5,
        ge=1,
        description="Requests per call, the first one included. 1 disables retries.",
    )
    initial_backoff: float = Field(
        default=0.5,
        ge=0,
        description="Seconds; the backoff ceiling before retry n (0-based) is "
        "initial_backoff * 2**n, capped by max_backoff.",
    )
    max_backoff: float = Field(
        default=30.0,
        ge=0,
        description="Seconds; the longest single pause between attempts. Also the longest "
        "Retry-After the client will sleep; a longer one ends the retries and is reported "
        "on the Transient error for the caller to requeue.",
    )
    jitter: bool = Field(
        default=True,
        description="Full jitter: sleep a uniform random time in [0, ceiling] so that many "
        "operator replicas or resources do not retry in lockstep. Off only for tests.",
    )
    max_concurrent_requests: int = Field(
        default=32,
        ge=1,
        description="HTTP attempts in flight to one server at most (default 32), across every "
        "client of that server in the process, whatever its token. Thousands of resources share "
        "one Supervisely instance; this keeps a burst of reconcile passes from becoming a burst "
        "of requests.",
    )
    requests_per_second: float = Field(
        default=200.0,
        gt=0,
        description="Attempts per second to one server, retries included, shared like "
        "max_concurrent_requests (default 200): the sustained rate of a token bucket, so a "
        "restart polling every resource at once spreads its requests out.",
    )
    request_burst: int = Field(
        default=400,
        ge=1,
        description="Attempts the token bucket lets through at once after a quiet spell "
        "(default 400, two seconds at the default rate), so ordinary bursts are not slowed.",
    )
    max_connections: int = Field(
        default=32,
        ge=1,
        description="Connections one client keeps open to the server at most. Unless given it "
        "equals max_concurrent_requests, and it may not be smaller: an admitted request should "
        "find a connection rather than wait pool_timeout for one.",
    )
    max_keepalive_connections: int = Field(
        default=10,
        ge=0,
        description="Idle connections kept for reuse.",
    )
    keepalive_expiry: float = Field(
        default=5.0,
        ge=0,
        description="Seconds an idle pooled connection is kept. Short, so that a connection the "
        "server has already closed is rarely reused (that race makes a start ambiguous).",
    )

    @model_validator(mode="before")
    @classmethod
    def _connections_follow_concurrency(cls, data: Any) -> Any:
        if isinstance(data, dict) and "max_connections" not in data:
            default = cls.model_fields["max_concurrent_requests"].default
            return {**data, "max_connections": data.get("max_concurrent_requests", default)}
        return data

    @model_validator(mode="after")
    def _backoff_is_ordered(self) -> "ClientSettings":
        if self.initial_backoff > self.max_backoff:
            raise ValueError("initial_backoff must not exceed max_backoff")
        return self

    @model_validator(mode="after")
    def _pool_fits_concurrency(self) -> "ClientSettings":
        if self.max_connections < self.max_concurrent_requests:
            raise ValueError("max_connections must be at least max_concurrent_requests")
        return self
