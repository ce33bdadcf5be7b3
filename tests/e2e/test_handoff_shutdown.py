"""``marketbot run`` stopped in the middle of a poll cycle — politely (SIGTERM, as Docker and
systemd do) or not (SIGKILL) — while its new alert waits for prices that do not come.

SIGTERM: the process exits cleanly within 10 s (Docker's grace before it kills), and what the
cycle stored is finished by the next start. SIGKILL: nothing runs on the way out, and the next
start still delivers the alert. Either way it arrives exactly once.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.e2e.handoff_support import DEADLINE, LATER, TITLE, Child, Scene, scene
from tests.support.wait import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def mpl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mpl")


def _prices_asked(s: Scene) -> bool:
    return s.yahoo.count("/v7/finance/quote") + s.yahoo.count("/v8/finance/chart") > 0


async def _stop_mid_cycle(s: Scene, sig: int) -> Child:
    s.configure([("Wire", s.feed("/wire.xml"))], quote_wait=30)
    s.yahoo.fail("quote", "hang")
    s.yahoo.fail("chart", "hang")
    bot = await Child(s.env(), s.tmp, "run").start()

    async def story_waits_for_prices() -> bool:
        # the stored story's hand-off, not just any Yahoo request: the symbol-name refresh asks
        # Yahoo for quotes too, and under load it can come before the poll stored anything
        pending = await s.count("SELECT count(*) FROM handoffs WHERE kind = 'story'") if bot.running else 0
        return pending == 1 and _prices_asked(s)

    await wait_until(
        story_waits_for_prices,
        what="the start-up poll to store the story and ask Yahoo for its prices",
        timeout=DEADLINE,
        ignoring=(sa.exc.DBAPIError,),  # the bot may not have created the tables yet
    )
    bot.signal(sig)
    return bot


async def _restart_and_receive_once(s: Scene) -> None:
    s.yahoo.clear_failures()
    bot = await Child(s.env(LATER), s.tmp, "run").start()
    try:
        await wait_until(s.alerts, what="the alert after the restart", timeout=DEADLINE)
        await bot.wait_log("start-up: 1 alerts queued that the last run had not finished")
    finally:
        bot.signal(signal.SIGTERM)
        assert await bot.wait() == 0, bot.output
    (alert,) = s.alerts()
    assert TITLE in alert.text and "178.00" in alert.visible
    await s.assert_nothing_pending()


async def test_sigterm_mid_cycle_exits_within_10_seconds_and_loses_nothing(
    database_url: str, tmp_path: Path, mpl: Path
) -> None:
    async with scene(tmp_path, database_url, mpl) as s:
        bot = await _stop_mid_cycle(s, signal.SIGTERM)
        assert await bot.wait(timeout=10) == 0, bot.output  # the requirement, not a sync point
        assert bot.logged("stopped cleanly"), bot.output
        assert not bot.logged("Traceback"), bot.output
        assert s.alerts() == []
        assert await s.count("SELECT count(*) FROM handoffs WHERE kind = 'story'") == 1  # durably deferred
        await _restart_and_receive_once(s)


async def test_sigkill_mid_cycle_of_the_running_bot_loses_nothing(tmp_path: Path, mpl: Path) -> None:
    async with scene(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'marketbot.db'}", mpl) as s:
        bot = await _stop_mid_cycle(s, signal.SIGKILL)
        assert await bot.wait() == -signal.SIGKILL
        assert s.alerts() == []
        await _restart_and_receive_once(s)
