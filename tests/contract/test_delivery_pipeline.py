"""From new stories to messages in channels: what each subscription's channel ends up seeing.

Real store (SQLite file), real catalog and matcher, real exchange calendar, the in-memory chat
platform; time is a ManualClock.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.domain.models import Alert, QuietHours, StorySource, TradingSession
from bot.domain.records import IngestBatch, OutboxEntry
from bot.domain.timeutil import ManualClock
from bot.store import SqlStore, open_store
from tests.unit.delivery.support import DISCORD_A, SLACK_A, SLACK_B, config, make_world, story

PRICES = {
    "AMZN": (181.20, 182.69),  # -0.82%
    "MSFT": (420.00, 415.00),  # +1.20%
    "NVDA": (140.00, 133.00),  # +5.26%
    "AMD": (150.00, 149.00),  # +0.67%
}
AMAZON = "Amazon expands cloud business in China as Microsoft (MSFT) and $NVDA watch"
NVIDIA = "US tightens export controls on AI chips; Nvidia and AMD fall"


def et(day: int, hour: int, minute: int = 0) -> datetime:
    """A November 2026 wall-clock time in New York (EST, UTC-5)."""
    return (
        datetime(2026, 11, day, hour + 5, minute, tzinfo=UTC)
        if hour + 5 < 24
        else datetime(2026, 11, day + 1, hour + 5 - 24, minute, tzinfo=UTC)
    )


def tickers(alert: Alert) -> list[tuple[str, bool, float | None]]:
    return [(t.symbol, t.in_watchlist, t.quote.price if t.quote else None) for t in alert.tickers]


async def test_each_channel_gets_one_message_per_matching_story_naming_every_watchlist(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    w = await make_world(sqlite_store, clock, prices=PRICES)
    await w.subscribe("cloud-china", SLACK_A)
    await w.subscribe("chips", SLACK_A)
    await w.subscribe("cloud-china", DISCORD_A)
    await w.subscribe("chips", SLACK_B)
    amazon = story(AMAZON, at=clock.now() - timedelta(minutes=12), summary="Cloud unit grows.")
    apple = story("Apple unveils new iPhone", at=clock.now())
    assert await w.ingest(amazon, apple) == 3
    assert await w.deliver() == 3

    # SLACK_A's two subscriptions both match: one message naming both watchlists
    (both,) = w.chat["slack"].alerts(SLACK_A.channel)
    assert (both.watchlist, both.watchlists) == ("cloud-china", ("cloud-china", "chips"))
    assert (both.kind, both.title, both.link, both.source, both.summary) == (
        "story",
        AMAZON,
        amazon.link,
        "Reuters",
        "Cloud unit grows.",
    )
    assert both.published_at == amazon.published_at  # adapters render "12 min ago" from this
    assert both.terms == ("cloud",)
    # the union of both watchlists' tickers first (AMZN, MSFT of cloud-china; NVDA of chips)
    assert tickers(both) == [("AMZN", True, 181.20), ("MSFT", True, 420.00), ("NVDA", True, 140.00)]
    (chips,) = w.chat["slack"].alerts(SLACK_B.channel)
    assert chips.watchlists == ("chips",)
    assert tickers(chips) == [("NVDA", True, 140.00), ("AMZN", False, 181.20), ("MSFT", False, 420.00)]
    assert [a.title for a in w.chat["discord"].alerts(DISCORD_A.channel)] == [AMAZON]
    # detected tickers are recorded with the story (for /news and briefings)
    assert (await w.store.get_story(amazon.id)).tickers == ("AMZN", "MSFT", "NVDA")  # type: ignore[union-attr]
    # processing the story again (another feed, a restart) queues nothing more
    assert await w.pipeline.process([amazon]) == 0


async def test_rows_queued_per_subscription_before_the_upgrade_are_not_sent_again(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    w = await make_world(sqlite_store, clock, prices=PRICES)
    cloud = await w.subscribe("cloud-china", SLACK_A)
    await w.subscribe("chips", SLACK_A)
    amazon = story(AMAZON, at=clock.now())
    await w.store.save_ingest(IngestBatch(new_stories=[amazon]))
    old = Alert(key=f"story:{amazon.id}:sub:{cloud}", kind="story", channel=SLACK_A, watchlist="cloud-china",
                title=AMAZON, story_id=amazon.id)  # fmt: skip
    await w.store.enqueue([OutboxEntry(key=old.key, alert=old, subscription_id=cloud, due_at=clock.now())])
    assert await w.pipeline.process([amazon]) == 0  # e.g. its hand-off resumed after the upgrade
    assert await w.deliver() == 1
    assert [a.key for a in w.chat["slack"].alerts()] == [old.key]


async def test_overlapping_watchlists_go_out_as_soon_as_any_subscription_allows(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    clock.set(et(25, 23, 30))
    w = await make_world(sqlite_store, clock, prices=PRICES)
    quiet = await w.subscribe("cloud-china", SLACK_A, quiet_hours=QuietHours(*_hm("22:00", "06:00")))
    capped = await w.subscribe("chips", SLACK_A, max_per_hour=1)
    first = story(AMAZON, at=clock.now())
    assert await w.ingest(first) == 1
    assert await w.deliver() == 1  # quiet for cloud-china, but chips allows it
    (sent,) = w.chat["slack"].alerts()
    assert sent.watchlists == ("cloud-china", "chips") and not sent.late
    # chips' cap is spent: the next one is held, under the subscription whose hold ends first
    second = story("Amazon and Nvidia extend cloud semiconductor pact", at=clock.now())
    assert await w.ingest(second) == 1
    assert await w.deliver() == 0
    (held,) = await w.store.held_entries()
    assert held.subscription_id == capped and held.alert.watchlists == ("cloud-china", "chips")
    assert await w.store.held_entries(quiet) == []
    clock.advance(timedelta(hours=1, minutes=1))
    assert await w.releaser.run_once() == 1
    assert await w.deliver() == 1
    assert [a.title for a in w.chat["slack"].alerts()] == [AMAZON, second.title]


async def test_at_most_four_tickers(sqlite_store: SqlStore, clock: ManualClock) -> None:
    w = await make_world(sqlite_store, clock, prices=PRICES)
    await w.subscribe("chips", SLACK_A)
    await w.ingest(story("$NVDA $AMD $AMZN $MSFT $AAPL $TSLA semiconductor rally", at=clock.now()))
    await w.deliver()
    (alert,) = w.chat["slack"].alerts()
    assert [t.symbol for t in alert.tickers] == ["NVDA", "AMD", "AAPL", "AMZN"]


async def test_a_story_is_alerted_once_across_feeds_and_restarts(tmp_path: Path, clock: ManualClock) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    amazon = story(AMAZON, at=clock.now())
    async with open_store(url) as store:
        w = await make_world(store, clock, prices=PRICES)
        await w.subscribe("cloud-china", SLACK_A)
        assert await w.ingest(amazon) == 1
        assert await w.pipeline.process([amazon]) == 0  # the same story again, from another feed
        assert await w.deliver() == 1
    async with open_store(url) as store:  # the bot restarts and sees the story again
        w2 = await make_world(store, clock, prices=PRICES)
        assert await w2.pipeline.process([amazon]) == 0
        assert await w2.deliver() == 0
        assert w2.quotes.calls == []  # nothing is even priced for a story already alerted
    assert len(w.chat["slack"].messages) == 1 and w2.chat["slack"].messages == []


async def test_hostile_feed_text_arrives_as_plain_text_with_safe_links(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    w = await make_world(sqlite_store, clock, prices=PRICES)
    await w.subscribe("cloud-china", SLACK_A)
    hostile = story(
        "<!channel> Amazon\u202e cloud\n@everyone <@U024BE7LH> [click](javascript:alert(1))\x1b[2J",
        at=clock.now(),
        link="javascript:alert(document.cookie)",
        summary="<script>x</script>\x00 read more",
        source="Evil\nFeed <!here>",
    )
    await w.ingest(hostile)
    await w.deliver()
    (alert,) = w.chat["slack"].alerts()
    assert alert.link == ""  # never a javascript: link
    assert alert.title == "<!channel> Amazon cloud @everyone <@U024BE7LH> [click](javascript:alert(1))[2J"
    assert alert.source == "Evil Feed <!here>"  # raw text, one line: the Slack renderer escapes it
    assert "\x00" not in alert.summary and "\x1b" not in alert.title


async def test_quiet_hours_hold_alerts_and_send_one_digest_when_they_end(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    clock.set(et(25, 23, 30))
    w = await make_world(sqlite_store, clock, prices=PRICES)
    sub = await w.subscribe("cloud-china", SLACK_A, quiet_hours=QuietHours(*_hm("22:00", "06:00")))
    titles = [f"Amazon cloud update {i}" for i in range(3)]
    for i, title in enumerate(titles):
        clock.advance(timedelta(minutes=10))
        assert await w.ingest(story(title, at=clock.now(), source=f"Outlet {i}")) == 1
    assert await w.deliver() == 0
    assert w.chat["slack"].messages == []
    assert len(await w.store.held_entries(sub)) == 3
    clock.set(et(25, 5, 59) + timedelta(days=1))
    assert await w.releaser.run_once() == 0  # still quiet
    clock.set(et(25, 6, 1) + timedelta(days=1))
    assert await w.releaser.run_once() == 1
    assert await w.releaser.run_once() == 0  # released once
    assert await w.deliver() == 1
    (digest,) = w.chat["slack"].alerts()
    assert digest.kind == "digest" and digest.late
    assert digest.title == "3 alerts for cloud-china"
    assert [e.title for e in digest.entries] == titles
    assert [e.source for e in digest.entries] == ["Outlet 0", "Outlet 1", "Outlet 2"]
    assert digest.note == "Held during quiet hours (22:00-06:00)."


async def test_a_single_muted_alert_is_delivered_late_when_the_mute_ends(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    w = await make_world(sqlite_store, clock, prices=PRICES)
    await w.subscribe("cloud-china", SLACK_A, mute_until=clock.now() + timedelta(hours=1))
    amazon = story(AMAZON, at=clock.now())
    await w.ingest(amazon)
    assert await w.deliver() == 0
    clock.advance(timedelta(minutes=30))
    assert await w.releaser.run_once() == 0
    clock.advance(timedelta(minutes=31))
    assert await w.releaser.run_once() == 1
    await w.deliver()
    (alert,) = w.chat["slack"].alerts()
    assert (alert.kind, alert.title, alert.late) == ("story", AMAZON, True)
    assert alert.note == "Held while alerts were muted."
    assert tickers(alert)[0] == ("AMZN", True, 181.20)


async def test_drop_stale_drops_old_held_alerts_and_says_so(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    cfg = config("delivery:\n  held: drop-stale\n  stale_after: 1h\n  late_price_wait: 0\n")
    w = await make_world(sqlite_store, clock, cfg=cfg, prices=PRICES)
    sub = await w.subscribe("cloud-china", SLACK_A, mute_until=clock.now() + timedelta(hours=3))
    await w.ingest(story("Amazon cloud: old news", at=clock.now()))
    clock.advance(timedelta(hours=2, minutes=30))
    await w.ingest(story("Amazon cloud: fresh news", at=clock.now()))
    clock.advance(timedelta(minutes=31))
    assert await w.releaser.run_once() == 1
    assert w.releaser.stats["dropped_stale"] == 1
    await w.deliver()
    assert [a.title for a in w.chat["slack"].alerts()] == ["Amazon cloud: fresh news"]
    assert (await w.store.channel_stats())[sub].held == 0


async def test_max_per_hour_folds_the_overflow_into_a_digest(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    w = await make_world(sqlite_store, clock, prices=PRICES)
    sub = await w.subscribe("cloud-china", SLACK_A, max_per_hour=2)
    stories = [story(f"Amazon cloud item {i}", at=clock.now()) for i in range(5)]
    assert await w.ingest(*stories) == 5
    assert await w.deliver() == 2
    assert len(await w.store.held_entries(sub)) == 3
    clock.advance(timedelta(minutes=30))
    assert await w.releaser.run_once() == 0  # the hour is still full
    clock.advance(timedelta(minutes=31))
    assert await w.releaser.run_once() == 1
    await w.deliver()
    alerts = w.chat["slack"].alerts()
    assert [a.kind for a in alerts] == ["story", "story", "digest"]
    assert [e.title for e in alerts[2].entries] == [f"Amazon cloud item {i}" for i in (2, 3, 4)]
    assert alerts[2].note == "Over the limit of 2 alerts per hour."


async def test_min_move_pct_alerts_only_on_a_big_enough_move(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    w = await make_world(sqlite_store, clock, prices=PRICES)
    await w.subscribe("cloud-china", SLACK_A, min_move_pct=2.0)
    await w.subscribe("chips", SLACK_B, min_move_pct=2.0)
    await w.ingest(story("Amazon cloud revenue beats", at=clock.now()))  # AMZN -0.82%: no
    await w.ingest(story(NVIDIA, at=clock.now()))  # NVDA +5.26%: yes for chips
    await w.deliver()
    assert w.chat["slack"].alerts(SLACK_A.channel) == []  # cloud-china: AMZN moved too little,
    # and the Nvidia story matched cloud-china only by keyword, with no ticker of its own to measure
    assert [a.title for a in w.chat["slack"].alerts(SLACK_B.channel)] == [NVIDIA]
    assert w.pipeline.stats["filtered_min_move"] == 2


async def test_min_move_in_a_channel_with_overlapping_watchlists_names_those_that_let_it_through(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    w = await make_world(sqlite_store, clock, prices=PRICES)
    await w.subscribe("cloud-china", SLACK_A, min_move_pct=2.0)  # AMZN -0.82%, MSFT +1.20%: no
    await w.subscribe("chips", SLACK_A, min_move_pct=5.0)  # NVDA +5.26%: yes
    await w.ingest(story(AMAZON, at=clock.now()))
    await w.deliver()
    (alert,) = w.chat["slack"].alerts(SLACK_A.channel)
    assert alert.watchlists == ("chips",)
    assert [t.symbol for t in alert.tickers if t.in_watchlist] == ["NVDA"]
    assert w.pipeline.stats["filtered_min_move"] == 0  # the channel got the story: nothing filtered
    # when no subscription of the channel lets it through, each says why
    await w.ingest(story("Amazon and Microsoft cloud revenue beats", at=clock.now()))
    await w.deliver()
    assert len(w.chat["slack"].alerts(SLACK_A.channel)) == 1
    assert w.pipeline.stats["filtered_min_move"] == 1


async def test_sessions_limit_alerts_to_market_sessions(sqlite_store: SqlStore, clock: ManualClock) -> None:
    w = await make_world(sqlite_store, clock, prices=PRICES)
    await w.subscribe("cloud-china", SLACK_A, sessions=(TradingSession.PRE,))
    clock.set(et(25, 8, 0))  # pre-market
    await w.ingest(story("Amazon cloud pre-market", at=clock.now()))
    clock.set(et(25, 12, 0))  # regular session
    await w.ingest(story("Amazon cloud midday", at=clock.now()))
    clock.set(et(26, 8, 0))  # Thanksgiving: closed
    await w.ingest(story("Amazon cloud holiday", at=clock.now()))
    await w.deliver()
    assert [a.title for a in w.chat["slack"].alerts()] == ["Amazon cloud pre-market"]
    assert w.pipeline.stats["filtered_session"] == 2


async def test_a_slow_quote_never_holds_the_alert_and_the_price_is_edited_in(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    cfg = config("delivery:\n  quote_wait: 0.05\n  late_price_wait: 60\n")
    w = await make_world(sqlite_store, clock, cfg=cfg, prices=PRICES)
    await w.subscribe("cloud-china", SLACK_A)
    w.quotes.gate = asyncio.Event()  # the quote service hangs
    await w.ingest(story("Amazon cloud outage", at=clock.now()))
    assert await w.deliver() == 1
    (sent,) = w.chat["slack"].messages
    assert tickers(sent.message) == [("AMZN", True, None)]  # type: ignore[arg-type]  # "price unavailable"
    w.quotes.gate.set()  # the price arrives
    await w.pipeline.settle()
    assert await w.deliver() == 1
    (edited,) = w.chat["slack"].messages  # the same message, edited: no second post
    assert len(edited.history) == 2
    assert tickers(edited.message) == [("AMZN", True, 181.20)]  # type: ignore[arg-type]
    assert w.pipeline.stats["late_price_edits"] == 1


async def test_a_late_price_that_beats_the_send_goes_out_with_the_alert(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    cfg = config("delivery:\n  quote_wait: 0.05\n  late_price_wait: 60\n")
    w = await make_world(sqlite_store, clock, cfg=cfg, prices=PRICES)
    await w.subscribe("cloud-china", SLACK_A)
    await w.subscribe("chips", SLACK_B, min_move_pct=3.0)
    w.quotes.gate = asyncio.Event()
    await w.ingest(story(AMAZON, at=clock.now()))
    w.quotes.gate.set()
    await w.pipeline.settle()
    assert await w.deliver() == 2
    assert [len(m.history) for m in w.chat["slack"].messages] == [1, 1]
    cloud = w.chat["slack"].alerts(SLACK_A.channel)[0]
    assert tickers(cloud)[0] == ("AMZN", True, 181.20)
    # the min_move_pct subscription waited for the price (NVDA +5.26%) instead of guessing
    assert [a.watchlist for a in w.chat["slack"].alerts(SLACK_B.channel)] == ["chips"]


async def test_also_reported_by_replies_in_the_thread_at_most_once_per_interval(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    w = await make_world(sqlite_store, clock, prices=PRICES)
    await w.subscribe("cloud-china", SLACK_A)
    amazon = story(AMAZON, at=clock.now())
    await w.ingest(amazon)
    await w.deliver()
    (first,) = w.chat["slack"].messages

    async def new_source(name: str) -> int:
        src = StorySource(name, f"https://{name.lower()}.example/a", clock.now())
        await w.store.save_ingest(IngestBatch(new_sources=[(amazon.id, src)]))
        return await w.pipeline.process_new_sources([(amazon.id, src)])

    clock.advance(timedelta(minutes=2))
    assert await new_source("Bloomberg") == 1
    await w.deliver()
    reply = w.chat["slack"].messages[1]
    assert reply.thread == first.ref
    assert isinstance(reply.message, Alert) and reply.message.kind == "followup"
    assert reply.message.note == "Also reported by Bloomberg"
    clock.advance(timedelta(minutes=2))
    assert await new_source("CNBC") == 0  # within 10 minutes of the last reply
    assert await new_source("FT") == 0
    assert await w.pipeline.flush_followups() == 0
    clock.advance(timedelta(minutes=5))
    assert await w.pipeline.flush_followups() == 0
    clock.advance(timedelta(minutes=3, seconds=1))  # 10 minutes after the Bloomberg reply
    assert await w.pipeline.flush_followups() == 1
    await w.deliver()
    later = w.chat["slack"].messages[2]
    assert later.thread == first.ref
    assert later.message.note == "Also reported by CNBC and FT"  # type: ignore[union-attr]
    assert [e.link for e in later.message.entries] == ["https://cnbc.example/a", "https://ft.example/a"]  # type: ignore[union-attr]
    assert await w.pipeline.flush_followups() == 0
    assert len(w.chat["slack"].messages) == 3


async def test_also_reported_by_is_once_per_channel_with_overlapping_watchlists(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    w = await make_world(sqlite_store, clock, prices=PRICES)
    cloud = await w.subscribe("cloud-china", SLACK_A)
    chips = await w.subscribe("chips", SLACK_A)
    amazon = story(AMAZON, at=clock.now())
    # and one story queued per subscription before the upgrade: two rows in one channel
    legacy = story("Nvidia semiconductor cloud deal with Amazon Web Services", at=clock.now())
    await w.store.save_ingest(IngestBatch(new_stories=[legacy]))
    old = [
        Alert(key=f"story:{legacy.id}:sub:{sub}", kind="story", channel=SLACK_A, watchlist=name,
              title=legacy.title, story_id=legacy.id)
        for sub, name in ((cloud, "cloud-china"), (chips, "chips"))
    ]  # fmt: skip
    await w.store.enqueue(
        [
            OutboxEntry(key=a.key, alert=a, subscription_id=sub, due_at=clock.now())
            for a, sub in zip(old, (cloud, chips), strict=True)
        ]
    )
    assert await w.ingest(amazon) == 1
    assert await w.deliver() == 3
    sources: list[tuple[str, StorySource]] = []
    for sid in (amazon.id, legacy.id):
        for name in ("Bloomberg", "CNBC"):
            src = StorySource(name, f"https://{name.lower()}.example/{sid}", clock.now())
            await w.store.save_ingest(IngestBatch(new_sources=[(sid, src)]))
            sources.append((sid, src))
    clock.advance(timedelta(minutes=2))
    assert await w.pipeline.process_new_sources(sources) == 2  # one per story in the channel
    assert await w.pipeline.process_new_sources(sources) == 0
    clock.advance(timedelta(minutes=11))
    assert await w.pipeline.flush_followups() == 0  # nothing new to announce
    await w.deliver()
    replies = [
        m.message
        for m in w.chat["slack"].messages
        if isinstance(m.message, Alert) and m.message.kind == "followup"
    ]
    assert sorted((r.story_id, r.note) for r in replies) == sorted(
        [
            (amazon.id, "Also reported by Bloomberg and CNBC"),
            (legacy.id, "Also reported by Bloomberg and CNBC"),
        ]
    )
    assert next(r for r in replies if r.story_id == amazon.id).watchlists == ("cloud-china", "chips")


async def test_follow_ups_without_threads_go_to_the_channel(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    w = await make_world(sqlite_store, clock, prices=PRICES)
    await w.subscribe("cloud-china", SLACK_A, threads=False)
    amazon = story(AMAZON, at=clock.now())
    await w.ingest(amazon)
    src = StorySource("Bloomberg", "https://bloomberg.example/a", clock.now())
    await w.store.save_ingest(IngestBatch(new_sources=[(amazon.id, src)]))
    # queued before the story alert went out: the dispatcher sends it after, in channel order
    assert await w.pipeline.process_new_sources([(amazon.id, src)]) == 1
    await w.deliver()
    story_msg, reply = w.chat["slack"].messages
    assert reply.thread is None and reply.message.note == "Also reported by Bloomberg"  # type: ignore[union-attr]
    assert story_msg.message.kind == "story"  # type: ignore[union-attr]


async def test_broken_subscriptions_get_nothing_queued(sqlite_store: SqlStore, clock: ManualClock) -> None:
    w = await make_world(sqlite_store, clock, prices=PRICES)
    sub = await w.subscribe("cloud-china", SLACK_A)
    await w.store.mark_subscription_broken(sub, "channel_not_found")
    assert await w.ingest(story(AMAZON, at=clock.now())) == 0
    assert w.pipeline.stats["skipped_broken"] == 1


def _hm(a: str, b: str) -> tuple[object, object]:
    from datetime import time

    h1, m1 = a.split(":")
    h2, m2 = b.split(":")
    return time(int(h1), int(m1)), time(int(h2), int(m2))


async def test_a_dead_quote_service_cannot_hold_a_one_shot_run(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    cfg = config("delivery:\n  quote_wait: 0.05\n  late_price_wait: 600\n")
    w = await make_world(sqlite_store, clock, cfg=cfg, prices=PRICES)
    await w.subscribe("cloud-china", SLACK_A)
    w.quotes.gate = asyncio.Event()  # never answers
    await w.ingest(story("Amazon cloud while Yahoo is down", at=clock.now()))
    await w.pipeline.settle(timeout=0.1)  # what `poll --once` does: gives up on late prices
    assert await w.deliver() == 1
    assert tickers(w.chat["slack"].alerts()[0]) == [("AMZN", True, None)]
