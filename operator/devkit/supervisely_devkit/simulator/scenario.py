"""The scenario: everything about a simulator run that a test, the demo or a benchmark may vary.

A scenario is a YAML or JSON file (or a ``Scenario`` built in Python) that sets phase durations,
outcomes and error probabilities per ecosystem module, adds teams, workspaces, agents and modules
to the default catalogue, and arms faults. It never holds the API token: scenario files are meant
to be committed, the token is passed on the command line, the environment or in Python.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    ValidationError,
    model_validator,
)

from supervisely_devkit.simulator.faults import FaultSpec


class ScenarioError(ValueError):
    """A scenario file that cannot be read or does not validate."""


class Outcome(StrEnum):
    """How an app session ends when nobody stops it."""

    FINISH = "finish"
    """runs for ``durations.running`` seconds after ``started``, then ``finished``"""
    ERROR = "error"
    """runs for ``durations.running`` seconds after ``started``, then ``error``"""
    SERVE = "serve"
    """stays ``started`` (a serving app) until stopped"""


class _Strict(BaseModel):
    # No inf/nan: a phase that never ends is a very long one (1e9 s), which the timeline's
    # arithmetic and its millisecond stamps can still handle.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class PhaseDurations(_Strict):
    """Seconds spent in each phase; the defaults make a demo watchable."""

    queued: float = Field(1.0, ge=0, description="queued -> consumed")
    consumed: float = Field(1.5, ge=0, description="consumed -> started")
    running: float = Field(3.0, ge=0, description="started -> finished/error (not for serve)")
    terminating: float = Field(1.0, ge=0, description="terminating -> stopped after tasks.stop")
    ready_delay: float = Field(2.0, ge=0, description="started -> is_ready answers ready")

    @classmethod
    def uniform(cls, seconds: float) -> PhaseDurations:
        """Every phase the same length: handy for fast tests."""
        return cls(
            queued=seconds,
            consumed=seconds,
            running=seconds,
            terminating=seconds,
            ready_delay=seconds,
        )


class PhaseDurationsOverride(_Strict):
    """Per-module changes to the scenario-wide durations; unset fields keep those."""

    queued: float | None = Field(None, ge=0)
    consumed: float | None = Field(None, ge=0)
    running: float | None = Field(None, ge=0)
    terminating: float | None = Field(None, ge=0)
    ready_delay: float | None = Field(None, ge=0)

    def apply_to(self, base: PhaseDurations) -> PhaseDurations:
        """``base`` with this override's set fields replaced."""
        return base.model_copy(update=self.model_dump(exclude_none=True))


class LinkKind(StrEnum):
    """The ``set_output_*`` call a published Team Files link imitates."""

    DIRECTORY = "directory"
    """``set_output_directory``"""
    FILE = "file"
    """``set_output_file_download``"""
    ARCHIVE = "archive"
    """``set_output_archive``"""
    REPORT = "report"
    """``set_output_report``"""


class ProjectOutputSpec(_Strict):
    """A project the app publishes (``set_output_project``)."""

    id: int = Field(ge=1)
    name: str


class LinkOutputSpec(_Strict):
    """A Team Files directory or file the app publishes."""

    kind: LinkKind = LinkKind.DIRECTORY
    title: str = Field(
        min_length=1,
        description="the directory's path or the file's name ({task_id}: the task's id)",
    )
    url: str | None = Field(
        None, description="its link; default /files/<task id>, as FileApi.get_url makes one"
    )


class OutputsSpec(_Strict):
    """What a module's app publishes by itself, as its ``set_output_*`` calls would: when a
    finishing app finishes, or when a serving app becomes ready."""

    project: ProjectOutputSpec | None = None
    link: LinkOutputSpec | None = None
    experiment: dict[str, Any] | None = Field(
        None,
        description=(
            "set_output_experiment's experiment_info (task_id defaults to the task's; "
            "{task_id} in a string value is replaced by it)"
        ),
    )
    text: str | None = Field(None, description="set_output_text's title")

    @model_validator(mode="after")
    def _one_general(self) -> Self:
        if self.link is not None and self.text is not None:
            raise ValueError("link and text are both the SDK's 'general' output: pick one")
        return self


class ModuleSpec(_Strict):
    """An ecosystem module to add, or the behaviour of a default one (matched by id or slug)."""

    id: int | None = Field(None, ge=1)
    slug: str | None = None
    name: str | None = None
    outcome: Outcome | None = None
    durations: PhaseDurationsOverride = PhaseDurationsOverride()
    error_probability: float | None = Field(
        None, ge=0, le=1, description="chance that an attempt of a finish/serve app errors"
    )
    error_message: str | None = None
    max_restarts: int | None = Field(
        None, ge=0, description="re-queues after an error with restartPolicy on_error"
    )
    versions: list[str] | None = Field(None, description="releases, newest first")
    categories: list[str] | None = None
    outputs: OutputsSpec | None = Field(
        None, description="published when the app finishes, or when a serving app is ready"
    )

    @model_validator(mode="after")
    def _identified(self) -> Self:
        if self.id is None and self.slug is None:
            raise ValueError("a module needs an id or a slug")
        return self


class TeamSpec(_Strict):
    """A team to add (or replace, by id)."""

    id: int = Field(ge=1)
    name: str
    description: str = ""


class WorkspaceSpec(_Strict):
    """A workspace to add (or replace, by id)."""

    id: int = Field(ge=1)
    name: str
    team_id: int = Field(1, ge=1)
    description: str = ""


class AgentSpec(_Strict):
    """An agent to add (or replace, by id)."""

    id: int = Field(ge=1)
    name: str
    team_id: int = Field(1, ge=1)
    status: Literal["running", "waiting"] = "running"
    gpu: bool = False


class UserSpec(_Strict):
    """The user the API token belongs to."""

    id: int = Field(1, ge=1)
    login: str = "sim-user"


class Scenario(_Strict):
    """Everything configurable about a simulator run."""

    seed: int = Field(0, description="seeds task outcomes and fault probabilities")
    page_size: int = Field(5, ge=1, description="perPage when a list request has no per_page")
    max_page_size: int = Field(500, ge=1, description="larger per_page values are clamped")
    log_limit: int = Field(100, ge=1, description="entries per tasks.log.download by default")
    max_log_limit: int = Field(1000, ge=1, description="larger limit values are clamped")
    first_task_id: int = Field(1001, ge=1, description="id of the first task created")
    instance_version: str = Field(
        "6.18.3", description="instance.version; SDK 6.74.51 warns below 6.18.3"
    )
    reject_unknown_keys: bool = Field(
        False, description="400 on tasks.run.app keys the SDK never sends"
    )
    max_request_bytes: int = Field(
        1024 * 1024,
        ge=1,
        description="a larger request body gets the proxy's 413 (nginx's client_max_body_size)",
    )
    durations: PhaseDurations = PhaseDurations()
    latency: dict[str, NonNegativeFloat] = Field(
        default_factory=dict, description="seconds added per method name, '*' for all"
    )
    default_catalogue: bool = Field(True, description="start from the documented catalogue")
    user: UserSpec = UserSpec()
    teams: list[TeamSpec] = Field(default_factory=list)
    workspaces: list[WorkspaceSpec] = Field(default_factory=list)
    agents: list[AgentSpec] = Field(default_factory=list)
    modules: list[ModuleSpec] = Field(default_factory=list)
    faults: list[FaultSpec] = Field(default_factory=list)

    @classmethod
    def fast(cls, seconds: float = 0.05, **changes: object) -> Scenario:
        """A scenario whose phases all last ``seconds``: for tests on a real clock."""
        return cls.model_validate({"durations": PhaseDurations.uniform(seconds), **changes})

    @classmethod
    def from_file(cls, path: Path) -> Scenario:
        """Read a YAML or JSON scenario file (JSON is valid YAML)."""
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ScenarioError(f"cannot read scenario {path}: {exc}") from exc
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ScenarioError(f"scenario {path} must be a mapping at the top level")
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise ScenarioError(f"invalid scenario {path}:\n{exc}") from exc
