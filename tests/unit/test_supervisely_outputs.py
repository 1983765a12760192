"""``meta.output`` as the SDK's ``set_output_*`` calls write it, read into ``TaskOutputs``.

The shapes below are copied from ``supervisely/api/task_api.py`` (6.74.51); the hostile ones
are what an app could publish, since the app alone controls its output.
"""

from typing import Any

import pytest

from supervisely_operator.api import (
    OutputExperiment,
    OutputLink,
    OutputLinkKind,
    OutputProject,
    SuperviselyTaskStatus,
    TaskOutputs,
)
from supervisely_operator.api.status import (
    OUTPUT_MESSAGE_LIMIT,
    OUTPUT_METRICS_LIMIT,
    OUTPUT_NAME_LIMIT,
    OUTPUT_URL_LIMIT,
)
from supervisely_operator.supervisely import TaskInfo, absolute_links, task_outputs


def general(icon: str, title: str, **fields: Any) -> dict[str, Any]:
    """A ``general`` output as ``TaskApi._set_custom_output`` and friends build it."""
    return {
        "general": {
            "icon": {"className": icon, "color": "#33c94c", "backgroundColor": "#d9f7e4"},
            "title": title,
            **fields,
        }
    }


EXPERIMENT_INFO = {  # TaskApi.set_output_experiment's docstring example
    "experiment_name": "247 Lemons RT-DETRv2-M",
    "framework_name": "RT-DETRv2",
    "model_name": "RT-DETRv2-M",
    "task_type": "object detection",
    "project_id": 76,
    "task_id": 247,
    "checkpoints": ["checkpoints/best.pth", "checkpoints/last.pth"],
    "best_checkpoint": "best.pth",
    "artifacts_dir": "/experiments/76_Lemons/247_RT-DETRv2/",
    "evaluation_report_link": "https://app.supervisely.com/model-benchmark?id=12961",
    "evaluation_metrics": {"mAP": 0.994, "AP50": 1.0, "AP75": 1},
    "primary_metric": "mAP",
    "logs": {"type": "tensorboard", "link": "/experiments/76_Lemons/247_RT-DETRv2/logs/"},
}


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (
            {"project": {"id": 76, "title": "Lemons", "preview": "/previews/76.png"}},
            TaskOutputs(project=OutputProject(id=76, name="Lemons")),
        ),
        (
            general(
                "zmdi zmdi-folder",
                "/experiments/76/",
                titleUrl="/files/7660",
                download=False,
                description="Directory",
            ),
            TaskOutputs(
                link=OutputLink(
                    kind=OutputLinkKind.DIRECTORY, title="/experiments/76/", url="/files/7660"
                )
            ),
        ),
        (
            general("zmdi zmdi-archive", "out.tar", titleUrl="/store/out.tar", download=True),
            TaskOutputs(
                link=OutputLink(kind=OutputLinkKind.ARCHIVE, title="out.tar", url="/store/out.tar")
            ),
        ),
        (
            general("zmdi zmdi-receipt", "report.lnk", titleUrl="/files/9", description="Report"),
            TaskOutputs(
                link=OutputLink(kind=OutputLinkKind.REPORT, title="report.lnk", url="/files/9")
            ),
        ),
        (
            general("zmdi zmdi-file", "preds.json", titleUrl="/storage/preds.json", download=True),
            TaskOutputs(
                link=OutputLink(
                    kind=OutputLinkKind.FILE, title="preds.json", url="/storage/preds.json"
                )
            ),
        ),
        (
            general(
                "zmdi zmdi-alert-octagon",
                "Training failed",
                description="CUDA out of memory",
                showLogs=True,
                isError=True,
            ),
            TaskOutputs(error="Training failed: CUDA out of memory"),
        ),
        (
            general("zmdi zmdi-comment-alt-text", "Finished", showLogs=False, isError=False),
            TaskOutputs(text="Finished"),
        ),
        (
            {"experiment": {"data": EXPERIMENT_INFO}},
            TaskOutputs(
                experiment=OutputExperiment(
                    name="247 Lemons RT-DETRv2-M",
                    framework="RT-DETRv2",
                    model="RT-DETRv2-M",
                    artifacts_dir="/experiments/76_Lemons/247_RT-DETRv2/",
                    best_checkpoint="best.pth",
                    primary_metric="mAP",
                    metrics={"mAP": 0.994, "AP50": 1.0, "AP75": 1.0},
                    report_url="https://app.supervisely.com/model-benchmark?id=12961",
                )
            ),
        ),
    ],
    ids=["project", "directory", "archive", "report", "file", "error", "text", "experiment"],
)
def test_each_sdk_output_is_read(output: dict[str, Any], expected: TaskOutputs) -> None:
    assert task_outputs(output) == expected


def test_outputs_of_several_calls_are_read_together() -> None:
    output = {
        "project": {"id": 76, "title": "Lemons"},
        "experiment": {"data": EXPERIMENT_INFO},
        **general("zmdi zmdi-folder", "/experiments/76_Lemons/", titleUrl="/files/1"),
    }

    outputs = task_outputs(output)

    assert outputs is not None
    assert (outputs.project, outputs.link, outputs.experiment) != (None, None, None)
    assert outputs.to_wire()["experiment"]["artifactsDir"] == EXPERIMENT_INFO["artifacts_dir"]
    assert outputs.to_wire()["link"] == {
        "kind": "Directory",
        "title": "/experiments/76_Lemons/",
        "url": "/files/1",
    }


@pytest.mark.parametrize(
    "output",
    [
        None,
        {},
        [],
        "done",
        {"pluginVersionId": 84479, "model": {"id": 12380}},
        {"project": {"id": True}, "general": "x", "experiment": {"data": []}},
        {"project": {"id": 0, "title": "x"}, "experiment": {"data": {"task_id": 5}}},
        general("zmdi zmdi-file", "", titleUrl=""),
    ],
)
def test_nothing_known_is_no_outputs(output: object) -> None:
    assert task_outputs(output) is None


def test_long_prose_is_cut_and_long_identifiers_are_left_out() -> None:
    long = "x" * 5000
    output = {
        "project": {"id": 3, "title": long},
        "experiment": {
            "data": {
                "experiment_name": long,
                "artifacts_dir": "/" + long,
                "evaluation_report_link": "https://sly/" + long,
            }
        },
        **general("zmdi zmdi-alert-octagon", long, isError=True),
    }

    outputs = task_outputs(output)

    assert outputs is not None
    assert outputs.project is not None
    assert outputs.experiment is not None
    assert outputs.project.name == "x" * (OUTPUT_NAME_LIMIT - 1) + "…"
    assert outputs.error is not None
    assert len(outputs.error) == OUTPUT_MESSAGE_LIMIT
    assert outputs.experiment.name is not None
    assert outputs.experiment.name.endswith("…")
    assert outputs.experiment.artifacts_dir is None, "a cut path would point somewhere else"
    assert outputs.experiment.report_url is None


def test_metrics_are_finite_numbers_under_short_names_primary_first_and_bounded() -> None:
    metrics: dict[str, Any] = {f"m{i:02}": i for i in range(40)}
    metrics.update(
        {
            "nan": float("nan"),
            "inf": float("inf"),
            "flag": True,
            "text": "0.5",
            "n" * 200: 1.0,
            "zz-primary": 0.75,
        }
    )
    data = {"evaluation_metrics": metrics, "primary_metric": "zz-primary"}

    outputs = task_outputs({"experiment": {"data": data}})

    assert outputs is not None
    assert outputs.experiment is not None
    kept = outputs.experiment.metrics
    assert len(kept) == OUTPUT_METRICS_LIMIT
    assert next(iter(kept)) == "zz-primary"
    assert list(kept)[1:] == [f"m{i:02}" for i in range(OUTPUT_METRICS_LIMIT - 1)]
    assert all(isinstance(value, float) for value in kept.values())


def test_relative_links_are_made_absolute_against_the_server() -> None:
    outputs = TaskOutputs(
        link=OutputLink(kind=OutputLinkKind.FILE, title="a.json", url="/files/7"),
        experiment=OutputExperiment(report_url="https://elsewhere.example/report?id=1"),
    )

    resolved = absolute_links(outputs, server="https://sly.example.com")

    assert resolved.link is not None
    assert resolved.experiment is not None
    assert resolved.link.url == "https://sly.example.com/files/7"
    assert resolved.experiment.report_url == "https://elsewhere.example/report?id=1"


@pytest.mark.parametrize("url", ["javascript:alert(1)", "/" + "p" * OUTPUT_URL_LIMIT])
def test_links_that_are_no_web_links_or_too_long_once_absolute_are_left_out(url: str) -> None:
    outputs = TaskOutputs(link=OutputLink(kind=OutputLinkKind.FILE, title="a", url=url[:2048]))

    resolved = absolute_links(outputs, server="https://sly.example.com")

    assert resolved.link is not None
    assert resolved.link.url is None


def test_task_info_reads_meta_output_and_never_fails_on_it() -> None:
    reply = {
        "id": 5,
        "status": "finished",
        "outputs": {"project": "not ours"},
        "meta": {"output": {"project": {"id": 7, "title": "P"}, "general": 42}},
    }
    assert TaskInfo.from_reply(reply).outputs == TaskOutputs(project=OutputProject(id=7, name="P"))
    assert TaskInfo.from_reply({"id": 5, "status": "queued", "meta": None}).outputs is None
    hostile = {"id": 5, "status": "queued", "meta": {"output": {"experiment": {"data": 1}}}}
    assert TaskInfo.from_reply(hostile).outputs is None


def test_outputs_are_the_last_status_field_and_camel_case_on_the_wire() -> None:
    assert list(SuperviselyTaskStatus.model_fields)[-1] == "outputs"
    status = SuperviselyTaskStatus.model_validate(
        {"outputs": {"experiment": {"bestCheckpoint": "best.pth", "metrics": {"mAP": 0.5}}}}
    )
    assert status.outputs == TaskOutputs(
        experiment=OutputExperiment(best_checkpoint="best.pth", metrics={"mAP": 0.5})
    )
    assert status.to_wire()["outputs"] == {
        "experiment": {"bestCheckpoint": "best.pth", "metrics": {"mAP": 0.5}}
    }
