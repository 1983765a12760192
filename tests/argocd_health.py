"""Run the Argo CD health check of SuperviselyTask the way Argo CD runs it.

Argo CD evaluates ``health.lua`` against the live object (``argocd_lua`` says how, and with which
libraries) and reads back ``{status=..., message=...}``; a status outside Argo CD's six is turned
into ``Unknown``. The script gets no clock: a verdict must not change while the object does not.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from argocd_lua import CUSTOMIZATION_DIR, run_script

HEALTH_DIR = CUSTOMIZATION_DIR
HEALTH_LUA = HEALTH_DIR / "health.lua"
HEALTH_TEST = HEALTH_DIR / "health_test.yaml"

#: gopher-lua's health statuses (gitops-engine ``health.HealthStatusCode``).
HEALTH_STATUSES = frozenset(
    {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
)


@dataclass(frozen=True)
class Verdict:
    """What Argo CD would show for the resource."""

    status: str
    message: str


def run_health(obj: Mapping[str, Any], script: str | None = None) -> Verdict:
    """Evaluate ``script`` (default: the committed health.lua) against ``obj``."""
    result = run_script(HEALTH_LUA.read_text() if script is None else script, obj, now=None)
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

    def load(self) -> dict[str, Any]:
        loaded: dict[str, Any] = yaml.safe_load((HEALTH_DIR / self.input_path).read_text())
        return loaded


def health_cases() -> list[HealthCase]:
    """The tests of health_test.yaml, in Argo CD's own format."""
    document = yaml.safe_load(HEALTH_TEST.read_text())
    return [
        HealthCase(
            input_path=test["inputPath"],
            expected=Verdict(test["healthStatus"]["status"], test["healthStatus"]["message"]),
        )
        for test in document["tests"]
    ]
