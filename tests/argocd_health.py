"""Run the Argo CD health check of a kind the way Argo CD runs it (SuperviselyTask by default).

Argo CD evaluates ``health.lua`` against the live object (``argocd_lua`` says how, and with which
libraries) and reads back ``{status=..., message=...}``; a status outside Argo CD's six is turned
into ``Unknown``. The script gets no clock: a verdict must not change while the object does not.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from argocd_lua import CUSTOMIZATION_DIR, run_script

HEALTH_DIR = CUSTOMIZATION_DIR
HEALTH_LUA = HEALTH_DIR / "health.lua"

#: gopher-lua's health statuses (gitops-engine ``health.HealthStatusCode``).
HEALTH_STATUSES = frozenset(
    {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
)


@dataclass(frozen=True)
class Verdict:
    """What Argo CD would show for the resource."""

    status: str
    message: str


def run_health(
    obj: Mapping[str, Any], script: str | None = None, *, folder: Path = HEALTH_DIR
) -> Verdict:
    """Evaluate ``script`` (default: the committed health.lua of ``folder``) against ``obj``."""
    if script is None:
        script = (folder / "health.lua").read_text()
    result = run_script(script, obj, now=None)
    if not isinstance(result, dict):  # ``return {}`` comes back as [], and has no status
        result = {}
    status, message = result.get("status"), result.get("message")
    if status not in HEALTH_STATUSES:
        return Verdict("Unknown", "Lua returned an invalid health status")
    return Verdict(status, "" if message is None else message)


@dataclass(frozen=True)
class HealthCase:
    """One entry of health_test.yaml: the captured object and the verdict it must get."""

    input_path: str
    expected: Verdict
    folder: Path = HEALTH_DIR

    def load(self) -> dict[str, Any]:
        loaded: dict[str, Any] = yaml.safe_load((self.folder / self.input_path).read_text())
        return loaded


def health_cases(folder: Path = HEALTH_DIR) -> list[HealthCase]:
    """The tests of the kind's health_test.yaml, in Argo CD's own format."""
    document = yaml.safe_load((folder / "health_test.yaml").read_text())
    return [
        HealthCase(
            folder=folder,
            input_path=test["inputPath"],
            expected=Verdict(test["healthStatus"]["status"], test["healthStatus"]["message"]),
        )
        for test in document["tests"]
    ]
