"""Run this repository's Argo CD Lua scripts the way Argo CD runs them.

Argo CD (``util/lua/lua.go``, ``runLua``) evaluates every script configured in ``argocd-cm``,
health checks and resource actions alike, with gopher-lua, a Lua 5.1 implementation. The live
object becomes the global ``obj`` (``decodeValue``: JSON objects are tables keyed by strings,
arrays 1-based tables, ``null`` nothing at all); the value the script returns is turned back into
JSON by gopher-json's ``Encode`` (an empty table becomes ``[]``). Only the base, table and package
libraries are open, and ``require("os")`` loads a safe ``os`` with just ``date`` and ``time``:
there is no global ``os`` (``OpenSafeOs`` registers its functions under the name of the table
library, which is already loaded, so it adds nothing; that is why Argo CD's own actions all begin
with ``local os = require("os")``), and no ``string`` library, so not even ``("x"):upper()``.

The runtime here is lupa's Lua 5.1 with the same libraries taken away, and ``require`` limited to
that one preloaded ``os``, whose clock is the ``now`` a caller passes; without ``now`` there is no
``os`` at all (stricter than Argo CD: a health verdict must not depend on the time it is asked).
So a script that passes here cannot fail on a missing library in Argo CD; integer formatting
(``tostring(3)`` is ``"3"``) also matches, as it would not under Lua 5.3+.
"""

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from lupa.lua51 import LuaRuntime, lua_type

REPO = Path(__file__).resolve().parents[1]
#: Laid out like Argo CD's own ``resource_customizations/<group>/<kind>/``, one folder per kind.
CUSTOMIZATIONS = REPO / "deploy" / "argocd" / "resource_customizations" / "supervisely.com"
CUSTOMIZATION_DIR = CUSTOMIZATIONS / "SuperviselyTask"
CRON_CUSTOMIZATION_DIR = CUSTOMIZATIONS / "SuperviselyCronTask"
DOC = REPO / "docs" / "argocd.md"

# Run before the script: strip what Argo CD does not open for argocd-cm scripts. The string
# metatable goes first, while ``debug`` is still there, so string methods fail too. ``require``
# keeps only the preload searcher, and ``package.loaded`` forgets the libraries removed here, or
# ``require("string")`` would hand them back.
_SANDBOX = """
debug.setmetatable("", nil)
string, math, io, os, debug, coroutine = nil
dofile, loadfile = nil
for name in pairs(package.loaded) do
  if name ~= "_G" and name ~= "table" and name ~= "package" then
    package.loaded[name] = nil
  end
end
package.loaders = {package.loaders[1]}
package.path, package.cpath, package.loadlib = "", "", nil
"""

# gopher-lua's strftime (Argo CD's ``oslib_safe.go``, ``cDateFlagToGo``) maps each flag to a Go
# time layout; these are the same layouts in Python's terms. ``%a`` really is the literal "mon":
# Go reads the layout "mon" as plain text.
_DATE_FLAGS: dict[str, Callable[[datetime], str]] = {
    "a": lambda _: "mon",
    "A": lambda t: t.strftime("%A"),
    "b": lambda t: t.strftime("%b"),
    "B": lambda t: t.strftime("%B"),
    "c": lambda t: t.strftime("%d %b %y %H:%M ") + (t.tzname() or ""),
    "d": lambda t: t.strftime("%d"),
    "F": lambda t: t.strftime("%Y-%m-%d"),
    "H": lambda t: t.strftime("%H"),
    "I": lambda t: t.strftime("%I"),
    "m": lambda t: t.strftime("%m"),
    "M": lambda t: t.strftime("%M"),
    "p": lambda t: "PM" if t.hour >= 12 else "AM",
    "P": lambda t: "pm" if t.hour >= 12 else "am",
    "S": lambda t: t.strftime("%S"),
    "w": lambda t: str((t.weekday() + 1) % 7),
    "x": lambda t: t.strftime("%H/%M/%S"),
    "X": lambda t: t.strftime("%H:%M:%S"),
    "y": lambda t: t.strftime("%y"),
    "Y": lambda t: str(t.year),
    "z": lambda t: t.strftime("%z"),
    "Z": lambda t: t.tzname() or "",
}


def argocd_strftime(moment: datetime, layout: str) -> str:
    """``os.date(layout)`` as Argo CD's safe ``os`` formats ``moment``; ``!`` means UTC.

    An unknown flag stays as it is (``%j`` gives ``%j``), ``%%`` gives ``%``, and ``*t`` (a
    table instead of a string) is not mirrored: no script here asks for it.
    """
    if layout.startswith("!"):
        moment, layout = moment.astimezone(UTC), layout.lstrip("!")
    else:
        moment = moment.astimezone()
    if layout.startswith("*t"):
        raise NotImplementedError("os.date('*t') is not mirrored")
    return re.sub(
        r"%(.)",
        lambda m: "%" if m[1] == "%" else _DATE_FLAGS.get(m[1], lambda _: m[0])(moment),
        layout,
    )


def argocd_runtime(*, now: datetime | None) -> LuaRuntime:
    """A Lua 5.1 runtime with what Argo CD opens for argocd-cm scripts, its clock set to ``now``."""
    lua = LuaRuntime(register_eval=False, register_builtins=False)
    lua.execute(_SANDBOX)
    if now is not None:
        clock = now

        def date(layout: str = "%c", *at: Any) -> str:
            if at:
                raise NotImplementedError("os.date with a time argument is not mirrored")
            return argocd_strftime(clock, layout)

        def time(*fields: Any) -> int:
            if fields:
                raise NotImplementedError("os.time with a date table is not mirrored")
            return int(clock.timestamp())

        # ``require`` takes only a Lua function as a loader, so the module is handed over.
        lua.execute(
            'local safe_os = ...; package.preload["os"] = function() return safe_os end',
            lua.table_from({"date": date, "time": time}),
        )
    return lua


def to_lua(lua: LuaRuntime, value: Any) -> Any:
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


def from_lua(value: Any) -> Any:
    """A Lua value as JSON, as gopher-json's ``Encode`` writes it for Argo CD.

    A table with no keys is ``[]`` (Lua cannot tell an empty object from an empty list), one
    with string keys an object, one with the keys 1..n an array; anything else is an error, as
    are functions. Whole numbers come back as ``int``, as Kubernetes decodes them.
    """
    kind = lua_type(value)
    if kind == "table":
        keys = list(value.keys())
        if not keys:
            return []
        if all(isinstance(key, str) for key in keys):
            return {key: from_lua(value[key]) for key in keys}
        whole = all(isinstance(key, int) and not isinstance(key, bool) for key in keys)
        if whole and set(keys) == set(range(1, len(keys) + 1)):
            return [from_lua(value[index]) for index in range(1, len(keys) + 1)]
        raise ValueError(f"cannot encode mixed or invalid key types, or a sparse array: {keys}")
    if kind is not None:
        raise TypeError(f"cannot encode {kind} to JSON")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def run_script(script: str, obj: Mapping[str, Any], *, now: datetime | None) -> Any:
    """Run ``script`` with ``obj`` as the global ``obj``; return what it returns, as JSON."""
    lua = argocd_runtime(now=now)
    lua.globals().obj = to_lua(lua, obj)
    result = lua.execute(script)
    if lua_type(result) != "table":
        raise TypeError(f"expect table output from Lua script, not {lua_type(result) or result!r}")
    return from_lua(result)


def restore_empty_objects(new: Any, old: Any) -> Any:
    """Undo gopher-json's ``{}`` -> ``[]`` where the live object had an object.

    Argo CD (``cleanReturnedObj``) does this to what an action returns before it patches: a key
    whose old value was an object and whose new value is an empty list gets its old value back,
    in objects and in lists of objects, recursively.
    """
    if isinstance(new, dict) and isinstance(old, dict):
        for key in new.keys() & old.keys():
            if new[key] == [] and isinstance(old[key], dict):
                new[key] = old[key]
            else:
                new[key] = restore_empty_objects(new[key], old[key])
    elif isinstance(new, list) and isinstance(old, list):
        # Argo CD indexes the old list without a bound check; a longer new list panics there.
        new[: len(old)] = [restore_empty_objects(n, o) for n, o in zip(new, old, strict=False)]
    return new


def documented_argocd_cm() -> dict[str, str]:
    """The ``data`` of the one ``argocd-cm`` ConfigMap that docs/argocd.md tells users to apply."""
    blocks = re.findall(r"^```yaml\n(.*?)^```", DOC.read_text(), flags=re.DOTALL | re.MULTILINE)
    documents = [yaml.safe_load(block) for block in blocks]
    [configmap] = [
        d
        for d in documents
        if isinstance(d, dict) and d.get("kind") == "ConfigMap"
        and d["metadata"]["name"] == "argocd-cm"
    ]  # fmt: skip
    data: dict[str, str] = configmap["data"]
    return data
