"""The one console script, ``supervisely-operator``: each subcommand is a thin door to a layer."""

from pathlib import Path
from typing import Any

import click

from supervisely_operator.api.crd import render_crd_yaml
from supervisely_operator.api.reference import render_reference
from supervisely_operator.devcluster.cli import devcluster_group
from supervisely_operator.simulator.cli import simulator_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="supervisely-operator")
def main() -> None:
    """Run Supervisely app sessions declared as Kubernetes SuperviselyTask resources."""


main.add_command(simulator_command)
main.add_command(devcluster_group)


@main.command()
def crds() -> None:
    """Print the SuperviselyTask CustomResourceDefinition, generated from the models."""
    click.echo(render_crd_yaml(), nl=False)


@main.command()
def reference() -> None:
    """Print the README's field reference, generated from the models."""
    click.echo(render_reference())


@main.command()
@click.option(
    "-n", "--namespace", "namespaces", multiple=True, help="Watch this namespace (repeatable)."
)
@click.option("-A", "--all-namespaces", is_flag=True, help="Watch all namespaces (the default).")
@click.option("--peering", default=None, help="kopf peering name for HA; default: standalone.")
@click.option("--liveness", default=None, help="Health endpoint, e.g. http://0.0.0.0:8080/healthz.")
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
@click.option("--debug", is_flag=True, help="Log everything, kopf's internals included.")
@click.option(
    "--log-format",
    type=click.Choice(["plain", "full", "json"]),
    default=None,
    help="Log line format (default: $SUPERVISELY_OPERATOR_LOG_FORMAT, else full).",
)
def run(
    namespaces: tuple[str, ...],
    all_namespaces: bool,
    peering: str | None,
    liveness: str | None,
    verbose: bool,
    debug: bool,
    log_format: str | None,
) -> None:
    """Run the operator. Settings come from the environment; flags override them."""
    from supervisely_operator.controller.runner import run_operator
    from supervisely_operator.controller.settings import OperatorSettings

    overrides: dict[str, Any] = {}
    if namespaces and not all_namespaces:
        overrides["namespaces"] = list(namespaces)
    if all_namespaces:
        overrides["namespaces"] = []
    if peering is not None:
        overrides["peering"] = peering
    if liveness is not None:
        overrides["liveness_endpoint"] = liveness
    if log_format is not None:
        overrides["log_format"] = log_format
    config = OperatorSettings(**overrides)
    run_operator(config, verbose=verbose, debug=debug)


@main.command()
@click.option(
    "--examples",
    type=click.Path(exists=True, path_type=Path),
    default=Path(__file__).resolve().parents[2] / "examples",
    show_default="examples/ of the repository",
    help="A file or folder of SuperviselyTask manifests to apply.",
)
@click.option("--namespace", default="demo", show_default=True)
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds to wait.")
@click.option("--keep", is_flag=True, help="Keep everything running until Ctrl-C.")
@click.option(
    "--cluster",
    type=click.Choice(["embedded", "current"]),
    default="embedded",
    envvar="SUPERVISELY_OPERATOR_DEMO_CLUSTER",
    show_default=True,
    help="The local control plane, or the current kube-context.",
)
@click.option(
    "--supervisely",
    type=click.Choice(["simulator", "env"]),
    default="simulator",
    envvar="SUPERVISELY_OPERATOR_DEMO_SUPERVISELY",
    show_default=True,
    help="The embedded simulator, or the server named by SERVER_ADDRESS / API_TOKEN.",
)
def demo(
    examples: Path, namespace: str, timeout: float, keep: bool, cluster: str, supervisely: str
) -> None:
    """Run the operator's main job end to end and show it live."""
    from rich.console import Console

    from supervisely_operator.demo.run import DemoOptions, run_demo

    options = DemoOptions(
        examples=examples,
        namespace=namespace,
        timeout=timeout,
        keep=keep,
        current_cluster=cluster == "current",
        real_supervisely=supervisely == "env",
    )
    if not run_demo(options, Console()):
        raise SystemExit(1)
