"""Process-wide interpreter settings of ``marketbot run``: thread switching and the garbage collector.

They belong to the process, not to a service, so only start-up sets them:

- ``tune_interpreter()`` once, before the services open: a short thread switch interval (worker
  threads, parsing feeds or matching rules, keep the GIL up to the switch interval whenever the
  event loop lets go of it for a system call: at the default 5 ms the hundred sends and reads of
  a burst of responses add up to half a second of loop lag), and rarer young collections (a poll
  cycle allocates hundreds of thousands of short-lived objects; each young collection that runs
  also counts towards the next full one).
- ``settle()`` after start-up has loaded config, symbol directory and watchlists, and again once
  the first poll cycle is done: one collection, then ``gc.freeze()``. The compiled watchlists,
  the directory and the story index live as long as the process; frozen, a full collection no
  longer walks them, and those walks were the event loop's longest stalls (0.1-0.5 s each with
  10,000 watchlists). Frozen objects that die later are still freed by reference counting; a
  reference cycle among them would stay, so at most what was alive at these two moments (once,
  not per reload: objects made later, such as reloaded watchlists, are not frozen).
"""

from __future__ import annotations

import gc
import sys

from bot import GC_THRESHOLDS

SWITCH_INTERVAL = 0.0005  # seconds (the interpreter's default: 0.005)
# (young, middle, old): young collections after this many more allocations than deallocations
# of container objects (default 700); the middle and old thresholds are the defaults. Measured
# at 1,000 feeds and 10,000 watchlists (bench_responsiveness): 50,000 made single young-and-middle
# collections of up to 110 ms during a cycle, 10,000 kept them within about 50 ms: bot.GC_THRESHOLDS.


def tune_interpreter() -> None:
    """Set the switch interval and the collector's thresholds for a long-running event loop."""
    if sys.getswitchinterval() > SWITCH_INTERVAL:
        sys.setswitchinterval(SWITCH_INTERVAL)
    gc.set_threshold(*GC_THRESHOLDS)


def settle() -> None:
    """Collect once, then move every object alive now out of the collector's reach (gc.freeze)."""
    gc.collect()
    gc.freeze()
