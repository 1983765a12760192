"""The simulated platform's fixed objects: teams, workspaces, agents, ecosystem modules, team apps.

The default catalogue (documented in docs/simulator.md) is what tests, the demo and examples rely
on; a scenario may add to it or replace entries by id. Everything here is immutable except an
agent's status, which tests toggle to exercise "agent not running", and the workspaces, which
tests that share one simulator add while it runs (one of their own each).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

from supervisely_devkit.simulator.scenario import (
    AgentSpec,
    LinkOutputSpec,
    ModuleSpec,
    Outcome,
    OutputsSpec,
    PhaseDurations,
    Scenario,
    ScenarioError,
    TeamSpec,
    UserSpec,
    WorkspaceSpec,
)
from supervisely_devkit.simulator.wire import JsonObject, bad_request, not_found

AgentStatus = Literal["running", "waiting"]
_Spec = TypeVar("_Spec", TeamSpec, WorkspaceSpec, AgentSpec)
_Item = TypeVar("_Item")

CATALOGUE_TIMESTAMP = "2024-01-15T09:30:00.000Z"
"""createdAt/updatedAt of every catalogue object: fixed so replies are reproducible."""

FIRST_TEAM_APP_ID = 201
DEFAULT_ERROR_MESSAGE = "RuntimeError: CUDA out of memory (simulated)"
DEFAULT_MAX_RESTARTS = 2


@dataclass(frozen=True)
class ModuleBehaviour:
    """How sessions of one module play out."""

    outcome: Outcome
    durations: PhaseDurations
    error_probability: float
    error_message: str
    max_restarts: int
    outputs: OutputsSpec | None


@dataclass(frozen=True)
class EcosystemModule:
    """An app in the ecosystem, addressed by ``moduleId`` or slug."""

    id: int
    slug: str
    name: str
    versions: tuple[str, ...]
    categories: tuple[str, ...]
    behaviour: ModuleBehaviour


@dataclass(frozen=True)
class TeamApp:
    """A module installed in a team (the deprecated ``appId`` of tasks.run.app)."""

    id: int
    team_id: int
    module_id: int


DEFAULT_TEAMS = (TeamSpec(id=1, name="Simulated team", description="default team"),)
DEFAULT_WORKSPACES = (
    WorkspaceSpec(id=1, name="Default workspace", team_id=1),
    WorkspaceSpec(id=2, name="Second workspace", team_id=1),
)
DEFAULT_AGENTS = (
    AgentSpec(id=1, name="sim-agent-1", team_id=1, status="running"),
    AgentSpec(id=2, name="sim-agent-2", team_id=1, status="waiting"),
)
TRAINING_OUTPUTS = OutputsSpec(
    link=LinkOutputSpec(title="/experiments/7_Sim lemons/{task_id}_YOLO/"),
    experiment={
        # Every field ExperimentInfo requires, so the SDK's readers of a finished training
        # (api.nn.utils.get_experiment_info_by_task_id) accept it.
        "experiment_name": "Sim lemons YOLO-S",
        "framework_name": "YOLO",
        "model_name": "YOLO-S",
        "task_type": "object detection",
        "project_id": 7,
        "model_files": {"config": "model_config.yml"},
        "model_meta": "model_meta.json",
        "checkpoints": ["checkpoints/best.pt", "checkpoints/last.pt"],
        "best_checkpoint": "best.pt",
        "hyperparameters": "hyperparameters.yaml",
        "artifacts_dir": "/experiments/7_Sim lemons/{task_id}_YOLO/",
        "evaluation_metrics": {"mAP": 0.72, "AP50": 0.91, "AP75": 0.78},
        "primary_metric": "mAP",
    },
)
"""What the default training module publishes when it finishes (a directory and its run)."""

DEFAULT_MODULES = (
    ModuleSpec(
        id=101,
        slug="supervisely-ecosystem/sim-train-finishes",
        name="Sim: train (finishes)",
        outcome=Outcome.FINISH,
        versions=["v1.2.0", "v1.1.0"],
        categories=["neural network", "train"],
        outputs=TRAINING_OUTPUTS,
    ),
    ModuleSpec(
        id=102,
        slug="supervisely-ecosystem/sim-train-fails",
        name="Sim: train (fails)",
        outcome=Outcome.ERROR,
        versions=["v0.9.1"],
        categories=["neural network", "train"],
    ),
    ModuleSpec(
        id=103,
        slug="supervisely-ecosystem/sim-serve-model",
        name="Sim: serve model",
        outcome=Outcome.SERVE,
        versions=["v2.0.3", "v2.0.2"],
        categories=["neural network", "serve"],
    ),
)


class Catalogue:
    """Lookup and JSON rendering of the platform's fixed objects."""

    def __init__(self, *, scenario: Scenario) -> None:
        base = scenario.default_catalogue
        self.user: UserSpec = scenario.user
        self.teams: dict[int, TeamSpec] = _by_id(
            [*(DEFAULT_TEAMS if base else ()), *scenario.teams]
        )
        self.workspaces: dict[int, WorkspaceSpec] = _by_id(
            [*(DEFAULT_WORKSPACES if base else ()), *scenario.workspaces]
        )
        self.agents: dict[int, AgentSpec] = _by_id(
            [*(DEFAULT_AGENTS if base else ()), *scenario.agents]
        )
        self.agent_status: dict[int, AgentStatus] = {
            agent.id: agent.status for agent in self.agents.values()
        }
        self.modules = _merge_modules(
            specs=[*(DEFAULT_MODULES if base else ()), *scenario.modules],
            durations=scenario.durations,
        )
        self.team_apps: dict[int, TeamApp] = {}
        next_app_id = FIRST_TEAM_APP_ID
        for team_id in self.teams:
            for module_id in self.modules:
                self.team_apps[next_app_id] = TeamApp(
                    id=next_app_id, team_id=team_id, module_id=module_id
                )
                next_app_id += 1

    def add_workspace(self, workspace: WorkspaceSpec) -> None:
        """Add a workspace of a known team while the simulator runs; its id must be new."""
        self.team(workspace.team_id)
        if workspace.id in self.workspaces:
            raise bad_request(f"Workspace {workspace.id} already exists")
        self.workspaces[workspace.id] = workspace

    def team(self, team_id: int) -> TeamSpec:
        """The team or a 404."""
        return _lookup(self.teams, team_id, "Team")

    def workspace(self, workspace_id: int) -> WorkspaceSpec:
        """The workspace or a 404."""
        return _lookup(self.workspaces, workspace_id, "Workspace")

    def agent(self, agent_id: int) -> AgentSpec:
        """The agent or a 404."""
        return _lookup(self.agents, agent_id, "Agent")

    def module(self, module_id: int) -> EcosystemModule:
        """The module or a 404."""
        return _lookup(self.modules, module_id, "Module")

    def module_by_slug(self, slug: str) -> EcosystemModule:
        """The module with this slug or a 404."""
        for module in self.modules.values():
            if module.slug == slug:
                return module
        raise not_found(f"Module with slug {slug!r} not found")

    def team_app(self, app_id: int) -> TeamApp:
        """The team app or a 404."""
        return _lookup(self.team_apps, app_id, "App")

    def team_app_for(self, *, team_id: int, module_id: int) -> TeamApp:
        """The team app of ``module_id`` in ``team_id`` (every module is installed everywhere)."""
        for app in self.team_apps.values():
            if app.team_id == team_id and app.module_id == module_id:
                return app
        raise not_found(f"Module {module_id} is not installed in team {team_id}")

    def user_login(self, user_id: int) -> str:
        """The login of the token's user, or a made-up one for other user ids."""
        return self.user.login if user_id == self.user.id else f"user-{user_id}"

    def team_json(self, team: TeamSpec) -> JsonObject:
        """A ``teams.info`` reply."""
        return {
            "id": team.id,
            "name": team.name,
            "description": team.description,
            "role": "admin",
            "createdAt": CATALOGUE_TIMESTAMP,
            "updatedAt": CATALOGUE_TIMESTAMP,
            "usage": {"plan": "simulated"},
        }

    def workspace_json(self, workspace: WorkspaceSpec) -> JsonObject:
        """A ``workspaces.info`` reply."""
        return {
            "id": workspace.id,
            "name": workspace.name,
            "description": workspace.description,
            "teamId": workspace.team_id,
            "createdAt": CATALOGUE_TIMESTAMP,
            "updatedAt": CATALOGUE_TIMESTAMP,
        }

    def agent_json(self, agent: AgentSpec) -> JsonObject:
        """An ``agents.info`` reply; ``token`` is left out on purpose (it is a secret)."""
        return {
            "id": agent.id,
            "name": agent.name,
            "status": self.agent_status[agent.id],
            "userId": self.user.id,
            "teamId": agent.team_id,
            "capabilities": {"types": ["app"], "gpu": agent.gpu},
            "createdAt": CATALOGUE_TIMESTAMP,
            "updatedAt": CATALOGUE_TIMESTAMP,
            "isPublic": False,
            "type": "sly_agent",
            "disabled": False,
            "version": "6.999.0",
            "gpuInfo": {"is_available": agent.gpu, "device_count": 1 if agent.gpu else 0},
        }

    def module_json(self, module: EcosystemModule) -> JsonObject:
        """An ``ecosystem.info`` reply (also an ``ecosystem.list`` entity)."""
        repo = f"https://github.com/{module.slug}"
        return {
            "id": module.id,
            "slug": module.slug,
            "name": module.name,
            "type": "app",
            "config": module_config(module),
            "readme": f"# {module.name}\n\nA simulated app.",
            "repositoryModuleUrl": repo,
            "repo": repo,
            "createdAt": CATALOGUE_TIMESTAMP,
            "updatedAt": CATALOGUE_TIMESTAMP,
            "meta": {
                "releases": [
                    {"version": version, "createdAt": CATALOGUE_TIMESTAMP}
                    for version in module.versions
                ],
            },
        }

    def team_app_json(self, app: TeamApp, *, tasks: list[JsonObject]) -> JsonObject:
        """An ``apps.list`` entity / ``apps.info`` reply."""
        module = self.module(app.module_id)
        return {
            "id": app.id,
            "createdBy": self.user.id,
            "moduleId": module.id,
            "disabled": False,
            "userLogin": self.user.login,
            "config": module_config(module),
            "name": module.name,
            "slug": module.slug,
            "isShared": False,
            "tasks": tasks,
            "repo": f"https://github.com/{module.slug}",
            "teamId": app.team_id,
        }


def module_config(module: EcosystemModule) -> JsonObject:
    """The ``config`` object of a module (its config.json in the real ecosystem)."""
    return {
        "name": module.name,
        "type": "app",
        "categories": list(module.categories),
        "description": f"Simulated app that ends with '{module.behaviour.outcome}'",
        "modalTemplateState": {},
    }


def _by_id(specs: Iterable[_Spec]) -> dict[int, _Spec]:
    return {spec.id: spec for spec in specs}


def _lookup(items: Mapping[int, _Item], item_id: int, kind: str) -> _Item:
    try:
        return items[item_id]
    except KeyError:
        raise not_found(f"{kind} with id {item_id} not found") from None


def _merge_modules(
    *, specs: list[ModuleSpec], durations: PhaseDurations
) -> dict[int, EcosystemModule]:
    """Later specs refine earlier ones with the same id or slug, field by field."""
    merged: list[ModuleSpec] = []
    for spec in specs:
        index = next(
            (
                i
                for i, known in enumerate(merged)
                if (spec.id is not None and known.id == spec.id)
                or (spec.slug is not None and known.slug == spec.slug)
            ),
            None,
        )
        if index is None:
            merged.append(spec)
            continue
        known = merged[index]
        stacked = known.durations.model_copy(update=spec.durations.model_dump(exclude_none=True))
        # Outputs replace the earlier ones whole (kept as a model, not dumped to a dict).
        update = spec.model_dump(exclude_none=True, exclude={"durations", "outputs"})
        update["outputs"] = spec.outputs or known.outputs
        merged[index] = known.model_copy(update={**update, "durations": stacked})
    modules: dict[int, EcosystemModule] = {}
    for spec in merged:
        if spec.id is None or spec.slug is None or spec.name is None:
            raise ScenarioError(f"a new module needs an id, a slug and a name: {spec}")
        modules[spec.id] = EcosystemModule(
            id=spec.id,
            slug=spec.slug,
            name=spec.name,
            versions=tuple(spec.versions or ["v1.0.0"]),
            categories=tuple(spec.categories or []),
            behaviour=ModuleBehaviour(
                outcome=spec.outcome or Outcome.FINISH,
                durations=spec.durations.apply_to(durations),
                error_probability=spec.error_probability or 0.0,
                error_message=spec.error_message or DEFAULT_ERROR_MESSAGE,
                max_restarts=(
                    DEFAULT_MAX_RESTARTS if spec.max_restarts is None else spec.max_restarts
                ),
                outputs=spec.outputs,
            ),
        )
    return modules
