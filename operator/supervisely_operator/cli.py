"""The one console script, ``supervisely-operator``: each subcommand is a thin door to a layer.

The test tooling (simulator, dev cluster, demo) is loaded only when its subcommand runs, so
``supervisely-operator run`` imports none of it (an import-linter contract and a test check).
"""

import importlib
from pathlib import Path
from typing import Any

import click

from supervisely_operator.api.crd import render_crd_yaml
from supervisely_operator.api.reference import blocks_in, refresh, render_reference

LAZY_COMMANDS = {
    "simulator": "supervisely_devkit.simulator.cli:simulator_command",
    "devcluster": "supervisely_devkit.devcluster.cli:devcluster_group",
    "demo": "supervisely_devkit.demo.cli:demo_command",
}
"""Subcommands imported on first use: name -> module:attribute."""


class LazyGroup(click.Group):
    """A click group whose tooling subcommands are imported only when invoked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = LAZY_COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, attribute = target.split(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="supervisely-operator")
def main() -> None:
    """Run Supervisely app sessions declared as Kubernetes SuperviselyTask resources."""


@main.command()
def crds() -> None:
    """Print the SuperviselyTask CustomResourceDefinition, generated from the models."""
    click.echo(render_crd_yaml(), nl=False)


@main.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def reference(files: tuple[Path, ...]) -> None:
    """Print the README's field reference; given FILES, refresh their generated blocks instead.

    The blocks (field reference, reasons table, health.lua's self-healing reasons) are generated
    from the models and the one list of reasons.
    """
    if not files:
        click.echo(render_reference())
    for path in files:
        text = path.read_text()
        if not blocks_in(text):
            raise click.ClickException(f"{path} holds no generated block")
        path.write_text(refresh(text))


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
