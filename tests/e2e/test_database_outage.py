"""``marketbot run`` while its PostgreSQL goes away mid-cycle (a restart, a network cut): the
bot logs what failed, keeps running — polls, sweep and dispatcher alike — and, once the server
is back, delivers the alert that was caught in the outage, once, without being restarted.

The outage is a TCP proxy between the bot and the server (``tests/fakes/tcp_proxy.py``), cut
while the new alert waits for prices, so other tests sharing the server are not disturbed.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.e2e.handoff_support import DEADLINE, TITLE, Child, scene
from tests.fakes.tcp_proxy import TcpProxy
from tests.support.wait import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(300)]


async def test_the_running_bot_rides_out_a_database_outage_mid_cycle(
    postgres: Any, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    real = await postgres.new_database()
    server = make_url(real)
    async with (
        TcpProxy(server.host or "127.0.0.1", server.port or 5432) as proxy,
        scene(tmp_path, real, tmp_path_factory.mktemp("mpl"), bot_db=proxy.database_url(real)) as s,
    ):
        # the alert waits up to quote_wait for prices that never come: the cut lands in that wait
        s.configure([("Wire", s.feed("/wire.xml"))], quote_wait=20)
        s.yahoo.fail("quote", "hang")
        s.yahoo.fail("chart", "hang")
        bot = await Child(s.env(), s.tmp, "run").start()
        try:

            async def waiting_for_prices() -> bool:
                # the story is stored with its hand-off (Yahoo is also asked for company names at
                # start-up, so a quote request alone does not say the alert is waiting for prices)
                stored = await s.count("SELECT count(*) FROM handoffs")
                asked = s.yahoo.count("/v7/finance/quote") + s.yahoo.count("/v8/finance/chart")
                return stored > 0 and asked > 0

            await wait_until(
                waiting_for_prices, what="the stored story's alert to wait for prices", timeout=DEADLINE
            )
            await proxy.cut()
            # the cut fails whichever holds the alert: the poll's hand-on to the pipeline, or the
            # hand-off sweep (every 30 s) when it took the stored story first
            await wait_until(
                lambda: (
                    bot.logged(r"queuing the alerts of 1 new stories \(retried from the store\)")
                    or bot.logged(r"delivery:handoffs failed")
                ),
                what="the alert's queuing to fail with the database away",
                timeout=DEADLINE,
            )
            await bot.wait_log(r"dispatcher: claiming due alerts failed")
            assert s.alerts() == []

            s.yahoo.clear_failures()
            proxy.restore()
            await wait_until(s.alerts, what="the alert once the database is back", timeout=DEADLINE)
            assert bot.running, bot.output
            assert bot.logged("finishing the alerts of 1 stories stored before"), bot.output
        finally:
            bot.signal(signal.SIGTERM)
            assert await bot.wait() == 0, bot.output
        (alert,) = s.alerts()
        assert TITLE in alert.text and "178.00" in alert.visible
        await s.assert_nothing_pending()
