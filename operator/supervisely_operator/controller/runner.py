"""Start kopf with the operator's handlers and settings (``supervisely-operator run``)."""

from typing import Any

import kopf

from supervisely_operator.controller import handlers
from supervisely_operator.controller.settings import OperatorSettings


def operator_options(config: OperatorSettings) -> dict[str, Any]:
    """What makes kopf run this operator: registry, memo, peering and scope.

    ``kopf.run`` below and ``kopf.operator`` (which runs in an existing event loop, as the
    integration tests do) take the same keywords, so both start the same operator.
    """
    return {
        "registry": handlers.registry,
        "memo": kopf.Memo(config=config),
        "standalone": config.peering is None,
        "peering_name": config.peering,
        "clusterwide": not config.namespaces,
        "namespaces": config.namespaces,
        "liveness_endpoint": config.liveness_endpoint,
    }


def run_operator(config: OperatorSettings, *, verbose: bool, debug: bool) -> None:
    """Run until SIGINT/SIGTERM; blocks."""
    log_format = kopf.LogFormat[config.log_format.upper()]
    kopf.configure(verbose=verbose, debug=debug, log_format=log_format)
    kopf.run(**operator_options(config))
