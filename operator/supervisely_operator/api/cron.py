"""SuperviselyCronTask: a SuperviselyTask made on a schedule, as batch/v1 CronJob makes Jobs.

The spec follows CronJob field for field where a remote task allows (schedule, timeZone,
suspend, concurrencyPolicy, startingDeadlineSeconds, the two history limits), with a template
that is a whole SuperviselyTask spec. Each run is a SuperviselyTask of its own, named after the
tick it was made for, so a run is made once per tick whatever crashes or replicas do.
"""

import enum
import zoneinfo
from datetime import datetime
from typing import Annotated, Final

from cronsim import CronSim, CronSimError
from pydantic import AfterValidator, Field

from supervisely_operator.api.base import CrdModel, FieldRule, beyond_schema
from supervisely_operator.api.spec import SuperviselyTaskSpec
from supervisely_operator.api.status import Condition

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
"""The macros CronJob accepts, as the five fields they stand for."""

#: Five fields of cron's characters (names, ranges, lists, steps), or one macro.
SCHEDULE_SHAPE = (
    r"(@(yearly|annually|monthly|weekly|daily|midnight|hourly))"
    r"|([0-9A-Za-z*?,/-]+[ ]+){4}[0-9A-Za-z*?,/-]+"
)


def cron_expression(schedule: str) -> str:
    """The five fields a schedule stands for (a macro spelled out)."""
    return MACROS.get(schedule, schedule)


def _parses(schedule: str) -> str:
    """The schedule as cron reads it, refused in the parser's own words."""
    try:
        CronSim(cron_expression(schedule), datetime(2000, 1, 1))
    except CronSimError as error:
        raise beyond_schema(f"schedule {schedule!r} is not a cron schedule: {error}") from None
    return schedule


def _is_time_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return name != "Local"


Schedule = Annotated[
    str,
    Field(min_length=1, max_length=128),
    FieldRule.full_match(
        SCHEDULE_SHAPE,
        "schedule must be five cron fields (minute hour day-of-month month day-of-week), or "
        "one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly",
    ),
    AfterValidator(_parses),
]

TimeZone = Annotated[
    str,
    Field(min_length=1, max_length=64),
    # CEL's timestamp functions take a time zone name and fail on an unknown one: that failure
    # is the refusal, in the API server's words ("unknown time zone Mars/Olympus").
    FieldRule(
        cel="self != 'Local' && timestamp('2000-01-01T00:00:00Z').getHours(self) >= 0",
        message="timeZone must be an IANA time zone name, e.g. Europe/Berlin or Etc/UTC",
        holds=_is_time_zone,
    ),
]


class ConcurrencyPolicy(enum.StrEnum):
    """What a tick does while an earlier run still lives (CronJob's words)."""

    ALLOW = "Allow"
    FORBID = "Forbid"
    REPLACE = "Replace"


class TemplateMetadata(CrdModel):
    """Labels and annotations every run gets."""

    labels: dict[str, str] = Field(default_factory=dict)
    """Labels of each run."""

    annotations: dict[str, str] = Field(default_factory=dict)
    """Annotations of each run."""


class TaskTemplate(CrdModel):
    """The SuperviselyTask each run is made from."""

    metadata: TemplateMetadata = Field(default_factory=TemplateMetadata)
    """Labels and annotations of each run."""

    spec: SuperviselyTaskSpec
    """The spec of each run: any SuperviselyTask spec (paramsFrom naming a fixed source too)."""


class SuperviselyCronTaskSpec(CrdModel):
    """When to run the task, and how many runs to keep."""

    schedule: Schedule
    """Cron schedule, in timeZone: five fields or a macro such as @hourly."""

    time_zone: TimeZone | None = None
    """IANA time zone the schedule is read in, e.g. Europe/Berlin. Unset: UTC."""

    suspend: bool = False
    """Make no runs on the schedule while true (runs that live go on; a trigger still makes
    one)."""

    concurrency_policy: ConcurrencyPolicy = ConcurrencyPolicy.ALLOW
    """A tick while a run lives: Allow (run beside it), Forbid (skip the tick) or Replace
    (delete the live run, which stops its task, then run)."""

    starting_deadline_seconds: int | None = Field(default=None, ge=1)
    """A tick is run at most this late (after an operator restart, say); later it is missed.
    Unset: no deadline (still at most one late run, for the latest tick)."""

    successful_tasks_history_limit: int = Field(default=3, ge=0, le=100)
    """Succeeded runs to keep; older ones are deleted."""

    failed_tasks_history_limit: int = Field(default=1, ge=0, le=100)
    """Failed runs to keep; older ones are deleted."""

    task_template: TaskTemplate
    """The SuperviselyTask each run is made from."""


class RunReference(CrdModel):
    """A run that lives."""

    name: str = Field(max_length=253)
    """Name of the SuperviselyTask."""

    uid: str = Field(max_length=128)
    """Its uid."""


ACTIVE_LISTED: Final = 100
"""Live runs named in the status, at most: an object stays small whatever concurrency does."""
TRIGGER_HANDLED_LIMIT: Final = 256


class SuperviselyCronTaskStatus(CrdModel):
    """What the operator last did for the schedule."""

    observed_generation: int | None = Field(default=None, ge=0)
    """metadata.generation of the spec the operator last acted on."""

    active: list[RunReference] = Field(default_factory=list, max_length=ACTIVE_LISTED)
    """Runs that have not finished yet (the first 100 by name; activeCount counts them all)."""

    active_count: int = Field(default=0, ge=0)
    """How many runs live (the ACTIVE column)."""

    last_schedule_time: datetime | None = None
    """The tick the last scheduled run was made for."""

    last_skipped_time: datetime | None = None
    """The last tick that made no run: skipped under Forbid, or missed past its deadline."""

    last_successful_time: datetime | None = None
    """When the last run that succeeded finished."""

    last_failed_time: datetime | None = None
    """When the last run that failed finished."""

    next_schedule_time: datetime | None = None
    """The next tick (none while suspended)."""

    trigger_handled: str | None = Field(default=None, max_length=TRIGGER_HANDLED_LIMIT)
    """The last value of supervisely.com/trigger-requested-at the operator made a run for (a
    longer value's sha256 digest)."""

    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=8,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    """Ready: whether ticks make runs (False: Suspended, or InvalidSpec with the reason)."""


class SuperviselyCronTask(CrdModel):
    """A SuperviselyTask made on a cron schedule, in a time zone, as batch/v1 CronJob makes
    Jobs: one run per tick, at most one late run after downtime, history trimmed to its limits.
    """

    api_version: str
    kind: str
    metadata: dict[str, object] = Field(default_factory=dict)
    spec: SuperviselyCronTaskSpec
    status: SuperviselyCronTaskStatus = Field(default_factory=SuperviselyCronTaskStatus)
