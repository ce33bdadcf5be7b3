"""A database outage between a send and its record, on a real PostgreSQL behind a TCP proxy
that is cut (``tests/fakes/tcp_proxy.py``): the platform accepted the alert, ``mark_sent``
cannot be committed. The dispatcher keeps running, records the send once the database answers
and never sends it a second time — even when its own claim has expired meanwhile and it claims
the row again.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.domain.timeutil import ManualClock
from bot.store import open_store
from tests.fakes.tcp_proxy import TcpProxy
from tests.support.wait import wait_until
from tests.unit.delivery.support import SLACK_A, make_world, story

pytestmark = [pytest.mark.postgres]


async def test_a_send_accepted_during_an_outage_is_recorded_later_and_never_sent_twice(
    postgres: Any, clock: ManualClock
) -> None:
    real = await postgres.new_database()
    server = make_url(real)
    observer = create_async_engine(real)
    async with (
        TcpProxy(server.host or "127.0.0.1", server.port or 5432) as proxy,
        open_store(proxy.database_url(real)) as store,
    ):
        w = await make_world(store, clock, prices={"NVDA": (140.0, 133.0)})
        await w.subscribe("chips", SLACK_A)
        await w.ingest(story("Nvidia semiconductor export curbs widen", at=clock.now()))
        slack = w.chat["slack"]
        slack.answer_gate = asyncio.Event()  # Slack posts the alert, its answer comes late
        running = asyncio.create_task(w.dispatcher.run())
        try:
            await wait_until(lambda: slack.in_channel(SLACK_A.channel), what="the alert posted")
            await proxy.cut()
            slack.answer_gate.set()  # the answer arrives while the database is away
            await wait_until(lambda: w.dispatcher.stats["errors"] > 0, what="recording the send failing")
            clock.advance(timedelta(seconds=w.cfg.delivery.lease + 1))  # its claim has expired
            proxy.restore()

            async def recorded() -> bool:
                async with observer.connect() as conn:
                    rows = (await conn.execute(sa.text("SELECT status, message_id FROM outbox"))).all()
                return [tuple(r) for r in rows] == [("sent", slack.in_channel(SLACK_A.channel)[0].ref.id)]

            await wait_until(recorded, what="the send recorded once the database answers")
            w.dispatcher.wake()
            await wait_until(lambda: w.dispatcher.stats["sent"] >= 1, what="the dispatcher's count")
        finally:
            await w.dispatcher.aclose()
            await asyncio.gather(running, return_exceptions=True)
            await observer.dispose()
        assert len(slack.in_channel(SLACK_A.channel)) == 1, "sent once, never again"
        assert slack.attempts == 1
