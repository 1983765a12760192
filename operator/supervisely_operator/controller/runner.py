"""Start kopf with the operator's handlers and settings (``supervisely-operator run``)."""

import kopf

from supervisely_operator.controller import handlers
from supervisely_operator.controller.settings import OperatorSettings


def run_operator(config: OperatorSettings, *, verbose: bool, debug: bool, log_format: str) -> None:
    """Run until SIGINT/SIGTERM; blocks."""
    kopf.configure(verbose=verbose, debug=debug, log_format=kopf.LogFormat[log_format.upper()])
    kopf.run(
        registry=handlers.registry,
        memo=kopf.Memo(config=config),
        standalone=config.peering is None,
        peering_name=config.peering,
        clusterwide=not config.namespaces,
        namespaces=config.namespaces,
        liveness_endpoint=config.liveness_endpoint,
    )
