"""What the operator says of itself: its metrics endpoint and its log.

Both are read after a run and only summarised (a histogram's p95, counts of error and warning
lines with the most frequent ones), so a 10,000-object run's log costs one pass over a file.
"""

import re
from collections import Counter
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

POLL_LAG_METRIC = "supervisely_operator_poll_lag_seconds"
LOG_SAMPLES = 5


async def poll_lag(metrics_url: str) -> tuple[float | None, float | None]:
    """p95 (bucket upper bound) and mean of the operator's poll-lag histogram, if it has one."""
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            text = (await client.get(metrics_url)).text
    except httpx.HTTPError:
        return None, None
    buckets: list[tuple[float, float]] = []
    count = total = 0.0
    for family in text_string_to_metric_families(text):
        if family.name != POLL_LAG_METRIC:
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                buckets.append((float(sample.labels["le"]), sample.value))
            elif sample.name.endswith("_count"):
                count = sample.value
            elif sample.name.endswith("_sum"):
                total = sample.value
    if not count:
        return None, None
    p95 = next((le for le, seen in sorted(buckets) if seen >= 0.95 * count), None)
    return p95, total / count


async def pass_counts(metrics_url: str) -> dict[str, int]:
    """Reconcile passes the operator ran, and those that did not complete, by kind."""
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            text = (await client.get(metrics_url)).text
    except httpx.HTTPError:
        return {}
    counts: dict[str, int] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "supervisely_operator_reconcile_duration_seconds_count":
                counts["passes"] = int(sample.value)
            elif sample.name == "supervisely_operator_reconcile_errors_total":
                counts[sample.labels["kind"]] = int(sample.value)
    return counts


EVENT_NOT_POSTED = "Failed to post an event"
_LEVEL = re.compile(r"\[(ERROR|CRITICAL|WARNING) *\]|\b(ERROR|CRITICAL|WARNING)\b")
_NUMBERS = re.compile(r"\d+")


def scan_log(path: Path) -> tuple[int, int, list[str]]:
    """Error and warning lines of a log, and the most frequent of them (numbers shown as #).

    Errors come first in the samples; warnings fill the rest. Events that could not be posted
    are left out: the local control plane has no Events API, so every Event fails there.
    """
    by_level: dict[str, Counter[str]] = {"ERROR": Counter(), "WARNING": Counter()}
    if not path.exists():
        return 0, 0, []
    with path.open(errors="replace") as lines:
        for line in lines:
            match = _LEVEL.search(line)
            level = (match[1] or match[2]) if match else ("ERROR" if "Traceback" in line else "")
            if not level or EVENT_NOT_POSTED in line:
                continue
            message = line[match.end() :] if match else line
            counter = by_level["WARNING" if level == "WARNING" else "ERROR"]
            counter[_NUMBERS.sub("#", message.strip())[:200]] += 1
    samples = [
        f"{count}x {level}: {text}"
        for level, counter in by_level.items()
        for text, count in counter.most_common(LOG_SAMPLES)
    ][:LOG_SAMPLES]
    errors, warnings = (sum(counter.values()) for counter in by_level.values())
    return errors, warnings, samples
