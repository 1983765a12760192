"""The Dockerfile and .dockerignore, read as Docker reads them (as far as this project uses them).

No Docker engine runs where the tests do, so the image is checked from its recipe instead: the
unit tests assert what the Dockerfile says, and the install test replays its builder stage. Both
need the same reading of the two files, hence this module. It covers what this Dockerfile uses
(comments, line continuations, shell and JSON forms, named stages, global ARGs) and Docker's
``*``, ``?``, ``**`` and ``!`` ignore rules; anything else fails loudly rather than being
misread.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


@dataclass(frozen=True)
class Instruction:
    """One instruction: its keyword in upper case and the rest of it, continuations joined."""

    keyword: str
    arguments: str
    line: int

    def exec_form(self) -> list[str]:
        """The JSON (exec) form, e.g. ``["run", "-A"]``; fails on the shell form."""
        value = json.loads(self.arguments)
        assert isinstance(value, list), f"line {self.line}: not a JSON array: {self.arguments}"
        return [str(item) for item in value]

    def words(self) -> list[str]:
        """The arguments split as the shell would, quotes removed."""
        return shlex.split(self.arguments)

    def flags_and_operands(self) -> tuple[dict[str, str], list[str]]:
        """``COPY --from=builder a b`` -> ``({"from": "builder"}, ["a", "b"])``."""
        flags: dict[str, str] = {}
        words = self.words()
        while words and words[0].startswith("--"):
            name, _, value = words.pop(0)[2:].partition("=")
            flags[name] = value
        return flags, words

    def assignments(self) -> dict[str, str]:
        """``ENV``/``LABEL``/``ARG`` pairs; an ``ARG`` without a default maps to ``""``."""
        pairs = {}
        for word in self.words():
            key, _, value = word.partition("=")
            pairs[key] = value
        return pairs


@dataclass
class Stage:
    """One ``FROM`` and what follows it up to the next."""

    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def only(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert len(found) == 1, f"expected one {keyword} in stage {self.name}, found {found}"
        return found[0]

    def env(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for instruction in self.all("ENV"):
            merged.update(instruction.assignments())
        return merged


@dataclass(frozen=True)
class Dockerfile:
    global_args: dict[str, str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        return next(stage for stage in self.stages if stage.name == name)

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def parse_dockerfile(text: str) -> Dockerfile:
    """Split a Dockerfile into its global ARGs and its stages of instructions."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in _instructions(text):
        if instruction.keyword == "FROM":
            words = instruction.words()
            assert not words[0].startswith("--"), f"line {instruction.line}: FROM flags unsupported"
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            assert len(words) == (3 if name else 1), f"line {instruction.line}: odd FROM"
            stages.append(Stage(base=words[0], name=name))
        elif stages:
            stages[-1].instructions.append(instruction)
        else:
            assert instruction.keyword == "ARG", f"line {instruction.line}: only ARG before FROM"
            global_args.update(instruction.assignments())
    return Dockerfile(global_args=global_args, stages=stages)


def _instructions(text: str) -> list[Instruction]:
    instructions = []
    pending: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue  # Docker drops comment lines, inside a continuation too
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(line.rstrip()[:-1])
            continue
        pending.append(line)
        keyword, _, arguments = " ".join(pending).strip().partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip(), start))
        pending = []
    assert not pending, "the Dockerfile ends inside a line continuation"
    return instructions


def expand(value: str, variables: dict[str, str]) -> str:
    """Substitute ``$NAME`` and ``${NAME}``, as Docker does in FROM, COPY, ENV and LABEL."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in variables, f"undefined variable {name} in {value!r}"
        return variables[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", substitute, value)


@dataclass(frozen=True)
class IgnoreRule:
    pattern: re.Pattern[str]
    exception: bool


def parse_dockerignore(text: str) -> list[IgnoreRule]:
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        cleaned = posixpath.normpath(line.removeprefix("!").strip()).lstrip("/")
        rules.append(IgnoreRule(_translate(cleaned), exception))
    return rules


def _translate(pattern: str) -> re.Pattern[str]:
    assert not set(pattern) & set("[]\\"), f"unsupported .dockerignore syntax: {pattern}"
    parts = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            parts.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            parts.append(".*")
            index += 2
        elif pattern[index] == "*":
            parts.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            parts.append("[^/]")
            index += 1
        else:
            parts.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(parts))


def is_ignored(path: str, rules: list[IgnoreRule]) -> bool:
    """Whether ``path`` (relative, with ``/``) stays out of the build context.

    As in Docker, a rule applies when it matches the path or one of its parent directories, and
    the last rule that applies decides.
    """
    parts = path.split("/")
    candidates = ["/".join(parts[:end]) for end in range(len(parts), 0, -1)]
    ignored = False
    for rule in rules:
        if any(rule.pattern.fullmatch(candidate) for candidate in candidates):
            ignored = not rule.exception
    return ignored


def context_files(source: str, rules: list[IgnoreRule]) -> list[Path]:
    """The files under a COPY source (a file or a directory) that the build context holds."""
    root = REPO / source
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return [f for f in files if not is_ignored(f.relative_to(REPO).as_posix(), rules)]


def load() -> tuple[Dockerfile, list[IgnoreRule]]:
    return (
        parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8")),
        parse_dockerignore(DOCKERIGNORE.read_text(encoding="utf-8")),
    )
