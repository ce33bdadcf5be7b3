"""A channel's rate limit holds across replicas: two dispatchers on one PostgreSQL never exceed it.

Real parts: two stores on one PostgreSQL database (own engines, as two processes have), two
dispatchers with their own ``SlackAdapter`` (slack_sdk) posting to the Slack fake on loopback,
which enforces Slack's per-channel limit for chat.postMessage (1 per second, HTTP 429
``ratelimited`` beyond it) and records when it accepted each post. Time is one virtual clock
shared by the fake and both replicas (rate-limit waits advance it), so the windows checked are
exactly the ones the fake counted, and no assertion depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import pytest

from bot.chat.slack_app import SlackAdapter
from bot.delivery.dispatcher import Dispatcher
from bot.domain.models import ChannelRef, TickerLine
from bot.domain.records import OutboxEntry
from bot.domain.timeutil import ManualClock
from bot.store import SqlStore, open_store
from tests.fakes.slack import FakeSlack
from tests.support import factories
from tests.support.clock import VirtualSleep
from tests.support.wait import wait_until
from tests.unit.delivery.support import config

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
CHANNEL_ID = "C0MARKETS1"
SLACK_RATE = (1, 1.0)  # Slack: one chat.postMessage per second per channel


def alert_entry(n: int, channel: ChannelRef) -> OutboxEntry:
    key = f"burst-{n:03d}"
    return factories.entry(
        key,
        at=T0,
        channel=channel,
        watchlist="chips",
        title=f"Nvidia headline {n:03d}",
        link=f"https://news.example/{n}",
        published_at=T0,
        tickers=(TickerLine("NVDA"),),
        story_id=key,
    )


def worst_window(times: list[float], limit: int, per: float) -> int:
    """The most posts the fake accepted within any ``per``-second window (half-open, as Slack counts)."""
    times = sorted(times)
    return max((sum(1 for u in times[i:] if u < t + per) for i, t in enumerate(times)), default=0)


class Replicas:
    """Two replicas' delivery halves on one database, one fake Slack, one virtual clock."""

    def __init__(self, fake: FakeSlack, clock: ManualClock, stores: list[SqlStore], extra: str) -> None:
        self.fake = fake
        self.clock = clock
        self.sleep = VirtualSleep(clock)
        self.channel = ChannelRef("slack", CHANNEL_ID, fake.team_id)
        self.stores = stores
        self.cfg = config(extra)
        self.adapters: list[SlackAdapter] = []
        self.dispatchers: list[Dispatcher] = []

    async def start(self, stack: AsyncExitStack) -> None:
        for n, store in enumerate(self.stores, 1):
            adapter = SlackAdapter(
                bot_token=self.fake.bot_token,
                app_token=self.fake.app_token,
                api_url=self.fake.api_url,
                clock=self.clock,
            )
            await stack.enter_async_context(adapter)
            self.adapters.append(adapter)
            self.dispatchers.append(
                Dispatcher(
                    store, {"slack": adapter}, self.cfg.delivery, self.clock, f"replica-{n}", sleep=self.sleep
                )
            )

    def posted(self) -> list[str]:
        return [m.text for m in self.fake.messages(CHANNEL_ID)]

    def refused(self) -> int:
        return sum(1 for c in self.fake.calls if c.method == "chat.postMessage" and c.status == 429)


@pytest.fixture
async def replicas(postgres: object) -> AsyncIterator[Replicas]:
    url = await postgres.new_database()  # type: ignore[attr-defined]
    clock = ManualClock(T0)
    async with AsyncExitStack() as stack:
        fake = await stack.enter_async_context(
            FakeSlack(post_rate=SLACK_RATE, clock=lambda: clock.now().timestamp())
        )
        fake.add_channel(CHANNEL_ID, "markets")
        stores = [await stack.enter_async_context(open_store(url)) for _ in range(2)]
        world = Replicas(fake, clock, stores, "delivery:\n  max_claimed: 3\n  poll_interval: 0.05\n")
        await world.start(stack)
        yield world


async def test_the_replica_taking_a_channel_over_waits_for_the_other_ones_last_send(
    replicas: Replicas,
) -> None:
    one, two = replicas.dispatchers
    store = replicas.stores[0]
    await store.enqueue([alert_entry(n, replicas.channel) for n in range(4)])
    assert (await one.drain()).sent == 4
    # the channel's next alerts are claimed by the other replica right after the first one's last post
    await store.enqueue([alert_entry(n, replicas.channel) for n in range(4, 8)])
    assert (await two.drain()).sent == 4

    times = replicas.fake.post_times[CHANNEL_ID]
    assert replicas.refused() == 0  # Slack never had to answer "ratelimited"
    assert worst_window(times, *SLACK_RATE) == 1
    assert len(times) == 8
    assert sorted(replicas.posted()) == [f"Nvidia headline {n:03d} — Reuters" for n in range(8)]


async def test_two_replicas_draining_one_burst_together_keep_slacks_limit_and_send_each_once(
    replicas: Replicas,
) -> None:
    burst = 30
    await replicas.stores[1].enqueue([alert_entry(n, replicas.channel) for n in range(burst)])
    runs = [asyncio.ensure_future(d.run()) for d in replicas.dispatchers]
    try:
        await wait_until(lambda: len(replicas.posted()) >= burst, what="the whole burst posted")
    finally:
        for d in replicas.dispatchers:
            await d.aclose()
        await asyncio.gather(*runs, return_exceptions=True)

    times = replicas.fake.post_times[CHANNEL_ID]
    assert replicas.refused() == 0
    assert worst_window(times, *SLACK_RATE) <= SLACK_RATE[0]
    assert sorted(replicas.posted()) == [
        f"Nvidia headline {n:03d} — Reuters" for n in range(burst)
    ]  # each once
    sent = [d.stats["sent"] for d in replicas.dispatchers]
    assert sum(sent) == burst
