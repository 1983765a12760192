"""Break each guard of the operator in turn and run the tests that must catch it.

A guard is held when breaking it turns its tests red every time: each mutant is applied to the
source, its tests run ``--runs`` times, and the source is restored (also on Ctrl-C). The table
says, per guard, how many runs went red; anything but all of them is a guard weakly held.

    .venv/bin/python bench/mutations.py            # every guard, 3 runs each
    .venv/bin/python bench/mutations.py --runs 1 backoff-cap

Run it alone on the machine: the tests are timed, and a loaded machine makes them slow, not red.
"""

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "operator" / "supervisely_operator"


@dataclass(frozen=True)
class Mutant:
    """One guard, how to break it, and the tests that must catch it (below the e2e tier)."""

    name: str
    path: str
    guard: str
    broken: str
    tests: tuple[str, ...]


MUTANTS = (
    Mutant(
        "backoff-cap",
        "reconcile/backoff.py",
        "return timedelta(seconds=min(seconds, backoff.max_delay_seconds))",
        "return timedelta(seconds=seconds)",
        ("tests/unit/test_reconcile_guards.py",),
    ),
    Mutant(
        "restart-count-across-a-refused-start",
        "reconcile/decide.py",
        "restarts=status.restarts if same_spec else 0",
        "restarts=0",
        ("tests/unit/test_reconcile_guards.py",),
    ),
    Mutant(
        "active-deadline-while-queued",
        "reconcile/task_life.py",
        "deadline = None if observing else _deadline(",
        "deadline = None if observing or waiting else _deadline(",
        ("tests/unit/test_reconcile_guards.py",),
    ),
    Mutant(
        "start-grace",
        "reconcile/decide.py",
        "    if situation.now < grace_ends:\n        # The start may",
        "    if False:\n        # The start may",
        ("tests/unit/test_reconcile_guards.py",),
    ),
    Mutant(
        "start-deadline-gives-outcome-unknown",
        "remote/adapter.py",
        "async with asyncio.timeout(self._start_deadline):",
        "async with asyncio.timeout(None):",
        (
            "tests/integration/test_remote_poller.py::test_a_start_held_past_the_deadline_is_given_up_as_of_unknown_outcome",
        ),
    ),
    Mutant(
        "started-task-record",
        "controller/reconciler.py",
        "records_facts=isinstance(given, ActionTaken),",
        "records_facts=False,",
        ("tests/integration/test_controller_pass.py",),
    ),
    Mutant(
        "uid-guard-of-status-writes",
        "controller/reconciler.py",
        "same_object = fresh.resource.uid == resource.uid and fresh.status == snapshot.status",
        "same_object = fresh.status == snapshot.status",
        ("tests/integration/test_controller_pass.py",),
    ),
    Mutant(
        "pause",
        "controller/loop.py",
        "            if _paused(obj):",
        "            if False:",
        ("tests/integration/test_controller_one_fake.py",),
    ),
    Mutant(
        "finalizer-kept-until-stopped",
        "controller/loop.py",
        "        return result.plan.release",
        "        return True",
        ("tests/integration/test_controller_one_fake.py",),
    ),
    Mutant(
        "one-owner-per-task",
        "remote/ownership.py",
        "holder = self._held.setdefault((server, adopting), claimant)",
        "holder = self._held[(server, adopting)] = claimant",
        ("tests/unit/test_remote_ownership.py",),
    ),
    Mutant(
        "owner-across-credentials",
        "remote/ownership.py",
        "        return client.server == server",
        "        return False",
        ("tests/unit/test_remote_ownership.py",),
    ),
    Mutant(
        "retried-as-the-list-says",
        "remote/translate.py",
        "retryable=REASONS[error.reason].retried,",
        "retryable=isinstance(error, Transient),",
        ("tests/unit/test_reasons.py",),
    ),
    Mutant(
        "versions-written-over-handed-on",
        "controller/loop.py",
        "result if last is None or obj is not last.snapshot else result.following(last)",
        "result",
        ("tests/integration/test_controller_pass.py",),
    ),
    Mutant(
        "act-only-while-leading",
        "controller/leadership.py",
        "        if not self.leading:\n            raise NotLeading(self._reason)",
        "        if False:\n            raise NotLeading(self._reason)",
        ("tests/unit/test_controller_leadership.py",),
    ),
    Mutant(
        "next-tick-after-a-clock-change",
        "reconcile/schedule.py",
        "return next((tick for tick in _instants(ticks, tz) if tick > after), None)",
        "return next(_instants(ticks, tz), None)",
        ("tests/unit/test_reconcile_cron.py",),
    ),
    Mutant(
        "poller-gap-capped",
        "remote/poller.py",
        "1.5 ** min(unchanged_lists, SLOWING_STEPS)",
        "1.5 ** unchanged_lists",
        ("tests/unit/test_remote_pace.py",),
    ),
    Mutant(
        "launch-fields-from-roles",
        "api/spec.py",
        "    poll_interval_seconds: Annotated[int | None, POLICY]",
        "    poll_interval_seconds: Annotated[int | None, LAUNCH]",
        ("tests/unit/test_field_roles.py",),
    ),
)


def run(mutant: Mutant, runs: int) -> tuple[int, float]:
    """Apply ``mutant``, run its tests ``runs`` times; red runs and seconds per run."""
    path = SOURCE / mutant.path
    original = path.read_text()
    if original.count(mutant.guard) != 1:
        raise SystemExit(f"{mutant.name}: the guard is not found once in {mutant.path}")
    red = 0
    started = time.monotonic()
    try:
        path.write_text(original.replace(mutant.guard, mutant.broken))
        for _ in range(runs):
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-q",
                    "-x",
                    "-p",
                    "no:cacheprovider",
                    *mutant.tests,
                ],
                cwd=REPO,
                capture_output=True,
                check=False,
            )
            red += done.returncode != 0
    finally:
        path.write_text(original)
    return red, (time.monotonic() - started) / runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="guards to break (default: all)")
    parser.add_argument("--runs", type=int, default=3, help="test runs per mutant")
    args = parser.parse_args()
    chosen = [m for m in MUTANTS if not args.names or m.name in args.names]
    print("| guard | where | tests | red runs | seconds a run |")
    print("|---|---|---|---|---|")
    weak = []
    for mutant in chosen:
        red, seconds = run(mutant, args.runs)
        tests = ", ".join(Path(t.split("::")[0]).name for t in mutant.tests)
        print(f"| {mutant.name} | {mutant.path} | {tests} | {red}/{args.runs} | {seconds:.1f} |")
        if red != args.runs:
            weak.append(mutant.name)
    if weak:
        raise SystemExit(f"weakly held: {', '.join(weak)}")


if __name__ == "__main__":
    main()
