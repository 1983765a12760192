"""Run the Argo CD health check of SuperviselyTask the way Argo CD runs it.

Argo CD evaluates ``health.lua`` with gopher-lua, a Lua 5.1 implementation, after converting the
live object to Lua tables (``util/lua/lua.go``: ``decodeValue``): JSON objects become tables keyed
by strings, arrays 1-based tables, ``null`` nothing at all. The script sees that table as the
global ``obj`` and returns ``{status=..., message=...}``; a status outside Argo CD's six is turned
into ``Unknown``. A script configured in ``argocd-cm`` runs with only the base, table, package and
(a safe subset of) os libraries: no ``string`` library, so not even ``("x"):upper()`` works.

The runtime here is lupa's Lua 5.1 with the same libraries taken away (``os`` and ``package``
too, which is stricter than Argo CD), so a script that passes here cannot fail on a missing
library in Argo CD; integer formatting (``tostring(3)`` is ``"3"``) also matches, as it would
not under Lua 5.3+.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from lupa.lua51 import LuaRuntime

REPO = Path(__file__).resolve().parents[1]
HEALTH_DIR = (
    REPO / "deploy" / "argocd" / "resource_customizations" / "supervisely.com" / "SuperviselyTask"
)
HEALTH_LUA = HEALTH_DIR / "health.lua"
HEALTH_TEST = HEALTH_DIR / "health_test.yaml"

#: gopher-lua's health statuses (gitops-engine ``health.HealthStatusCode``).
HEALTH_STATUSES = frozenset(
    {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
)

# Run before the script: strip what Argo CD does not open for argocd-cm health checks. The
# string metatable goes first, while ``debug`` is still there, so string methods fail too.
_SANDBOX = """
debug.setmetatable("", nil)
string, math, io, os, debug, coroutine, package, require = nil
dofile, loadfile = nil
"""


@dataclass(frozen=True)
class Verdict:
    """What Argo CD would show for the resource."""

    status: str
    message: str


def to_lua(lua: Any, value: Any) -> Any:
    """A Python value from JSON/YAML as gopher-lua's ``decodeValue`` would build it."""
    if isinstance(value, Mapping):
        table = lua.table()
        for key, item in value.items():
            if item is not None:  # RawSetH with nil: the key is absent
                table[str(key)] = to_lua(lua, item)
        return table
    if isinstance(value, list):
        table = lua.table()
        for index, item in enumerate(value, start=1):
            table[index] = to_lua(lua, item)
        return table
    if isinstance(value, bool | int | float | str):
        return value
    # A datetime from an unquoted YAML timestamp, for example: a live object never has one.
    raise TypeError(f"not a JSON value: {value!r} ({type(value).__name__})")


def run_health(obj: Mapping[str, Any], script: str | None = None) -> Verdict:
    """Evaluate ``script`` (default: the committed health.lua) against ``obj``."""
    lua = LuaRuntime(register_eval=False, register_builtins=False)
    lua.execute(_SANDBOX)
    lua.globals().obj = to_lua(lua, obj)
    result = lua.execute(HEALTH_LUA.read_text() if script is None else script)
    if lua.eval("type")(result) != "table":
        raise TypeError(f"expect table output from Lua script, not {lua.eval('type')(result)}")
    status, message = result["status"], result["message"]
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
