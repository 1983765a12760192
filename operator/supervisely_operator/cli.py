"""The one console script: ``supervisely-operator run | simulator | crds``."""

import click


@click.group()
def main() -> None:
    """Kubernetes operator for Supervisely app sessions."""
