"""Just enough PromQL reading for the monitoring tests: the metrics an expression reads, and
what of an alert's expression must return data while nothing is wrong.

An alert's expression returns nothing while all is well, so "returns data" is asked of its
parts: each side of a top-level ``and``/``or``/``unless``, without its top-level comparison
(``... > 0.5``), and the argument of ``absent(...)``. A part returns data when the series it
reads exist with the labels it selects, and its arithmetic works on them.
"""

import re
from collections.abc import Iterator

from supervisely_operator.controller.metric_list import METRICS

HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")
_SET_OPERATORS = re.compile(r"\s+(?:and|or|unless)\s+")
_COMPARISON = re.compile(r"(==|!=|>=|<=|>|<)(\s*bool)?")
_OPENING, _CLOSING = "({[", ")}]"


def metric_names(expr: str) -> Iterator[str]:
    """The operator's metric names an expression reads, without histogram suffixes."""
    declared = {metric.name for metric in METRICS}
    for name in re.findall(r"\bsupervisely_operator_\w+", expr):
        for suffix in HISTOGRAM_SUFFIXES:
            if name.endswith(suffix) and name.removesuffix(suffix) in declared:
                name = name.removesuffix(suffix)
        yield name


def _top_level(expr: str) -> list[bool]:
    """For each character, whether it is outside every bracket and string."""
    depth, quote, flags = 0, "", []
    for char in expr:
        if quote:
            quote = "" if char == quote else quote
            flags.append(False)
        elif char in "\"'`":
            quote = char
            flags.append(False)
        elif char in _OPENING:
            depth += 1
            flags.append(False)
        elif char in _CLOSING:
            depth -= 1
            flags.append(False)
        else:
            flags.append(depth == 0)
    return flags


def _split_top(expr: str, pattern: re.Pattern[str]) -> list[str]:
    """``expr`` split at each match of ``pattern`` outside brackets and strings."""
    outside = _top_level(expr)
    parts, start = [], 0
    for match in pattern.finditer(expr):
        if outside[match.start()]:
            parts.append(expr[start : match.start()])
            start = match.end()
    return [*parts, expr[start:]]


def _strip_parentheses(expr: str) -> str:
    """``(x)`` -> ``x``, as often as the outer parentheses enclose the whole expression."""
    expr = expr.strip()
    while expr.startswith("(") and expr.endswith(")"):
        inner = expr[1:-1]
        if not _balanced(inner):
            break  # "(a) / (b)": the parentheses are two
        expr = inner.strip()
    return expr


def _balanced(expr: str) -> bool:
    """No bracket of ``expr`` closes one it did not open (so outer parentheses enclose it)."""
    depth = 0
    for char in expr:
        depth += char in _OPENING
        depth -= char in _CLOSING
        if depth < 0:
            return False
    return depth == 0


def probes(expr: str) -> list[str]:
    """The parts of an alert's expression that must return data while nothing is wrong: each
    side of a top-level ``and``/``or``/``unless``, left of its comparison, inside ``absent``."""
    found = []
    for part in _split_top(" ".join(expr.split()), _SET_OPERATORS):
        part = _strip_parentheses(part)
        sides = _split_top(part, _COMPARISON)
        if len(sides) > 1:
            found.extend(probes(sides[0]))
            continue
        absent = re.fullmatch(r"absent\((.*)\)", part)
        found.append(absent[1].strip() if absent else part)
    return found


def label_values(query: str) -> tuple[str, str]:
    """Grafana's ``label_values(selector, label)``: its selector and its label."""
    match = re.fullmatch(r"label_values\((?P<selector>.+),\s*(?P<label>\w+)\)", query.strip())
    if match is None:
        raise ValueError(f"not label_values(selector, label): {query}")
    return match["selector"].strip(), match["label"]
