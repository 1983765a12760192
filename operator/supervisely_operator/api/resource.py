"""Names of the operator's resources, in one place so the CRDs, operator and tests agree."""

from collections.abc import Mapping
from typing import Final

GROUP: Final = "supervisely.com"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "SuperviselyTask"
LIST_KIND: Final = "SuperviselyTaskList"
PLURAL: Final = "superviselytasks"
SINGULAR: Final = "superviselytask"
SHORT_NAMES: Final = ("slytask",)
CATEGORIES: Final = ("supervisely",)
CRD_NAME: Final = f"{PLURAL}.{GROUP}"

CRON_KIND: Final = "SuperviselyCronTask"
CRON_LIST_KIND: Final = "SuperviselyCronTaskList"
CRON_PLURAL: Final = "superviselycrontasks"
CRON_SINGULAR: Final = "superviselycrontask"
CRON_SHORT_NAMES: Final = ("slycron",)
CRON_CRD_NAME: Final = f"{CRON_PLURAL}.{GROUP}"

# Annotations: requests that must not drift from Git (an Argo CD action sets them), and the
# pause switch. Each request is acted on once per value; status records the value it answered.
RESTART_ANNOTATION: Final = f"{GROUP}/restart-requested-at"
"""Start a new task now (stopping the current one), once per value."""
REFRESH_ANNOTATION: Final = f"{GROUP}/refresh-requested-at"
"""Reconcile and look at Supervisely now, once per value."""
PAUSED_ANNOTATION: Final = f"{GROUP}/paused"
""""true": the operator leaves the resource alone (no calls, no writes) until it is removed."""
TRIGGER_ANNOTATION: Final = f"{GROUP}/trigger-requested-at"
"""On a SuperviselyCronTask: start one run now, once per value (Argo CD's action "trigger")."""
SCHEDULED_AT_ANNOTATION: Final = f"{GROUP}/scheduled-at"
"""On a SuperviselyCronTask's run: the tick it was made for (RFC 3339), or "manual"."""
CRON_LABEL: Final = f"{GROUP}/cron"
"""On a SuperviselyCronTask's run: the name of the cron task that made it."""


def is_paused(annotations: Mapping[str, str] | None) -> bool:
    """Whether the paused annotation says so (exactly "true", as Crossplane reads its own)."""
    return (annotations or {}).get(PAUSED_ANNOTATION) == "true"
