"""Which of a resource's failure rules matches a failure: podFailurePolicy's idea for a task.

A rule names matchers (the remote status, the failure's reason, an RE2 expression on the
message or on one of the last log lines) and an action; every matcher a rule sets must match,
and the first matching rule decides. The decision asks this once per failure and keeps the
verdict in ``lastError``, so the log is never read again for it.
"""

import re
from collections.abc import Sequence

from supervisely_operator.api import FailureRule


def first_matching_rule(
    rules: Sequence[FailureRule],
    *,
    remote_status: str | None,
    reason: str,
    message: str,
    log: Sequence[str],
) -> tuple[int, FailureRule] | None:
    """The first rule (numbered from 1, as users count them) that matches, if any.

    ``remote_status`` is None for a task that no longer exists; ``message`` is lastError's
    message without the log tail.
    """
    for number, rule in enumerate(rules, start=1):
        if _matches(rule, remote_status=remote_status, reason=reason, message=message, log=log):
            return number, rule
    return None


def _matches(
    rule: FailureRule,
    *,
    remote_status: str | None,
    reason: str,
    message: str,
    log: Sequence[str],
) -> bool:
    """Every matcher the rule sets matches (a rule sets at least one)."""
    if rule.on_remote_status is not None and remote_status not in rule.on_remote_status:
        return False
    if rule.on_reason is not None and reason not in rule.on_reason:
        return False
    if rule.on_message is not None and re.search(rule.on_message, message) is None:
        return False
    return rule.on_log_line is None or any(re.search(rule.on_log_line, line) for line in log)
