"""How far apart a workspace's lists come: the pure pace of the poller."""

from hypothesis import given
from hypothesis import strategies as st

from supervisely_operator.remote.poller import PollTiming, list_gap

TIMING = PollTiming(interval=5.0, transition_interval=1.0, idle_interval=30.0, per_page=500)


def test_lists_come_at_the_transition_interval_while_something_changes() -> None:
    assert list_gap(TIMING, busy=True, asked=[], unchanged_lists=100) == 1.0


def test_quiet_lists_stretch_by_half_each_up_to_the_idle_interval() -> None:
    gaps = [list_gap(TIMING, busy=False, asked=[], unchanged_lists=n) for n in range(6)]
    assert gaps == [5.0, 7.5, 11.25, 16.875, 25.3125, 30.0]


def test_a_resource_asking_for_a_shorter_interval_gets_it_down_to_the_transition_one() -> None:
    assert list_gap(TIMING, busy=False, asked=[2.0], unchanged_lists=9) == 2.0
    assert list_gap(TIMING, busy=False, asked=[0.1], unchanged_lists=9) == 1.0


@given(st.integers(min_value=0, max_value=10**9))
def test_months_of_quiet_never_overflow_and_stay_at_the_idle_interval(unchanged: int) -> None:
    """1.5**1751 overflows a float: about 15 hours of 30 s lists without a change."""
    gap = list_gap(TIMING, busy=False, asked=[], unchanged_lists=unchanged)
    assert 5.0 <= gap <= 30.0
    if unchanged >= 6:
        assert gap == 30.0
