"""The operator's own kopf registry and the resources its handlers serve.

Its own registry, so importing the operator never touches kopf's global one: ``startup``,
``handlers`` and ``cron`` register on it, and ``runner`` hands it to kopf.
"""

from typing import Final

import kopf

from supervisely_operator.api import resource

registry: Final = kopf.OperatorRegistry()

RESOURCE: Final = (resource.GROUP, resource.VERSION, resource.PLURAL)
"""SuperviselyTask, as kopf's decorators name it (group, version, plural)."""

CRON_RESOURCE: Final = (resource.GROUP, resource.VERSION, resource.CRON_PLURAL)
"""SuperviselyCronTask, as kopf's decorators name it."""
