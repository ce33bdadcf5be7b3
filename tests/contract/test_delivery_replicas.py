"""Claimed alerts across replicas on a real PostgreSQL: who may take over whose claims, and when.

Two dispatchers (``replica-a``, ``replica-b``) on one database with their own engines, as two
processes have, and one virtual clock; heartbeat rows are written the way ``cluster.Node`` does.

- A replica that dies holding claimed alerts gives them up once it is seen dead (heartbeat older
  than ``DEAD_AFTER``), not a whole lease later; a live replica that is slow keeps them.
- A send the platform accepted during a database outage longer than the lease is recorded by its
  sender when the database answers, and the other replica (which saw the outage too) does not
  send it a second time, although the claim expired long ago and every heartbeat looks old.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.cluster import DEAD_AFTER
from bot.delivery.dispatcher import LIVE_MARGIN, SETTLE, Dispatcher
from bot.domain.cluster import Replica
from bot.domain.timeutil import ManualClock
from bot.store import SqlStore, open_store
from tests.fakes.tcp_proxy import TcpProxy
from tests.support.factories import story
from tests.support.wait import wait_until
from tests.unit.delivery.support import SLACK_A, World, make_world

pytestmark = [pytest.mark.postgres]


async def heartbeat(store: SqlStore, replica: str, clock: ManualClock) -> None:
    now = clock.now()
    await store.heartbeat(
        Replica(id=replica, host="host", pid=1, version="test", started_at=now, heartbeat_at=now)
    )


def replica_b(w: World, store: SqlStore) -> Dispatcher:
    """The second replica's dispatcher: its own store, the same chat and clock."""
    return Dispatcher(
        store, w.chat, w.cfg.delivery, w.clock, "replica-b", sleep=w.sleep, dead_after=DEAD_AFTER
    )


async def outbox(engine: Any) -> list[tuple[str, str | None, str | None]]:
    async with engine.connect() as conn:
        rows = await conn.execute(sa.text("SELECT status, claimed_by, message_id FROM outbox ORDER BY id"))
        return [tuple(r) for r in rows]


@asynccontextmanager
async def two_replicas(
    postgres: Any, clock: ManualClock, *, behind_proxies: bool = False
) -> AsyncIterator[tuple[World, Dispatcher, list[TcpProxy], Any]]:
    real = await postgres.new_database()
    server = make_url(real)
    observer = create_async_engine(real)
    async with AsyncExitStack() as stack:
        proxies: list[TcpProxy] = []
        urls = [real, real]
        if behind_proxies:
            for i in range(2):
                proxy = await stack.enter_async_context(
                    TcpProxy(server.host or "127.0.0.1", server.port or 5432)
                )
                proxies.append(proxy)
                urls[i] = proxy.database_url(real)
        store_a = await stack.enter_async_context(open_store(urls[0]))
        store_b = await stack.enter_async_context(open_store(urls[1]))
        w = await make_world(store_a, clock, prices={"NVDA": (140.0, 133.0)}, worker="replica-a")
        w.dispatcher = Dispatcher(
            store_a, w.chat, w.cfg.delivery, clock, "replica-a", sleep=w.sleep, dead_after=DEAD_AFTER
        )
        await w.subscribe("chips", SLACK_A)
        for name in ("replica-a", "replica-b"):
            await heartbeat(store_a, name, clock)
        try:
            yield w, replica_b(w, store_b), proxies, observer
        finally:
            await observer.dispose()


async def test_a_dead_replicas_claimed_alerts_are_taken_over_once_it_is_seen_dead(
    postgres: Any, clock: ManualClock
) -> None:
    async with two_replicas(postgres, clock) as (w, b, _, observer):
        await w.ingest(story("Nvidia semiconductor export curbs widen", at=clock.now()))
        # replica-a claims the alert, then dies before sending it (it never heartbeats again)
        claimed = await w.store.claim_due(
            now=clock.now(), limit=10, lease=timedelta(seconds=w.cfg.delivery.lease), worker="replica-a"
        )
        assert len(claimed) == 1
        assert (await b.drain()).sent == 0, "replica-a is alive: its claim holds"

        clock.advance(timedelta(seconds=DEAD_AFTER + 1))  # far within the 60 s lease
        await heartbeat(w.store, "replica-b", clock)
        assert (await b.drain()).sent == 1, "replica-a is dead: its claim is void"
        await b.aclose()
        assert await outbox(observer) == [("sent", "replica-b", "1")]
    assert len(w.chat["slack"].in_channel(SLACK_A.channel)) == 1


async def test_a_live_but_slow_replica_keeps_its_claims_past_the_lease(
    postgres: Any, clock: ManualClock
) -> None:
    async with two_replicas(postgres, clock) as (w, b, _, observer):
        await w.ingest(story("Nvidia semiconductor export curbs widen", at=clock.now()))
        slack = w.chat["slack"]
        slack.answer_gate = asyncio.Event()  # replica-a's send hangs (a slow platform)
        running = asyncio.create_task(w.dispatcher.run())
        try:
            await wait_until(lambda: slack.in_channel(SLACK_A.channel), what="replica-a sending")
            for _ in range(3):  # well past the lease, both replicas alive all along
                clock.advance(timedelta(seconds=w.cfg.delivery.lease / 2))
                for name in ("replica-a", "replica-b"):
                    await heartbeat(w.store, name, clock)
                w.dispatcher.wake()

                async def renewed() -> bool:
                    async with observer.connect() as conn:
                        until = await conn.scalar(sa.text("SELECT claimed_until FROM outbox"))
                    return until is not None and until > clock.now()

                await wait_until(renewed, what="replica-a renewing its lease while it sends")
                assert (await b.drain()).sent == 0, "replica-a holds the alert: it is not sent twice"
            slack.answer_gate.set()
            sent_id = slack.in_channel(SLACK_A.channel)[0].ref.id

            async def recorded() -> bool:
                return await outbox(observer) == [("sent", "replica-a", sent_id)]

            await wait_until(recorded, what="replica-a's send recorded")
            assert (await b.drain()).sent == 0
        finally:
            await w.dispatcher.aclose()
            await asyncio.gather(running, return_exceptions=True)
            await b.aclose()
        assert len(slack.in_channel(SLACK_A.channel)) == 1
        assert slack.attempts == 1


async def test_a_send_accepted_during_a_long_outage_is_not_sent_again_by_another_replica(
    postgres: Any, clock: ManualClock
) -> None:
    async with two_replicas(postgres, clock, behind_proxies=True) as (w, b, proxies, observer):
        await w.ingest(story("Nvidia semiconductor export curbs widen", at=clock.now()))
        slack = w.chat["slack"]
        slack.answer_gate = asyncio.Event()  # Slack posts the alert, its answer comes late
        # replica-a alone first, so that it is the one that claims and posts the alert
        running = [asyncio.create_task(w.dispatcher.run())]
        try:
            await wait_until(lambda: slack.in_channel(SLACK_A.channel), what="replica-a posting the alert")
            running.append(asyncio.create_task(b.run()))
            for proxy in proxies:  # the database goes away for both replicas
                await proxy.cut()
            slack.answer_gate.set()  # Slack accepted it; replica-a cannot record that
            await wait_until(lambda: w.dispatcher.stats["errors"] > 0, what="replica-a failing to record")
            b.wake()
            await wait_until(lambda: b.stats["claim_errors"] > 0, what="replica-b seeing the outage")
            # the outage outlasts the lease and the live margin: the claim has long expired and
            # both heartbeats are older than DEAD_AFTER when the database answers again
            clock.advance(timedelta(seconds=w.cfg.delivery.lease + LIVE_MARGIN + DEAD_AFTER + 1))
            claims = b.stats["claims"]
            for proxy in proxies:
                proxy.restore()
            b.wake()
            await wait_until(lambda: b.stats["claims"] > claims, what="replica-b claiming again")
            sent_id = slack.in_channel(SLACK_A.channel)[0].ref.id

            async def recorded() -> bool:
                return await outbox(observer) == [("sent", "replica-a", sent_id)]

            await wait_until(recorded, what="replica-a recording its send once the database answers")
            clock.advance(timedelta(seconds=SETTLE + 1))  # replica-b may take others' claims again
            claims = b.stats["claims"]
            b.wake()
            await wait_until(lambda: b.stats["claims"] > claims, what="replica-b claiming once more")
            assert b.stats["sent"] == 0
        finally:
            for d in (w.dispatcher, b):
                await d.aclose()
            await asyncio.gather(*running, return_exceptions=True)
        assert len(slack.in_channel(SLACK_A.channel)) == 1, "sent once, never again"
        assert slack.attempts == 1


async def test_after_an_outage_a_replica_that_never_came_back_loses_its_claims(
    postgres: Any, clock: ManualClock
) -> None:
    async with two_replicas(postgres, clock, behind_proxies=True) as (w, b, proxies, observer):
        await w.ingest(story("Nvidia semiconductor export curbs widen", at=clock.now()))
        claimed = await w.store.claim_due(
            now=clock.now(), limit=10, lease=timedelta(seconds=w.cfg.delivery.lease), worker="replica-a"
        )
        assert len(claimed) == 1  # replica-a claimed it, then died with the outage
        running = asyncio.create_task(b.run())
        try:
            await proxies[1].cut()
            b.wake()
            await wait_until(lambda: b.stats["claim_errors"] > 0, what="replica-b seeing the outage")
            clock.advance(timedelta(seconds=w.cfg.delivery.lease + 1))
            claims = b.stats["claims"]
            proxies[1].restore()
            b.wake()
            await wait_until(lambda: b.stats["claims"] > claims, what="replica-b claiming again")
            assert b.stats["sent"] == 0, "just after its own outage replica-b takes no other's claims"
            clock.advance(timedelta(seconds=SETTLE + 1))
            await heartbeat(w.store, "replica-b", clock)
            b.wake()
            await wait_until(lambda: b.stats["sent"] == 1, what="replica-b sending the dead replica's alert")
        finally:
            await b.aclose()
            await asyncio.gather(running, return_exceptions=True)
        assert await outbox(observer) == [("sent", "replica-b", "1")]
    assert len(w.chat["slack"].in_channel(SLACK_A.channel)) == 1
