"""Delivery in batches: claims of several rows per channel, released claims, batched completions.

On SQLite and a real PostgreSQL: ``claim_due(per_channel=...)`` hands out a channel's oldest
unsent rows (consecutive and all due, round-robin over channels), ``release_claims`` gives
untried rows back as if never claimed, and the dispatcher drains a fast channel in large
batches while keeping each channel's order and its platform's rate limit.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.chat.memory import MemoryChat
from bot.domain.errors import DeliveryError
from bot.domain.models import Alert, ChannelRef, MessageRef, Reply, TickerLine
from bot.domain.records import OutboxEntry, SubscriptionSpec
from bot.domain.timeutil import ManualClock
from bot.store import SqlStore
from tests.support import factories
from tests.unit.delivery.support import SLACK_A, config, make_world

T0 = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
A = ChannelRef("slack", "C0AAAAAAAA", "T1")
B = ChannelRef("slack", "C0BBBBBBBB", "T1")
D = ChannelRef("discord", "112233445566778899", "G1")
CONSOLE = ChannelRef("console", "console")


def entry(key: str, channel: ChannelRef, *, at: datetime = T0, sub: int | None = None) -> OutboxEntry:
    return factories.entry(
        key,
        sub,
        at=at,
        created_at=T0,
        channel=channel,
        watchlist="chips",
        link=f"https://news.example/{key}",
        tickers=(TickerLine("NVDA"),),
        story_id=key,
    )


def keys(entries: list[OutboxEntry]) -> list[str]:
    return [e.key for e in entries]


async def test_a_claim_takes_each_channels_oldest_rows_round_robin(store: SqlStore) -> None:
    await store.enqueue(
        [entry(f"a{i}", A) for i in range(5)] + [entry(f"b{i}", B) for i in range(2)] + [entry("d0", D)]
    )
    got = await store.claim_due(now=T0, limit=5, lease=LEASE, worker="w", per_channel=3)
    # every channel's first row, then the second ones, ... up to the limit
    assert sorted(keys(got)) == ["a0", "a1", "b0", "b1", "d0"]
    more = await store.claim_due(now=T0, limit=100, lease=LEASE, worker="w", per_channel=3)
    assert more == []  # the rest of A waits behind rows this worker holds
    assert all(e.status == "claimed" and e.claimed_by == "w" and e.attempts == 1 for e in got)


async def test_per_platform_sizes_and_a_row_not_due_holds_back_the_rest(store: SqlStore) -> None:
    await store.enqueue(
        [entry(f"a{i}", A) for i in range(6)]
        + [entry(f"c{i}", CONSOLE) for i in range(6)]
        + [entry("b0", B), entry("b1", B, at=T0 + timedelta(minutes=5)), entry("b2", B)]
    )
    got = await store.claim_due(
        now=T0, limit=100, lease=LEASE, worker="w", per_channel=2, per_platform={"console": 5}
    )
    # console gets 5, Slack the default 2; b2 is due but waits behind b1 (a retry not yet due)
    assert sorted(keys(got)) == ["a0", "a1", "b0", "c0", "c1", "c2", "c3", "c4"]


async def test_another_workers_live_claim_holds_its_channel_until_its_lease_expires(store: SqlStore) -> None:
    await store.enqueue([entry(f"a{i}", A) for i in range(4)] + [entry(f"b{i}", B) for i in range(2)])
    first = await store.claim_due(now=T0, limit=1, lease=LEASE, worker="one", per_channel=1)
    assert keys(first) == ["a0"]
    second = await store.claim_due(now=T0, limit=100, lease=LEASE, worker="two", per_channel=10)
    assert keys(second) == ["b0", "b1"]  # never a1..a3 while "one" holds a0
    later = T0 + LEASE + timedelta(seconds=1)
    third = await store.claim_due(now=later, limit=100, lease=LEASE, worker="two", per_channel=10)
    # "one" died: its claim and the rest of A are due (and so are two's own, also expired)
    assert keys(third) == ["a0", "a1", "a2", "a3", "b0", "b1"]
    assert [e.attempts for e in third] == [2, 1, 1, 1, 2, 2]


async def test_released_rows_are_due_again_untried_and_in_order(store: SqlStore) -> None:
    await store.enqueue([entry(f"a{i}", A) for i in range(4)])
    got = await store.claim_due(now=T0, limit=100, lease=LEASE, worker="w", per_channel=4)
    assert keys(got) == ["a0", "a1", "a2", "a3"]
    await store.mark_sent(got[0].id, ref=MessageRef(A, "1"), now=T0)  # type: ignore[arg-type]
    ids = [e.id for e in got[1:] if e.id is not None]
    assert await store.release_claims(ids, worker="someone-else") == 0  # only the holder releases
    assert await store.release_claims(ids, worker="w") == 3
    again = await store.claim_due(now=T0, limit=100, lease=LEASE, worker="v", per_channel=2)
    assert keys(again) == ["a1", "a2"]
    # the released claim did not count as an attempt, nor start the retry window
    assert [(e.attempts, e.first_attempt_at) for e in again] == [(1, T0), (1, T0)]
    assert await store.release_claims([again[0].id], worker="v") == 1  # type: ignore[list-item]
    rows = {e.key: e for e in await store.story_deliveries("a1")}
    assert (rows["a1"].status, rows["a1"].attempts, rows["a1"].first_attempt_at) == ("pending", 0, None)


async def test_mark_sent_many_in_chunks_of_one_transaction(store: SqlStore) -> None:
    sub = await store.add_subscription(SubscriptionSpec("chips", A, scope="slack:T1"))
    await store.enqueue([entry(f"a{i:04d}", A, sub=sub.id) for i in range(1200)])
    got = await store.claim_due(now=T0, limit=2000, lease=LEASE, worker="w", per_channel=2000)
    assert len(got) == 1200
    done = T0 + timedelta(seconds=5)
    await store.mark_sent_many([(e.id, MessageRef(A, f"m{e.id}")) for e in got], now=done)  # type: ignore[misc]
    stats = await store.channel_stats()
    assert (stats[sub.id].queued, stats[sub.id].last_delivery_at) == (0, done)
    assert await store.sent_ref("a1199") == MessageRef(A, f"m{got[-1].id}")


class TimedChat(MemoryChat):
    """The in-memory platform, remembering on the test's clock when each message arrived.

    ``refuse`` maps the n-th send (1-based) to the error the platform answers it with.
    """

    def __init__(
        self,
        platform: str,
        clock: ManualClock,
        channel_rate: tuple[int, float],
        refuse: dict[int, DeliveryError] | None = None,
    ) -> None:
        super().__init__(platform, channel_rate=channel_rate)
        self.clock = clock
        self.times: list[float] = []
        self.refuse = dict(refuse or {})

    async def send(
        self, message: Alert | Reply, *, target: ChannelRef, thread: MessageRef | None = None
    ) -> MessageRef:
        error = self.refuse.pop(self.attempts + 1, None)
        if error is not None:
            self.attempts += 1
            raise error
        self.times.append(self.clock.now().timestamp())
        return await super().send(message, target=target, thread=thread)


async def queue_alerts(store: SqlStore, channel: ChannelRef, n: int, now: datetime) -> list[str]:
    sub = await store.add_subscription(SubscriptionSpec("chips", channel, scope="config"))
    entries = [entry(f"s{i:05d}:{channel.channel}", channel, at=now, sub=sub.id) for i in range(n)]
    await store.enqueue(entries)
    return [e.key for e in entries]


def use(w: object, chat: MemoryChat) -> None:
    """Wire ``chat`` as the dispatcher's adapter for its platform (as the app's wiring does)."""
    d = w.dispatcher  # type: ignore[attr-defined]
    d._adapters[chat.platform] = chat
    d._batch_sizes = d.batch_sizes()


async def test_a_fast_channel_drains_in_large_batches_in_order(store: SqlStore, clock: ManualClock) -> None:
    w = await make_world(store, clock)
    console = TimedChat("console", clock, (1000, 1.0))
    use(w, console)
    queued = await queue_alerts(store, CONSOLE, 600, clock.now())
    assert w.dispatcher.batch_sizes()["console"] == w.cfg.delivery.max_claimed
    report = await w.dispatcher.drain()
    assert report.sent == 600
    assert [a.key for a in console.alerts()] == queued
    # 1,000 per second: never more than that in any second
    assert all(b - a >= 1.0 for a, b in zip(console.times, console.times[1000:], strict=False))
    assert sum(s.queued for s in (await store.channel_stats()).values()) == 0
    assert await store.sent_ref(queued[-1]) is not None


async def test_a_batch_keeps_slacks_rate_and_holds_back_behind_a_retry(
    store: SqlStore, clock: ManualClock
) -> None:
    w = await make_world(store, clock, cfg=config("delivery:\n  lease: 20\n"))
    refused = DeliveryError("ratelimited", retryable=True, retry_after=3, code="ratelimited")
    slack = TimedChat("slack", clock, (1, 1.0), refuse={4: refused})
    use(w, slack)
    assert w.dispatcher.batch_sizes()["slack"] == 6  # one per second for a quarter of the 20 s lease
    queued = await queue_alerts(store, SLACK_A, 10, clock.now())
    first = await w.dispatcher.drain()
    # the batch of 6: three sent, the fourth refused (retried), the last two back untried
    assert (first.sent, first.retried) == (3, 1)
    assert w.dispatcher.stats["released"] == 2
    rows = {e.key: e for k in queued[3:6] for e in await store.story_deliveries(k)}
    assert [(rows[k].status, rows[k].attempts) for k in queued[3:6]] == [
        ("pending", 1),
        ("pending", 0),
        ("pending", 0),
    ]
    clock.advance(3)
    second = await w.dispatcher.drain()
    assert second.sent == 7
    assert [a.key for a in slack.alerts()] == queued
    gaps = [b - a for a, b in zip(slack.times, slack.times[1:], strict=False)]
    assert min(gaps) >= 1.0  # Slack's one message per second per channel, across batches


async def test_recent_sends_are_other_workers_latest_send_times_per_channel(store: SqlStore) -> None:
    await store.enqueue([entry(f"a{i}", A) for i in range(4)] + [entry("b0", B)])
    got = await store.claim_due(now=T0, limit=100, lease=LEASE, worker="one", per_channel=3)
    by_key = {e.key: e for e in got}
    for n, key in enumerate(["a0", "a1", "a2", "b0"]):
        await store.mark_sent(by_key[key].id, ref=MessageRef(A, key), now=T0 + timedelta(seconds=n))  # type: ignore[arg-type]
    windows = {str(A): 2, str(B): 5, str(D): 5}
    recent = await store.recent_sends(windows, worker="two")
    # A's last two posts (a newest-first window), B's one, nothing for a channel never posted to
    assert {k: sorted(v) for k, v in recent.items()} == {
        str(A): [T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)],
        str(B): [T0 + timedelta(seconds=3)],
    }
    assert await store.recent_sends(windows, worker="one") == {}  # its own sends its limiter knows
