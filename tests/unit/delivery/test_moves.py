"""Price-move alerts with a controlled clock, the real calendar and quotes from the Yahoo fake.

Thresholds crossed, re-crossed and crossed in two sessions; per-channel rules; holidays, the
early close and non-US exchanges; restarts; the circuit breaker; batching. Assertions are on
what a channel receives.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import date, time, timedelta
from pathlib import Path

import pytest

from bot.config import parse_config
from bot.delivery.moves import MoveMonitor, move_key
from bot.domain.errors import ConfigError
from bot.domain.models import Alert, ChannelRef, QuietHours, TradingSession, Watchlist
from bot.domain.records import SubscriptionSpec
from bot.domain.timeutil import ManualClock
from bot.domain.view import ticker_view
from bot.scheduler import Scheduler
from bot.store import SqlStore
from tests.fakes.yahoo import NO_TRADES, YahooFake
from tests.support.factories import story
from tests.unit.delivery.market_world import (
    SLACK_A,
    SLACK_B,
    WATCHLISTS,
    World,
    close_world,
    config,
    et,
    make_world,
)

pytestmark = pytest.mark.filterwarnings(r"ignore:.*inplace keyword:DeprecationWarning")

TUE = date(2026, 11, 24)
WED = date(2026, 11, 25)
FRI = date(2026, 11, 27)
SLACK_C = ChannelRef("slack", "C0CCCCCCCC", "T1")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(et("2026-11-25 08:00"))


@pytest.fixture
async def fake(clock: ManualClock) -> AsyncIterator[YahooFake]:
    async with YahooFake(clock=clock) as server:
        server.set_day("AMZN", TUE, close=200.0)
        server.set_day("AMZN", WED, pre=201.0)  # +0.5%
        server.set_day("MSFT", TUE, close=400.0)
        server.set_day("MSFT", WED, pre=401.0, close=401.0, post=NO_TRADES)
        server.set_day("NVDA", TUE, close=150.0)
        server.set_day("NVDA", WED, pre=NO_TRADES, close=150.0, post=NO_TRADES)
        yield server


async def poll(
    world: World, *, price: float | None = None, day: date = WED, minutes: float = 1
) -> list[Alert]:
    """Move the clock on (past the quote cache), optionally set AMZN's pre-market price, poll, deliver."""
    world.clock.advance(timedelta(minutes=minutes))
    if price is not None:
        world.fake.set_day("AMZN", day, pre=price)
    await world.moves.run_once()
    return await world.deliver()


def line(alert: Alert) -> str:
    return ticker_view(alert.tickers[0]).line(with_arrow=False)


# ---------------------------------------------------------------- thresholds


async def test_crossed_recrossed_and_a_bigger_one_later(world: World) -> None:
    await world.subscribe("cloud-china")
    assert await poll(world, minutes=0) == []  # +0.5%
    first = await poll(world, price=206.2)  # +3.1%
    assert [a.title for a in first] == ["AMZN up 3.10% pre-market"]
    assert first[0].kind == "move"
    assert line(first[0]) == "AMZN $206.20 +3.10% pre-market"
    assert first[0].tickers[0].quote is not None
    assert first[0].tickers[0].quote.session is TradingSession.PRE
    assert first[0].note == (
        "Crossed the 3% threshold: $206.20 against the previous close $200.00. "
        "No matching headline since Tue 24 Nov 09:30 EST."
    )
    assert first[0].watchlist == "cloud-china"
    assert await poll(world) == []  # still above 3%
    assert await poll(world, price=204.0) == []  # back under
    assert await poll(world, price=206.6) == []  # re-crossed in the same session: quiet
    bigger = await poll(world, price=210.4)  # +5.2%
    assert [a.title for a in bigger] == ["AMZN up 5.20% pre-market"]
    assert bigger[0].note.startswith("Crossed the 5% threshold: $210.40")
    assert await poll(world, price=189.0) == []  # -5.5%: the 5% threshold is done for this session
    down = await poll(world, price=178.0)  # -11%
    assert [a.title for a in down] == ["AMZN down 11.00% pre-market"]
    assert line(down[0]) == "AMZN $178.00 −11.00% pre-market"
    assert down[0].note.startswith("Crossed the 10% threshold")
    assert len(world.sent("move")) == 3


async def test_several_thresholds_at_once_make_one_alert(world: World) -> None:
    await world.subscribe("cloud-china")
    sent = await poll(world, price=223.0, minutes=0)  # +11.5%: 3, 5 and 10 at once
    assert [a.title for a in sent] == ["AMZN up 11.50% pre-market"]
    assert sent[0].note.startswith("Crossed the 10% threshold")
    assert await poll(world, price=207.0) == []  # 3.5%: already covered
    assert await poll(world, price=212.0) == []  # 6%: already covered


async def test_two_sessions_alert_again_and_disabled_sessions_are_not_polled(
    sqlite_store: SqlStore, clock: ManualClock, fake: YahooFake, yf_cache: Path
) -> None:
    w = await make_world(
        sqlite_store,
        clock,
        fake,
        yf_cache,
        cfg=config(move_alerts="{thresholds: [3, 5], sessions: [pre-market, after-hours]}"),
    )
    try:
        await w.subscribe("cloud-china")
        fake.set_day("AMZN", WED, pre=211.0, close=210.0, post=221.0)
        pre = await poll(w, minutes=0)
        assert [a.title for a in pre] == ["AMZN up 5.50% pre-market"]
        clock.set(et("2026-11-25 11:00"))  # regular session: not enabled, Yahoo is not asked
        before = fake.count("/v7/finance/quote")
        assert await poll(w) == []
        assert fake.count("/v7/finance/quote") == before
        clock.set(et("2026-11-25 16:30"))  # after hours: the same 5% again, against today's close
        post = await poll(w)
        assert [a.title for a in post] == ["AMZN up 5.24% after hours"]
        assert line(post[0]) == "AMZN $221.00 +5.24% after hours"
        assert post[0].note.startswith("Crossed the 5% threshold: $221.00 against today's close $210.00.")
        assert await poll(w) == []
        clock.set(et("2026-11-25 20:30"))  # after hours are over
        before = fake.count("/v7/finance/quote")
        assert await poll(w) == []
        assert fake.count("/v7/finance/quote") == before
    finally:
        await close_world(w)


async def test_regular_session_alerts_say_regular(
    sqlite_store: SqlStore, clock: ManualClock, fake: YahooFake, yf_cache: Path
) -> None:
    w = await make_world(
        sqlite_store, clock, fake, yf_cache, cfg=config(move_alerts="{thresholds: [3], sessions: [regular]}")
    )
    try:
        await w.subscribe("cloud-china")
        fake.set_day("AMZN", WED, pre=208.0, close=208.0)  # opens +4% and stays there
        assert await poll(w, minutes=0) == []  # 08:00 is pre-market: not enabled
        clock.set(et("2026-11-25 10:00"))
        sent = await poll(w)
        assert len(sent) == 1
        assert sent[0].title.startswith("AMZN up ") and sent[0].title.endswith("% in regular trading")
        assert line(sent[0]).endswith(" regular")
    finally:
        await close_world(w)


# ---------------------------------------------------------------- channels and their options


async def test_one_alert_per_channel_with_each_channels_rules(world: World) -> None:
    await world.subscribe("cloud-china", SLACK_A)
    await world.subscribe("retail", SLACK_A)  # AMZN again in the same channel
    await world.subscribe("cloud-china", SLACK_B, min_move_pct=5)
    await world.subscribe("cloud-china", SLACK_C, sessions=(TradingSession.REGULAR,))
    await poll(world, price=206.2, minutes=0)
    a = world.sent("move", SLACK_A)
    assert [(x.title, x.watchlist) for x in a] == [("AMZN up 3.10% pre-market", "cloud-china, retail")]
    assert world.sent("move", SLACK_B) == []  # below its min_move_pct
    await poll(world, price=210.4)
    assert [x.title for x in world.sent("move", SLACK_A)] == [
        "AMZN up 3.10% pre-market",
        "AMZN up 5.20% pre-market",
    ]
    b = world.sent("move", SLACK_B)
    assert [x.title for x in b] == ["AMZN up 5.20% pre-market"]
    assert b[0].note.startswith("Crossed the 5% threshold")
    assert world.sent("move", SLACK_C) == []  # wants the regular session only
    assert world.moves.stats["filtered_session"] >= 1


async def test_only_the_configured_watchlists(
    sqlite_store: SqlStore, clock: ManualClock, fake: YahooFake, yf_cache: Path
) -> None:
    w = await make_world(
        sqlite_store, clock, fake, yf_cache, cfg=config(move_alerts="{thresholds: [3], watchlists: [Retail]}")
    )
    try:
        await w.subscribe("cloud-china", SLACK_A)
        await w.subscribe("retail", SLACK_B)
        await poll(w, price=206.2, minutes=0)
        assert w.sent("move", SLACK_A) == []
        assert [x.watchlist for x in w.sent("move", SLACK_B)] == ["retail"]
    finally:
        await close_world(w)


async def test_quiet_hours_hold_the_alert_until_they_end(world: World) -> None:
    await world.subscribe("cloud-china", quiet_hours=QuietHours(time(22, 0), time(8, 30)))
    assert await poll(world, price=206.2, minutes=0) == []  # 08:00: held
    assert world.moves.stats["held"] == 1
    world.clock.set(et("2026-11-25 08:30"))
    await world.releaser.run_once()
    sent = await world.deliver()
    assert [a.title for a in sent] == ["AMZN up 3.10% pre-market"]
    assert sent[0].late
    assert sent[0].note.endswith("Held during quiet hours (22:00-08:30).")
    assert line(sent[0]) == "AMZN $206.20 +3.10% pre-market"


async def test_the_latest_matched_headline_is_the_why(world: World) -> None:
    await world.subscribe("cloud-china")
    await world.add_stories(
        story(
            "Amazon cloud chief to step down", at=et("2026-11-23 15:00"), summary="NASDAQ: AMZN"
        ),  # too old
        story("Amazon wins $10 billion cloud deal", at=et("2026-11-25 06:00"), summary="NASDAQ: AMZN"),
        story(
            "Amazon shares jump on cloud deal",
            at=et("2026-11-25 07:30"),
            summary="Shares of Amazon.com (NASDAQ: AMZN) rose before the bell.",
            source="CNBC",
            link="https://cnbc.example/amzn-jump",
        ),
        story(
            "Amazon cloud outage fixed", at=et("2026-11-25 09:00"), summary="NASDAQ: AMZN"
        ),  # in the future
    )
    sent = await poll(world, price=206.2, minutes=0)
    assert len(sent) == 1
    assert sent[0].summary == "Latest headline: Amazon shares jump on cloud deal"
    assert (sent[0].source, sent[0].link) == ("CNBC", "https://cnbc.example/amzn-jump")
    assert sent[0].published_at == et("2026-11-25 07:30")
    assert sent[0].note == "Crossed the 3% threshold: $206.20 against the previous close $200.00."


# ---------------------------------------------------------------- the calendar


async def test_holiday_weekend_and_overnight_ask_yahoo_nothing(world: World, fake: YahooFake) -> None:
    await world.subscribe("cloud-china")
    for text in ("2026-11-26 08:00", "2026-11-28 08:00", "2026-11-25 03:00", "2026-11-25 21:00"):
        world.clock.set(et(text))
        assert await world.moves.run_once() == 0
    assert fake.count("/v7/finance/quote") == 0
    assert fake.count("/v8/finance/chart") == 0


async def test_after_hours_end_at_17_00_on_the_early_close(
    sqlite_store: SqlStore, clock: ManualClock, fake: YahooFake, yf_cache: Path
) -> None:
    w = await make_world(
        sqlite_store,
        clock,
        fake,
        yf_cache,
        cfg=config(move_alerts="{thresholds: [3], sessions: [after hours]}"),
    )
    try:
        await w.subscribe("cloud-china")
        fake.set_day("AMZN", FRI, close=200.0, post=194.0)  # -3% after the 13:00 close
        clock.set(et("2026-11-27 16:30"))
        sent = await poll(w)
        assert [a.title for a in sent] == ["AMZN down 3.00% after hours"]
        clock.set(et("2026-11-27 17:30"))
        before = fake.count("/v7/finance/quote")
        assert await poll(w) == []
        assert fake.count("/v7/finance/quote") == before
    finally:
        await close_world(w)


async def test_a_tokyo_listing_alerts_in_its_own_regular_session(
    sqlite_store: SqlStore, clock: ManualClock, fake: YahooFake, yf_cache: Path
) -> None:
    cfg = parse_config(
        WATCHLISTS.replace("tickers: [NVDA]\n", "tickers: [NVDA, 7203.T]\n")
        + "move_alerts: {thresholds: [3], sessions: [regular]}\n"
    )
    w = await make_world(sqlite_store, clock, fake, yf_cache, cfg=cfg)
    try:
        await w.subscribe("chips")
        fake.set_day("7203.T", WED, close=2800.0)
        fake.set_day("7203.T", date(2026, 11, 26), pre=2940.0, close=2940.0)  # opens +5% in Tokyo
        clock.set(et("2026-11-25 20:30"))  # 10:30 Thursday in Tokyo; New York is closed
        sent = await poll(w)
        assert len(sent) == 1
        assert sent[0].title.startswith("7203.T up ") and sent[0].title.endswith("% in regular trading")
        assert line(sent[0]).startswith("7203.T ¥") and line(sent[0]).endswith(" regular")
        symbols = [r.query.get("symbols", "") for r in fake.requests if r.path == "/v7/finance/quote"]
        assert symbols and all(s == "7203.T" for s in symbols)  # NVDA is not in an enabled session
    finally:
        await close_world(w)


# ---------------------------------------------------------------- restarts, several processes, Yahoo


async def test_markers_survive_a_restart(world: World) -> None:
    await world.subscribe("cloud-china")
    assert len(await poll(world, price=206.2, minutes=0)) == 1
    restarted = MoveMonitor(
        world.store,
        world.catalog,
        world.quotes,
        world.calendar,
        world.cfg.move_alerts,
        world.clock,
        tz=world.cfg.tz,
    )
    world.clock.advance(timedelta(minutes=1))
    assert await restarted.run_once() == 0
    world.fake.set_day("AMZN", WED, pre=210.4)
    world.clock.advance(timedelta(minutes=1))
    assert await restarted.run_once() == 1
    key = move_key(WED, TradingSession.PRE, "AMZN", 5, SLACK_A)
    assert await world.store.has_marker(key)
    assert [a.key for a in await world.deliver()] == [key]


async def test_two_monitors_racing_alert_once(world: World) -> None:
    import asyncio

    await world.subscribe("cloud-china")
    world.fake.set_day("AMZN", WED, pre=206.2)
    other = MoveMonitor(
        world.store,
        world.catalog,
        world.quotes,
        world.calendar,
        world.cfg.move_alerts,
        world.clock,
        tz=world.cfg.tz,
    )
    results = await asyncio.gather(world.moves.run_once(), other.run_once())
    assert sorted(results) == [0, 1]
    assert [a.title for a in await world.deliver()] == ["AMZN up 3.10% pre-market"]


async def test_an_open_breaker_stops_polling_until_it_resets(
    world: World, fake: YahooFake, caplog: pytest.LogCaptureFixture
) -> None:
    await world.subscribe("cloud-china")
    fake.fail("all", "500")
    for _ in range(2):  # two failed rounds open the breaker (breaker_failures: 2)
        assert await poll(world, price=206.2) == []
    assert world.quotes.status().breaker.state == "open"
    asked = len(fake.requests)
    with caplog.at_level(logging.WARNING, logger="bot.delivery.moves"):
        assert await poll(world) == []
        assert await poll(world) == []
    assert len(fake.requests) == asked  # Yahoo is left alone while the breaker is open
    assert world.moves.stats["skipped_breaker"] > 0
    assert caplog.text.count("move alerts paused") == 1
    fake.clear_failures()
    sent = await poll(world, minutes=6)  # past breaker_reset: the probe succeeds
    assert [a.title for a in sent] == ["AMZN up 3.10% pre-market"]


async def test_quotes_are_fetched_in_batches(
    sqlite_store: SqlStore, clock: ManualClock, fake: YahooFake, yf_cache: Path
) -> None:
    symbols = [f"GEN{i:03d}" for i in range(120)]
    fake.add_generated(symbols)
    w = await make_world(sqlite_store, clock, fake, yf_cache, batch_size=50)
    try:
        await sqlite_store.save_watchlist(Watchlist(name="big", scope="slack:T1", tickers=tuple(symbols)))
        await w.catalog.reload()
        await sqlite_store.add_subscription(SubscriptionSpec("big", SLACK_A, scope="slack:T1"))
        await w.moves.run_once()
        asked = [r.query["symbols"].split(",") for r in fake.requests if r.path == "/v7/finance/quote"]
        assert sorted(len(a) for a in asked) == [20, 50, 50]
        assert sorted(s for a in asked for s in a) == sorted(symbols)
        assert w.moves.stats["symbols_polled"] == 120
    finally:
        await close_world(w)


# ---------------------------------------------------------------- configuration and scheduling


def test_config_shapes() -> None:
    assert parse_config("move_alerts: [10, 3, 5, 3]").move_alerts.thresholds == [3, 5, 10]
    full = parse_config(
        "move_alerts: {thresholds: [2], sessions: [pre, regular, after-hours], interval: 2m, watchlists: [x]}"
    ).move_alerts
    assert full.sessions == [TradingSession.PRE, TradingSession.REGULAR, TradingSession.POST]
    assert (full.interval, full.watchlists) == (120, ["x"])
    with pytest.raises(ConfigError, match="move alerts watch trading sessions"):
        parse_config("move_alerts: {thresholds: [3], sessions: [closed]}")
    with pytest.raises(ConfigError, match="between 0 and 100"):
        parse_config("move_alerts: [0]")


async def test_schedule_polls_at_the_configured_interval(world: World) -> None:
    scheduler = Scheduler(tz=world.cfg.tz)
    scheduler.add_all(world.moves.jobs())
    job = scheduler.get("moves:poll")
    assert job is not None and job.trigger.interval == timedelta(seconds=60)
    off = MoveMonitor(
        world.store,
        world.catalog,
        world.quotes,
        world.calendar,
        config(move_alerts="[]").move_alerts,
        world.clock,
        tz=config(move_alerts="[]").tz,
    )
    assert off.jobs() == []
    assert await off.run_once() == 0
