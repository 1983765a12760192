"""``supervisely-operator demo``: the operator's main job end to end, shown live."""

from pathlib import Path

import click


@click.command("demo")
@click.option(
    "--examples",
    type=click.Path(exists=True, path_type=Path),
    default=Path(__file__).resolve().parents[4] / "examples",
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
def demo_command(
    examples: Path, namespace: str, timeout: float, keep: bool, cluster: str, supervisely: str
) -> None:
    """Run the operator's main job end to end and show it live."""
    from rich.console import Console

    from supervisely_devkit.demo.run import DemoOptions, run_demo

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
