"""The one console script, ``supervisely-operator``: each subcommand is a thin door to a layer."""

from typing import Any

import click

from supervisely_operator.api.crd import render_crd_yaml


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="supervisely-operator")
def main() -> None:
    """Run Supervisely app sessions declared as Kubernetes SuperviselyTask resources."""


@main.command()
def crds() -> None:
    """Print the SuperviselyTask CustomResourceDefinition, generated from the models."""
    click.echo(render_crd_yaml(), nl=False)


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
    default="full",
    show_default=True,
)
def run(
    namespaces: tuple[str, ...],
    all_namespaces: bool,
    peering: str | None,
    liveness: str | None,
    verbose: bool,
    debug: bool,
    log_format: str,
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
    config = OperatorSettings(**overrides)
    run_operator(config, verbose=verbose, debug=debug, log_format=log_format)
