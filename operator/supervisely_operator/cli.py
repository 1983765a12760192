"""The one console script, ``supervisely-operator``: each subcommand is a thin door to a layer.

The test tooling (simulator, dev cluster, demo) ships apart, in supervisely-operator-devkit,
which adds its subcommands through the ``supervisely_operator.commands`` entry point group.
Where it is installed they appear here, each imported only when it is looked up, so
``supervisely-operator run`` imports none of it (an import-linter contract and a test check);
where it is not (the image), asking for one says how to install it.
"""

import asyncio
import logging
import re
import sys
from datetime import UTC, datetime
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import click

from supervisely_operator.api import resource
from supervisely_operator.api.crd import KINDS, render_all_crds_yaml, render_crd_yaml
from supervisely_operator.api.reference import (
    BLOCKS,
    MARKDOWN,
    Block,
    blocks_in,
    refresh,
    render_reference,
)

COMMANDS_GROUP = "supervisely_operator.commands"
"""The entry point group whose members become subcommands: name -> a click command."""

DEVKIT = "supervisely-operator-devkit"
DEVKIT_INSTALL = {
    "simulator": "./operator/devkit",
    "devcluster": "./operator/devkit[devcluster]",
    "demo": "./operator/devkit[demo]",
}
"""The devkit's subcommands and what installs each (from a checkout: it is not on PyPI)."""


def generated_blocks() -> tuple[Block, ...]:
    """Every block ``reference`` refreshes: the API's, and the table of the one list of metrics
    (declared in the controller, imported only here)."""
    from supervisely_operator.controller.metric_list import metrics_table

    return (*BLOCKS, Block("metrics", MARKDOWN, metrics_table))


class PluginGroup(click.Group):
    """A click group that adds the subcommands other distributions register as entry points.

    Listing them reads only the installed distributions' metadata; a subcommand's module is
    imported when that subcommand is looked up (to run it, or for its line in ``--help``).
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_registered(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        entry_point = _registered(ctx).get(cmd_name)
        if entry_point is None:
            if cmd_name not in DEVKIT_INSTALL:
                return None
            return _unavailable(
                cmd_name,
                f"`supervisely-operator {cmd_name}` comes with {DEVKIT}, which is not installed;"
                f" from a checkout: pip install '{DEVKIT_INSTALL[cmd_name]}'",
            )
        try:
            loaded: click.Command = entry_point.load()
        except ModuleNotFoundError as exc:
            return _unavailable(cmd_name, _missing_dependency(entry_point, exc))
        return loaded


def _registered(ctx: click.Context) -> dict[str, EntryPoint]:
    """The group's entry points, read once per invocation (``--help`` looks up each one)."""
    if COMMANDS_GROUP not in ctx.meta:
        found = entry_points(group=COMMANDS_GROUP)
        ctx.meta[COMMANDS_GROUP] = {entry_point.name: entry_point for entry_point in found}
    registered: dict[str, EntryPoint] = ctx.meta[COMMANDS_GROUP]
    return registered


def _missing_dependency(entry_point: EntryPoint, exc: ModuleNotFoundError) -> str:
    """Say which module is missing and, when the distribution has an extra named after the
    command (the devkit's ``devcluster`` and ``demo``), which install brings it."""
    message = f"`supervisely-operator {entry_point.name}` needs {exc.name}, which is not installed"
    dist = entry_point.dist
    if dist is not None and entry_point.name in (dist.metadata.get_all("Provides-Extra") or []):
        message += f"; install {dist.name}[{entry_point.name}]"
    return message


def _unavailable(name: str, reason: str) -> click.Command:
    """A stand-in that fails with ``reason`` whatever it is given, ``--help`` included."""

    def fail() -> None:
        raise click.ClickException(reason)

    return click.Command(
        name,
        callback=fail,
        help=reason,
        add_help_option=False,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


@click.group(cls=PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="supervisely-operator")
def main() -> None:
    """Run Supervisely app sessions declared as Kubernetes SuperviselyTask resources."""


@main.command()
@click.option(
    "--into",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write one file per CRD into this directory (as crds/ holds them) instead of printing.",
)
def crds(into: Path | None) -> None:
    """Print the operator's CustomResourceDefinitions (SuperviselyTask, SuperviselyCronTask),
    generated from the models."""
    if into is None:
        click.echo(render_all_crds_yaml(), nl=False)
        return
    for kind in KINDS:
        (into / kind.file_name).write_text(render_crd_yaml(kind))


@main.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def reference(files: tuple[Path, ...]) -> None:
    """Print the README's field reference; given FILES, refresh their generated blocks instead.

    The blocks (field reference, reasons table, health.lua's self-healing reasons, metrics table)
    are generated from the models, the one list of reasons and the one list of metrics.
    """
    if not files:
        click.echo(render_reference())
    blocks = generated_blocks()
    for path in files:
        text = path.read_text()
        if not blocks_in(text, blocks):
            raise click.ClickException(f"{path} holds no generated block")
        path.write_text(refresh(text, blocks))


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
@click.argument("target")
@click.option("-n", "--namespace", default=None, help="Namespace (default: the context's).")
def trigger(target: str, namespace: str | None) -> None:
    """Run a SuperviselyCronTask once now, as Argo CD's action "trigger" does.

    TARGET is slycron/NAME (or superviselycrontask/NAME, or NAME). The operator makes the run
    once for the time written, whatever the concurrency policy, and records it in
    status.triggerHandled.
    """
    kind, _, name = target.rpartition("/")
    if kind and kind not in ("slycron", resource.CRON_SINGULAR, resource.CRON_PLURAL):
        raise click.BadParameter(f"{kind!r} is not a SuperviselyCronTask", param_hint="TARGET")
    try:
        namespace, moment = trigger_cron(namespace=namespace, name=name)
    except LookupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"superviselycrontask/{name} triggered in {namespace} ({moment})")


def trigger_cron(*, namespace: str | None, name: str) -> tuple[str, str]:
    """Write a SuperviselyCronTask's trigger annotation now (``supervisely-operator trigger``);
    the namespace used (the kubeconfig context's when None) and the time written. Raises
    ``LookupError`` for a cron task that does not exist."""
    import kubernetes

    from supervisely_operator.controller.kube import load_kube_config

    api_client = load_kube_config()
    if namespace is None:
        namespace = _context_namespace()
    moment = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    patch = {"metadata": {"annotations": {resource.TRIGGER_ANNOTATION: moment}}}
    try:
        kubernetes.client.CustomObjectsApi(api_client).patch_namespaced_custom_object(
            group=resource.GROUP,
            version=resource.VERSION,
            plural=resource.CRON_PLURAL,
            namespace=namespace,
            name=name,
            body=patch,
        )
    except kubernetes.client.ApiException as error:
        if error.status == 404:
            raise LookupError(f"superviselycrontask/{name} not found in {namespace}") from None
        raise
    finally:
        api_client.close()  # type: ignore[no-untyped-call]  # the official client is untyped
    return namespace, moment


def _context_namespace() -> str:
    """The namespace of the kubeconfig's current context (in a pod: its own)."""
    import kubernetes

    try:
        _, context = kubernetes.config.list_kube_config_contexts()  # type: ignore[no-untyped-call]
    except kubernetes.config.ConfigException:
        return "default"
    namespace: str = (context or {}).get("context", {}).get("namespace") or "default"
    return namespace


RESOURCE_ARGUMENT = re.compile(
    r"^(?:(?:slytask|superviselytasks?)(?:\.supervisely\.com)?/)?(?P<name>[a-z0-9]([-.a-z0-9]*[a-z0-9])?)$"
)
"""``NAME`` or ``TYPE/NAME``, with the type as kubectl spells it (short name, singular, plural)."""


@click.command()
@click.argument("resource", metavar="slytask/NAME")
@click.option(
    "-n", "--namespace", default=None, help="The resource's namespace (default: the context's)."
)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until the task ends.")
@click.option(
    "--since", default=None, help="Lines newer than a duration (10m, 1h30m) or an RFC 3339 time."
)
@click.option(
    "--tail", type=click.IntRange(min=-1), default=-1, help="The last N lines only (-1: all)."
)
@click.option(
    "--task-id",
    type=int,
    default=None,
    help="An earlier task of the resource (status.previousTaskIds).",
)
@click.option("--timestamps", is_flag=True, help="Prefix each line with its time and level.")
@click.option("--kubeconfig", default=None, help="The kubeconfig to use (default: $KUBECONFIG).")
@click.option("--context", default=None, help="The kubeconfig context to use.")
def logs(
    resource: str,
    namespace: str | None,
    follow: bool,
    since: str | None,
    tail: int,
    task_id: int | None,
    timestamps: bool,
    kubeconfig: str | None,
    context: str | None,
) -> None:
    """Print the log of a SuperviselyTask's task, read from Supervisely.

    The resource names the task (its current one, or with --task-id an earlier one) and the
    credentials (its credentialsSecretRef, else SERVER_ADDRESS and API_TOKEN of the environment),
    as the operator has them; the Secret is read with your Kubernetes credentials.
    """
    from kubernetes.config import ConfigException

    from supervisely_operator.controller.credentials import Credentials
    from supervisely_operator.controller.kube import KubeApi, load_cli_kube_config
    from supervisely_operator.controller.reconciler import utc_now
    from supervisely_operator.controller.settings import OperatorSettings
    from supervisely_operator.controller.task_logs import (
        LogRequest,
        LogsRefused,
        format_entry,
        parse_since,
        show_logs,
    )

    match = RESOURCE_ARGUMENT.match(resource)
    if match is None:
        raise click.BadParameter(
            "give a SuperviselyTask as slytask/NAME (or NAME)", param_hint="slytask/NAME"
        )
    try:
        api_client, context_namespace = load_cli_kube_config(kubeconfig, context)
        config = OperatorSettings()
        environment = None
        if config.server_address and config.api_token:
            environment = Credentials(
                server_address=config.server_address, api_token=config.api_token
            )
        request = LogRequest(
            namespace=namespace or context_namespace,
            name=match["name"],
            task_id=task_id,
            since=parse_since(since, now=utc_now()) if since else None,
            tail=None if tail < 0 else tail,
            follow=follow,
        )
    except LogsRefused as refused:
        raise click.ClickException(str(refused)) from None
    except (ConfigException, OSError) as error:  # no usable kubeconfig: its loader's words
        raise click.ClickException(f"no Kubernetes configuration: {error}") from None
    kube = KubeApi(api_client, threads=1)

    async def show() -> None:
        await show_logs(
            kube,
            request,
            environment=environment,
            write=lambda entry: click.echo(format_entry(entry, timestamps=timestamps)),
            note=lambda text: click.echo(text, err=True),
        )

    # The operator's own log lines (an API server outage, a Retry-After) are not this command's
    # output: with no handler of their own they would reach stderr through logging's last resort.
    quiet = logging.NullHandler()
    logging.getLogger("supervisely_operator").addHandler(quiet)
    try:
        asyncio.run(show())
    except LogsRefused as refused:
        raise click.ClickException(str(refused)) from None
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        logging.getLogger("supervisely_operator").removeHandler(quiet)
        kube.close()


main.add_command(logs)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def kubectl_slytask() -> None:
    """SuperviselyTask commands for kubectl: `kubectl slytask logs NAME` (a kubectl plugin,
    installed as kubectl-slytask with the operator)."""


kubectl_slytask.add_command(logs)
