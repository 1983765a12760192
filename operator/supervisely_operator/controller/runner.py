"""Start kopf with the operator's handlers and settings (``supervisely-operator run``)."""

import logging
import re
import secrets
import socket
from typing import Any

import kopf

from supervisely_operator.api import resource
from supervisely_operator.controller import cron, handlers, startup
from supervisely_operator.controller.registry import registry
from supervisely_operator.controller.settings import OperatorSettings

HANDLER_MODULES = (startup, handlers, cron)
"""The modules whose handlers are on ``registry``: imported for that, named so it shows."""


def operator_options(config: OperatorSettings) -> dict[str, Any]:
    """What makes kopf run this operator: registry, memo, peering and scope.

    ``kopf.run`` below and ``kopf.operator`` (which runs in an existing event loop, as the
    integration tests do) take the same keywords, so both start the same operator.
    """
    identity = replica_identity()
    return {
        "registry": registry,
        "memo": kopf.Memo(config=config, identity=identity),
        "standalone": config.peering is None,
        "peering_name": config.peering,
        "identity": identity,
        "clusterwide": not config.namespaces,
        "namespaces": config.namespaces,
        "liveness_endpoint": config.liveness_endpoint,
    }


def replica_identity() -> str:
    """This process's name in kopf's peering and on the claim to act: the host's name (a pod's
    name, in a cluster) and a random suffix, so that a restarted process is a newcomer that
    waits for the claim to lapse, as kopf's own identities are."""
    return f"{socket.gethostname()}/{secrets.token_hex(3)}"


FIRST_ATTEMPT = re.compile(r"Request attempt #1\b")
REQUEST_LOGGERS = ("httpx", "httpcore", "supervisely_operator.supervisely")
"""Loggers that speak once per HTTP request: heard only with ``--debug``."""
WATCH_LOGGER = "kopf._cogs.clients.watching"
GIVEN_UP = re.compile(
    r"^Watch-stream for (?P<resource>\S+) (?P<where>.+) is inactive, reconnecting\.$"
)
KINDS = {
    resource.PLURAL: resource.KIND,
    resource.CRON_PLURAL: resource.CRON_KIND,
    "clusterkopfpeerings": "ClusterKopfPeering",
    "kopfpeerings": "KopfPeering",
    "customresourcedefinitions": "CustomResourceDefinition",
    "namespaces": "Namespace",
}
"""The kinds whose streams kopf watches for this operator, by plural."""


def configure_logging(config: OperatorSettings, *, verbose: bool, debug: bool) -> None:
    """One line per event that matters, each naming its resource in every format."""
    log_format = kopf.LogFormat[config.log_format.upper()]
    # kopf's default (False) names the object only in json lines; None prefixes "[ns/name]" to
    # every text line about an object, so a line about a resource names it in every format.
    kopf.configure(verbose=verbose, debug=debug, log_format=log_format, log_prefix=None)
    for name in REQUEST_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.WARNING)
    if not debug:
        logging.getLogger("kopf.objects").addFilter(handlers.QuietHandlerSuccess())
        for handler in logging.getLogger().handlers:
            handler.addFilter(QuietRetries())
    # kopf says it gave up on a silent stream at DEBUG only: hear that one line, drop the rest.
    watching = logging.getLogger(WATCH_LOGGER)
    watching.addFilter(SilentWatchWarning(config.watch_inactivity_timeout, debug=verbose or debug))
    watching.setLevel(logging.DEBUG)


class QuietRetries(logging.Filter):
    """kopf's API requests log an ERROR on every retry: during an API server restart, every
    second for each watch. Keep the first attempt of a retried request, as a WARNING (a retry
    is under way, nothing has failed for good), and drop the retries that follow; a request
    that gives up ("escalating") stays an ERROR."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if not message.startswith("Request attempt #") or "; will retry" not in message:
            return True
        if not FIRST_ATTEMPT.match(message):
            return False
        record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        return True


class SilentWatchWarning(logging.Filter):
    """kopf gives up on a watch stream that delivered nothing for the inactivity timeout, and
    says so at DEBUG. With the timeouts set in ``startup.configure_kopf`` a healthy stream
    never gets there (the API server ends it first), so each such line is a silent stream, and
    changes to its objects went unseen until now: one WARNING, naming the kind. The logger's
    other DEBUG lines pass only with ``--verbose`` or ``--debug``."""

    def __init__(self, timeout: float, *, debug: bool) -> None:
        super().__init__()
        self._timeout = timeout
        self._debug = debug

    def filter(self, record: logging.LogRecord) -> bool:
        given_up = GIVEN_UP.match(str(record.msg))
        if given_up is None:
            return self._debug or record.levelno > logging.DEBUG
        name = given_up["resource"]
        kind = KINDS.get(name.split(".", 1)[0], name)
        record.msg = (
            f"The watch of {kind} ({name}) {given_up['where']} delivered nothing for "
            f"{self._timeout:g} s although the API server ends every watch sooner: it was "
            "silent, and is opened again from its last resourceVersion (changes made meanwhile "
            "arrive now)"
        )
        record.args = ()
        record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        return True


def run_operator(config: OperatorSettings, *, verbose: bool, debug: bool) -> None:
    """Run until SIGINT/SIGTERM; blocks."""
    configure_logging(config, verbose=verbose, debug=debug)
    kopf.run(**operator_options(config))
