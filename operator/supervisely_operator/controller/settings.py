"""Operator-wide settings, read from the environment (the Helm chart sets them there).

Credentials use the Supervisely SDK's own variable names (``SERVER_ADDRESS``, ``API_TOKEN``), so
an existing ``.env`` of a Supervisely app works unchanged; everything else is prefixed with
``SUPERVISELY_OPERATOR_``. This is the one source of the operator's timing defaults: the
decision's :class:`Timing` and the poller's :class:`PollTiming` have none of their own and are
made from here; where a setting is handed to the Supervisely client, its default is the
client's own.
"""

from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from supervisely_operator.reconcile.situation import Timing
from supervisely_operator.remote import PollTiming
from supervisely_operator.supervisely import ClientSettings

_CLIENT = ClientSettings.model_fields


class OperatorSettings(BaseSettings):
    """What the operator needs to know before it watches its first resource."""

    model_config = SettingsConfigDict(env_prefix="SUPERVISELY_OPERATOR_", frozen=True)

    server_address: str | None = Field(
        default=None, validation_alias=AliasChoices("SERVER_ADDRESS", "server_address")
    )
    """Supervisely server for resources without credentialsSecretRef."""

    api_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("API_TOKEN", "api_token")
    )
    """API token for that server; never logged."""

    namespaces: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Namespaces to watch (comma-separated); empty: all namespaces."""

    peering: str | None = None
    """kopf peering name for high availability (several replicas, one active); unset: standalone."""

    peering_lifetime: int = Field(default=10, ge=2)
    """Seconds a claim to act lives: a standby takes over this long after the active replica
    last renewed it (and kopf's peering record counts as alive as long)."""

    peering_renew_deadline: float = Field(default=7.0, gt=0)
    """Seconds the active replica acts after its last successful renewal; shorter than
    peering_lifetime, so it has stopped before a standby may take over."""

    peering_retry_period: float = Field(default=2.0, gt=0)
    """Seconds between renewals of the claim, and between a standby's looks at it."""

    watch_server_timeout: int = Field(default=30, ge=1)
    """Seconds the API server keeps each watch request open; then it ends it and the operator
    watches again from the last resourceVersion (one cheap request, see docs/operations.md)."""

    watch_inactivity_timeout: float = Field(default=40.0, gt=0)
    """Seconds a watch stream may deliver nothing before it is given up as silent and opened
    again, with a WARNING: above watch_server_timeout, since a healthy stream ends by then."""

    poll_interval: float = Field(default=10.0, gt=0)
    """Seconds between lists of a workspace's live tasks (one list serves all its resources)."""

    transition_poll_interval: float = Field(default=2.0, gt=0)
    """Seconds between lists while a task of the workspace starts or stops."""

    idle_poll_interval: float = Field(default=30.0, gt=0)
    """The longest gap between lists: the interval stretches towards it while nothing changes."""

    list_page_size: int = Field(default=500, ge=1)
    """Tasks asked per page of tasks.list (the server may answer with smaller pages)."""

    lookup_cache_seconds: float = Field(default=10.0, ge=0)
    """How long a slug's module id and an agent's status are reused before asking again."""

    resync_interval: float = Field(default=300.0, gt=0)
    """Seconds after which a resource is reconciled again even if nothing woke it (a safety net:
    remote changes and spec edits wake it at once)."""

    start_grace: float = Field(default=120.0, ge=0)
    """Seconds a start whose reply was lost is looked for by its marker before it is made again.
    At least twice request_timeout: a server may carry a start out after the client gave up."""

    outage_min_delay: float = Field(default=2.0, gt=0)
    """Seconds before a resource tries Supervisely again after it could not be asked; later
    tries wait as long as the outage has lasted."""

    outage_max_delay: float = Field(default=300.0, gt=0)
    """The longest wait between tries while Supervisely stays unavailable."""

    max_concurrent_passes: int = Field(default=16, ge=1)
    """Reconcile passes running at once across all resources (bounds calls to Supervisely)."""

    kube_threads: int = Field(default=8, ge=1)
    """Threads for the blocking Kubernetes client (status writes, Secrets, deletes)."""

    log_tail_lines: int = Field(default=20, ge=0)
    """Lines of a failed task's log copied into status.lastError."""

    secret_cache_seconds: float = Field(default=30.0, ge=0)
    """How long a credentials Secret is reused before it is read again."""

    request_timeout: float = Field(default=_CLIENT["read_timeout"].default, gt=0)
    """Seconds to wait for each Supervisely reply."""

    request_attempts: int = Field(default=4, ge=1)
    """Attempts per Supervisely call before a pass reports it unavailable."""

    max_concurrent_requests: int = Field(default=_CLIENT["max_concurrent_requests"].default, ge=1)
    """Requests in flight to one Supervisely server at most, across all its tokens."""

    requests_per_second: float = Field(default=_CLIENT["requests_per_second"].default, gt=0)
    """Sustained requests per second to one Supervisely server, retries included."""

    request_burst: int = Field(default=_CLIENT["request_burst"].default, ge=1)
    """Requests to one Supervisely server let through at once after a quiet spell."""

    liveness_endpoint: str | None = None
    """kopf's health endpoint, e.g. http://0.0.0.0:8080/healthz."""

    metrics_port: int = Field(default=9090, ge=0, le=65535)
    """Port of the Prometheus /metrics endpoint; 0 turns it off."""

    metrics_per_resource: bool = False
    """Also export one series per resource (its phase and restarts, labelled with its name): a
    label per object, so off by default; fine for a few hundred resources."""

    log_format: Literal["plain", "full", "json"] = "full"
    """Log line format; json for log collectors. Lines about a resource name it either way."""

    def timing(self) -> Timing:
        """The decision's timings. Remote changes wake a resource, so its own re-checks are only
        a safety net: the resync interval, or a tenth of it while a task starts or stops."""
        return Timing(
            resync_interval=self.resync_interval,
            transition_recheck=max(self.resync_interval / 10, self.transition_poll_interval),
            start_grace=self.start_grace,
            outage_min_delay=self.outage_min_delay,
            outage_max_delay=max(self.outage_max_delay, self.outage_min_delay),
        )

    def poll_timing(self) -> PollTiming:
        """How often each workspace is listed."""
        return PollTiming(
            interval=self.poll_interval,
            transition_interval=self.transition_poll_interval,
            idle_interval=max(self.idle_poll_interval, self.poll_interval),
            per_page=self.list_page_size,
        )

    def client_settings(self) -> ClientSettings:
        """Settings of every Supervisely client the operator makes."""
        return ClientSettings(
            read_timeout=self.request_timeout,
            max_attempts=self.request_attempts,
            max_concurrent_requests=self.max_concurrent_requests,
            requests_per_second=self.requests_per_second,
            request_burst=self.request_burst,
        )

    @model_validator(mode="after")
    def _only_a_silent_stream_is_given_up(self) -> "OperatorSettings":
        if self.watch_inactivity_timeout <= self.watch_server_timeout:
            raise ValueError(
                f"watch_inactivity_timeout ({self.watch_inactivity_timeout:g} s) must be longer "
                f"than watch_server_timeout ({self.watch_server_timeout} s): the API server "
                "ends a healthy stream by then, and only a silent one should be given up"
            )
        return self

    @model_validator(mode="after")
    def _a_holder_stops_before_it_may_be_replaced(self) -> "OperatorSettings":
        if not self.peering_retry_period < self.peering_renew_deadline < self.peering_lifetime:
            raise ValueError(
                f"peering_renew_deadline ({self.peering_renew_deadline:g} s) must lie between "
                f"peering_retry_period ({self.peering_retry_period:g} s) and peering_lifetime "
                f"({self.peering_lifetime} s): the active replica must stop acting before a "
                "standby may take over, and get a chance to renew before it must stop"
            )
        return self

    @model_validator(mode="after")
    def _grace_outlasts_a_held_start(self) -> "OperatorSettings":
        if self.start_grace < 2 * self.request_timeout:
            raise ValueError(
                f"start_grace ({self.start_grace:g} s) must be at least twice request_timeout "
                f"({self.request_timeout:g} s): a start the server carries out after the client "
                "gave up would otherwise be made a second time"
            )
        return self

    @field_validator("namespaces", mode="before")
    @classmethod
    def _split_namespaces(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
