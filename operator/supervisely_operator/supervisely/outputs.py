"""A task's published result (its ``meta.output``) read into :class:`TaskOutputs`, never failing.

Apps publish their result with the SDK's ``set_output_*`` calls, each of which sends one
top-level key to ``tasks.output.set`` (``task_api.py``):

- ``project``: ``{"id", "title", "preview"?}`` (``set_output_project``);
- ``general``: a link or a message, ``{"icon": {"className", ...}, "title", "titleUrl"?,
  "description"?, "download"?, "isError"?, "showLogs"?}`` (``set_output_directory``,
  ``_file_download``, ``_archive``, ``_report``, ``_error``, ``_text``);
- ``experiment``: ``{"data": <ExperimentInfo as a dict>}`` (``set_output_experiment``).

The app controls all of it and the operator copies it into a Kubernetes status, so every part is
optional, a part of the wrong shape is left out, prose is cut to the status' bounds (ending in
``…``), identifiers that do not fit (paths, links, metric names) are left out rather than cut
into wrong ones, and only finite numbers count as metrics.
"""

import math
from typing import Any
from urllib.parse import urljoin, urlsplit

from supervisely_operator.api.status import (
    OUTPUT_MESSAGE_LIMIT,
    OUTPUT_METRIC_NAME_LIMIT,
    OUTPUT_METRICS_LIMIT,
    OUTPUT_NAME_LIMIT,
    OUTPUT_PATH_LIMIT,
    OUTPUT_URL_LIMIT,
    OutputExperiment,
    OutputLink,
    OutputLinkKind,
    OutputProject,
    TaskOutputs,
)

ELLIPSIS = "…"

LINK_KIND_OF_ICON = {
    "zmdi-folder": OutputLinkKind.DIRECTORY,
    "zmdi-archive": OutputLinkKind.ARCHIVE,
    "zmdi-receipt": OutputLinkKind.REPORT,
}
"""The icon each ``set_output_*`` call gives its link; any other icon is a plain file."""


def task_outputs(output: object) -> TaskOutputs | None:
    """The typed copy of ``meta.output``; None when it holds nothing the operator knows."""
    if not isinstance(output, dict):
        return None
    general = _mapping(output.get("general"))
    is_error = general.get("isError") is True
    has_link = not is_error and _identifier(general.get("titleUrl"), OUTPUT_URL_LIMIT) is not None
    outputs = TaskOutputs(
        project=_project(_mapping(output.get("project"))),
        link=_link(general) if has_link else None,
        experiment=_experiment(_mapping(_mapping(output.get("experiment")).get("data"))),
        error=_message(general) if is_error else None,
        text=_message(general) if not is_error and not has_link else None,
    )
    return None if outputs == TaskOutputs() else outputs


def absolute_links(outputs: TaskOutputs, *, server: str) -> TaskOutputs:
    """``outputs`` with links relative to the server (``/files/7660``, as ``FileApi.get_url``
    makes them) made absolute; a link that no longer fits is left out."""
    link, experiment = outputs.link, outputs.experiment
    if link is not None and link.url is not None:
        link = link.model_copy(update={"url": _absolute(link.url, server=server)})
    if experiment is not None and experiment.report_url is not None:
        report_url = _absolute(experiment.report_url, server=server)
        experiment = experiment.model_copy(update={"report_url": report_url})
    return outputs.model_copy(update={"link": link, "experiment": experiment})


def _absolute(url: str, *, server: str) -> str | None:
    """The link against the server; only web links are kept (no ``javascript:`` in a status)."""
    joined = urljoin(f"{server}/", url)
    if urlsplit(joined).scheme.lower() not in ("http", "https"):
        return None
    return _identifier(joined, OUTPUT_URL_LIMIT)


def _project(project: dict[str, Any]) -> OutputProject | None:
    project_id = project.get("id")
    if not isinstance(project_id, int) or isinstance(project_id, bool) or project_id < 1:
        return None
    return OutputProject(id=project_id, name=_prose(project.get("title"), OUTPUT_NAME_LIMIT))


def _link(general: dict[str, Any]) -> OutputLink | None:
    title = _identifier(general.get("title"), OUTPUT_PATH_LIMIT)
    if title is None:
        return None
    icon = _mapping(general.get("icon")).get("className")
    classes = icon.split() if isinstance(icon, str) else []
    kind = next(
        (LINK_KIND_OF_ICON[name] for name in classes if name in LINK_KIND_OF_ICON),
        OutputLinkKind.FILE,
    )
    return OutputLink(
        kind=kind, title=title, url=_identifier(general.get("titleUrl"), OUTPUT_URL_LIMIT)
    )


def _message(general: dict[str, Any]) -> str | None:
    """``"<title>: <description>"``, or whichever of the two there is."""
    parts = [
        part
        for part in (general.get("title"), general.get("description"))
        if isinstance(part, str) and part.strip()
    ]
    return _prose(": ".join(parts), OUTPUT_MESSAGE_LIMIT) if parts else None


def _experiment(data: dict[str, Any]) -> OutputExperiment | None:
    primary = _identifier(data.get("primary_metric"), OUTPUT_METRIC_NAME_LIMIT)
    experiment = OutputExperiment(
        name=_prose(data.get("experiment_name"), OUTPUT_NAME_LIMIT),
        framework=_prose(data.get("framework_name"), OUTPUT_NAME_LIMIT),
        model=_prose(data.get("model_name"), OUTPUT_NAME_LIMIT),
        artifacts_dir=_identifier(data.get("artifacts_dir"), OUTPUT_PATH_LIMIT),
        best_checkpoint=_identifier(data.get("best_checkpoint"), OUTPUT_PATH_LIMIT),
        primary_metric=primary,
        metrics=_metrics(_mapping(data.get("evaluation_metrics")), primary=primary),
        report_url=_identifier(data.get("evaluation_report_link"), OUTPUT_URL_LIMIT),
    )
    return None if experiment == OutputExperiment() else experiment


def _metrics(metrics: dict[str, Any], *, primary: str | None) -> dict[str, float]:
    """Finite numbers under names that fit, the primary metric first, at most the limit."""
    kept: dict[str, float] = {}
    names = sorted(metrics, key=lambda name: name != primary)  # stable: the app's order after
    for name in names:
        value = metrics[name]
        if len(kept) == OUTPUT_METRICS_LIMIT:
            break
        if _identifier(name, OUTPUT_METRIC_NAME_LIMIT) is None or not _is_number(value):
            continue
        kept[name] = float(value)
    return kept


def _is_number(value: object) -> bool:
    # bool is an int in Python, and JSON's NaN/Infinity (which Python's parser accepts) have no
    # place in a Kubernetes object.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _prose(value: object, limit: int) -> str | None:
    """A text for people: cut to ``limit`` characters, ending in an ellipsis when cut."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value if len(value) <= limit else value[: limit - len(ELLIPSIS)] + ELLIPSIS


def _identifier(value: object, limit: int) -> str | None:
    """A path, link or name that must stay whole: left out when it does not fit."""
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        return None
    return value
