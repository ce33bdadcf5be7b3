"""`marketbot run`'s process-wide settings: switch interval, collector thresholds, frozen start-up objects."""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Iterator

import pytest

from bot.app.interpreter import GC_THRESHOLDS, SWITCH_INTERVAL, settle, tune_interpreter


@pytest.fixture
def restored() -> Iterator[None]:
    """Put back what the functions change: the rest of the suite runs in this process."""
    interval, thresholds = sys.getswitchinterval(), gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        sys.setswitchinterval(interval)


def test_tune_interpreter_shortens_the_switch_interval_and_sets_the_thresholds(restored: None) -> None:
    sys.setswitchinterval(0.005)
    tune_interpreter()
    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL)
    assert gc.get_threshold() == GC_THRESHOLDS


def test_tune_interpreter_keeps_a_shorter_switch_interval(restored: None) -> None:
    sys.setswitchinterval(SWITCH_INTERVAL / 2)
    tune_interpreter()
    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL / 2)


def test_settle_freezes_what_is_alive_and_collects_the_garbage_first(restored: None) -> None:
    gc.unfreeze()

    class Node:
        def __init__(self) -> None:
            self.other: Node | None = None

    kept = Node()
    cycle_a, cycle_b = Node(), Node()  # a reference cycle nobody holds: garbage
    cycle_a.other, cycle_b.other = cycle_b, cycle_a
    gone = weakref.ref(cycle_a)
    del cycle_a, cycle_b
    settle()
    assert gone() is None, "garbage is collected before the freeze, not kept for ever"
    assert gc.get_freeze_count() > 0
    assert all(o is not kept for o in gc.get_objects()), "a frozen object is in no generation"


def test_the_cli_sets_run_s_collector_thresholds_before_its_imports() -> None:
    """``python -m bot`` and ``main()`` start with the thresholds ``marketbot run`` keeps."""
    import subprocess

    code = "import gc, bot.__main__; print(tuple(gc.get_threshold()))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == str(GC_THRESHOLDS)
