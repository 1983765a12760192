"""What an app publishes as its result (``meta.output``), built as the SDK's calls build it.

Each ``set_output_*`` call of ``TaskApi`` (``task_api.py``) sends one top-level key to
``tasks.output.set``: ``project``, ``general`` (a link or a message) or ``experiment``. A
module's ``outputs`` in the scenario is turned into the same keys here, so a task that publishes
by itself looks exactly like one whose app made the calls.
"""

from __future__ import annotations

import posixpath

from supervisely_devkit.simulator.scenario import LinkKind, LinkOutputSpec, OutputsSpec
from supervisely_devkit.simulator.wire import JsonObject

SUCCESS_COLOURS = {"color": "#33c94c", "backgroundColor": "#d9f7e4"}
"""The icon colours ``_set_custom_output`` and ``set_output_text`` use by default."""

_LINK_STYLE: dict[LinkKind, tuple[str, str, bool]] = {
    LinkKind.DIRECTORY: ("zmdi zmdi-folder", "Directory", False),
    LinkKind.FILE: ("zmdi zmdi-file", "Download file", True),
    LinkKind.ARCHIVE: ("zmdi zmdi-archive", "Download archive", True),
    LinkKind.REPORT: ("zmdi zmdi-receipt", "Report", False),
}
"""Icon, description and download flag of each ``set_output_*`` link call."""


def published_output(spec: OutputsSpec, *, task_id: int) -> JsonObject:
    """The ``meta.output`` keys that a module's ``outputs`` stand for, for one task."""
    output: JsonObject = {}
    if spec.project is not None:
        output["project"] = {"id": spec.project.id, "title": spec.project.name}
    if spec.link is not None:
        output["general"] = _link(spec.link, task_id=task_id)
    if spec.text is not None:
        output["general"] = {
            "icon": {"className": "zmdi zmdi-comment-alt-text", **SUCCESS_COLOURS},
            "title": spec.text,
            "showLogs": False,
            "isError": False,
        }
    if spec.experiment is not None:
        experiment = {key: _of_task(value, task_id) for key, value in spec.experiment.items()}
        output["experiment"] = {"data": {"task_id": task_id, **experiment}}
    return output


def _of_task(value: object, task_id: int) -> object:
    """``value`` with ``{task_id}`` filled in: each run of a training has a directory of its own,
    as Supervisely's ``/experiments/<project>/<task id>_<framework>/``."""
    return value.replace("{task_id}", str(task_id)) if isinstance(value, str) else value


def _link(link: LinkOutputSpec, *, task_id: int) -> JsonObject:
    icon, description, download = _LINK_STYLE[link.kind]
    return {
        "icon": {"className": icon, **SUCCESS_COLOURS},
        "title": _of_task(link.title, task_id),
        "titleUrl": link.url or f"/files/{task_id}",
        "download": download,
        "description": description,
    }


def checkpoint_paths(artifacts_dir: str, checkpoints: object) -> list[str]:
    """Team Files paths of a training's checkpoints (``checkpoints`` are relative to its
    artifacts directory, as ExperimentInfo lists them)."""
    names = (
        [name for name in checkpoints if isinstance(name, str)]
        if isinstance(checkpoints, list | tuple)
        else []
    )
    return [posixpath.join(artifacts_dir, name) for name in names]


def served_output(checkpoint: str) -> JsonObject:
    """What a serving app publishes once its model is loaded: the checkpoint it serves."""
    return {
        "general": {
            "icon": {"className": "zmdi zmdi-comment-alt-text", **SUCCESS_COLOURS},
            "title": f"Serving {checkpoint}",
            "showLogs": False,
            "isError": False,
        }
    }
