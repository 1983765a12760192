"""Tuning knobs of the Supervisely client: timeouts, retries, backoff and the connection pool.

The official SDK waits forever on its ``requests`` calls and retries ten times over about five
minutes. An operator handler must not block that long, so the defaults here are tighter: a few
seconds to connect, thirty to read, five attempts with capped exponential backoff. Each field
documents its unit, default and reason. The model is frozen so one settings object can be shared
by every client safely.
"""

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
    max_connections: int = Field(
        default=20,
        ge=1,
        description="Connections open to the server at most, across all concurrent calls.",
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

    @model_validator(mode="after")
    def _backoff_is_ordered(self) -> "ClientSettings":
        if self.initial_backoff > self.max_backoff:
            raise ValueError("initial_backoff must not exceed max_backoff")
        return self
