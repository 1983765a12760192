"""Run the Argo CD resource actions of a kind the way Argo CD runs them (SuperviselyTask by
default).

Discovery (``ExecuteResourceActionDiscovery``): ``discovery.lua`` returns a table keyed by action
name; a value with keys becomes a ``ResourceAction`` (``disabled``, ``iconClass``,
``displayName``), an empty one an action enabled by default. An action (``ExecuteResourceAction``)
returns the changed ``obj``; Argo CD puts back the empty objects gopher-json turned into ``[]``
(``cleanReturnedObj``), computes a JSON merge patch from the live object to that one (the
operator's own ``merge_patch`` computes the same RFC 7386 patch) and sends it
(``patchResource``). It does not run discovery first: an action disabled in the UI still
runs from the CLI or the API. ``argocd_lua`` says which libraries the scripts get.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from argocd_lua import CUSTOMIZATION_DIR, restore_empty_objects, run_script

ACTIONS_DIR = CUSTOMIZATION_DIR / "actions"
DISCOVERY_LUA = ACTIONS_DIR / "discovery.lua"

#: The wire names the actions write (the operator's contract, docs/argocd.md).
RESTART_ANNOTATION = "supervisely.com/restart-requested-at"
REFRESH_ANNOTATION = "supervisely.com/refresh-requested-at"
PAUSED_ANNOTATION = "supervisely.com/paused"


@dataclass(frozen=True)
class ResourceAction:
    """An action as Argo CD lists it (``appv1.ResourceAction``; ``params`` are not used here)."""

    name: str
    disabled: bool = False
    icon_class: str = ""
    display_name: str = ""

    @classmethod
    def parse(cls, fields: Mapping[str, Any]) -> "ResourceAction":
        """From the JSON/YAML of a ResourceAction; a key Argo CD would not read is an error."""
        unknown = set(fields) - {"name", "disabled", "iconClass", "displayName"}
        if unknown:
            raise ValueError(f"unknown ResourceAction fields {sorted(unknown)} in {fields}")
        return cls(
            name=fields["name"],
            disabled=fields.get("disabled", False),
            icon_class=fields.get("iconClass", ""),
            display_name=fields.get("displayName", ""),
        )


def action_names(folder: Path = ACTIONS_DIR) -> list[str]:
    """The actions defined: one folder with an ``action.lua`` each."""
    return sorted(path.parent.name for path in folder.glob("*/action.lua"))


def action_script(name: str, folder: Path = ACTIONS_DIR) -> str:
    return (folder / name / "action.lua").read_text()


def discover(
    obj: Mapping[str, Any], script: str | None = None, *, folder: Path = ACTIONS_DIR
) -> frozenset[ResourceAction]:
    """The actions Argo CD offers for ``obj`` (it lists them in no particular order)."""
    if script is None:
        script = (folder / "discovery.lua").read_text()
    result = run_script(script, obj, now=None)
    if result == []:  # an empty table: no actions at all
        return frozenset()
    actions = set()
    for name, value in result.items():
        if not isinstance(value, dict | list):
            raise TypeError(f"action {name}: not a table: {value!r}")
        fields = value if isinstance(value, dict) else {}  # [] or a list: a bare name
        # Argo CD reads ``disabled`` only as a bool, ignores other keys, and a ``name`` inside
        # the value would overwrite the key's; none of that is used, so it is not mirrored.
        known = {k: fields[k] for k in ("disabled", "iconClass", "displayName") if k in fields}
        actions.add(ResourceAction.parse({"name": name, **known}))
    return frozenset(actions)


def run_action(
    obj: Mapping[str, Any],
    action: str,
    *,
    now: datetime,
    script: str | None = None,
    folder: Path = ACTIONS_DIR,
) -> dict[str, Any]:
    """The object the action returns, as Argo CD cleans it before diffing; ``now`` is its clock."""
    if script is None:
        script = action_script(action, folder)
    result = run_script(script, obj, now=now)
    if not isinstance(result, dict):
        raise TypeError(f"{action}: a list of impacted resources is not used here: {result}")
    cleaned: dict[str, Any] = restore_empty_objects(result, obj)
    return cleaned


@dataclass(frozen=True)
class DiscoveryCase:
    """An entry of ``discoveryTests``: an object and every action Argo CD must list for it."""

    input_path: str
    result: frozenset[ResourceAction]


@dataclass(frozen=True)
class ActionCase:
    """An entry of ``actionTests``: an action, the object it runs on, the object it returns."""

    action: str
    input_path: str
    expected_output_path: str


def load(path: str, folder: Path = ACTIONS_DIR) -> dict[str, Any]:
    """A testdata object; ``path`` is relative to the actions folder, as in action_test.yaml."""
    loaded: dict[str, Any] = yaml.safe_load((folder / path).read_text())
    return loaded


def action_test(folder: Path = ACTIONS_DIR) -> tuple[list[DiscoveryCase], list[ActionCase]]:
    """The cases of the kind's action_test.yaml, in Argo CD's own format."""
    document = yaml.safe_load((folder / "action_test.yaml").read_text())
    discovery = [
        DiscoveryCase(
            input_path=test["inputPath"],
            result=frozenset(ResourceAction.parse(fields) for fields in test["result"]),
        )
        for test in document["discoveryTests"]
    ]
    actions = [
        ActionCase(test["action"], test["inputPath"], test["expectedOutputPath"])
        for test in document["actionTests"]
    ]
    return discovery, actions
