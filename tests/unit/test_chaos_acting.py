"""The acting windows read from replicas' logs find every moment two replicas acted at once,
and the lines they read are the ones the operator writes."""

import asyncio
import logging
from datetime import datetime, timedelta

import pytest

from supervisely_operator.controller.leadership import Leadership

from chaosbench.acting import acting_windows, handovers, overlaps
from chaosbench.replicas import Kill
from chaosbench.run import ChaosPlan, ChaosReport

T0 = datetime(2026, 12, 7, 9, 0)


def line(seconds: float, message: str, level: str = "INFO") -> str:
    at = (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
    return f"[{at}] supervisely_operator [{level:<8}] {message}"


def log(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_replica_acts_from_leading_to_standing_down_or_to_its_death() -> None:
    text = log(
        line(1, "Leading as a (Lease ns/x): starting, stopping and writing from now on"),
        line(5, "Stood down: the claim was not renewed within the renew deadline; ...", "WARNING"),
        line(9, "Leading as a (Lease ns/x): starting, stopping and writing from now on"),
    )

    windows = acting_windows(text, replica="a", until=at(20), deaths=[at(12)])

    assert [(w.start, w.end) for w in windows] == [(at(1), at(5)), (at(9), at(12))]


def test_a_window_still_open_ends_when_the_run_stopped() -> None:
    text = log(line(1, "Leading as a (Lease ns/x): starting, stopping and writing from now on"))

    [window] = acting_windows(text, replica="a", until=at(30))

    assert window.seconds == 29


def test_two_replicas_acting_at_once_are_found_and_a_clean_handover_is_not() -> None:
    first = acting_windows(
        log(line(0, "Leading as a (x): ..."), line(10, "Stood down: lapsed; ...")),
        replica="a",
        until=at(60),
    )
    clean = acting_windows(log(line(13, "Leading as b (x): ...")), replica="b", until=at(60))
    late = acting_windows(log(line(8, "Leading as b (x): ...")), replica="b", until=at(60))

    assert overlaps([*first, *clean]) == []
    assert [h.total_seconds() for h in handovers([*first, *clean])] == [3.0]
    [both] = overlaps([*first, *late])
    assert (both.start, both.end, both.replica) == (at(8), at(10), "a+b")


def test_kopf_peerings_words_give_the_windows_of_operators_from_before_the_claim() -> None:
    text = log(
        line(2, "Resuming operations after the pause. Conflicting operators ... are gone."),
        line(7, "Pausing operations in favour of [<Peer b: priority=9>]."),
    )

    [window] = acting_windows(text, replica="a", until=at(60), vocabulary="kopf")

    assert (window.start, window.end) == (at(2), at(7))


async def test_the_windows_read_the_lines_the_operator_writes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="supervisely_operator.controller.leadership")
    leadership = Leadership(standalone=False)
    leadership.extend(asyncio.get_running_loop().time() + 0.05, holder="a (Lease ns/x)")
    await asyncio.sleep(0.1)
    lines = [
        line(index, record.getMessage(), record.levelname)
        for index, record in enumerate(caplog.records)
    ]

    [window] = acting_windows(log(*lines), replica="a", until=at(60))

    assert (window.start, window.end) == (at(0), at(1))


def test_a_failover_the_api_server_was_down_for_is_told_apart() -> None:
    report = ChaosReport(plan=ChaosPlan(resources=1, kills=2, churn_seconds=1, replicas=2))
    report.failovers = [(at(0), 11.0), (at(100), 19.0)]
    report.outages = [(at(105), at(112))]

    assert report.single_fault_failovers() == [11.0]
    assert "longest 19.0 s (11.0 s of 1 with no other fault around)" in report.summary()


def test_a_slow_failover_names_what_happened_around_it() -> None:
    report = ChaosReport(plan=ChaosPlan(resources=1, kills=2, churn_seconds=1, replicas=2))
    report.failovers = [(at(20), 11.0), (at(100), 17.0), (at(200), 16.0)]
    report.kills_log = [
        Kill("b", at(97), acting=False),
        Kill("a", at(100), acting=True),
        Kill("b", at(200), acting=True),
        Kill("a", at(208), acting=False),  # the standby, killed while it waited to take over
    ]

    assert report.slow_failovers() == [
        "17.0 s after 09:01:40; b killed 09:01:37",
        "16.0 s after 09:03:20; a killed 09:03:28",
    ]
    assert report.single_fault_failovers() == [11.0]
