"""Alert composition: what a message will contain, before any platform renders it."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from bot.delivery.compose import (
    channel_story_key,
    compose_digest,
    compose_followup,
    compose_late,
    compose_story,
    edit_key,
    edited_key,
    in_quiet_hours,
    merge_matches,
    order_tickers,
    quiet_hours_end,
    story_key,
    with_quotes,
)
from bot.domain.models import (
    ChannelRef,
    Match,
    QuietHours,
    StorySource,
    Subscription,
    TickerLine,
)
from tests.support.factories import quote, story

T0 = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
NY = ZoneInfo("America/New_York")
SUB = Subscription(id=7, watchlist="cloud-china", scope="config", channel=ChannelRef("slack", "C0AAAAAAAA"))


a_story = partial(
    story,
    title="Amazon expands cloud in China",
    sid="s1",
    at=T0,
    published_at=T0 - timedelta(minutes=12),
    link="https://www.reuters.com/a",
    summary="Summary.",
    sourced=False,
)


def test_watchlist_tickers_come_first_then_others_at_most_four() -> None:
    lines = order_tickers(
        matched=("MSFT",),
        watchlist_tickers={"AMZN", "MSFT", "BABA"},
        detected=("AAPL", "AMZN", "GOOGL", "NVDA", "TSLA"),
        limit=4,
    )
    assert [(t.symbol, t.in_watchlist) for t in lines] == [
        ("MSFT", True),
        ("AMZN", True),
        ("AAPL", False),
        ("GOOGL", False),
    ]
    assert order_tickers(matched=(), watchlist_tickers=set(), detected=("A", "B"), limit=0) == ()


def test_story_alert_carries_what_the_user_sees() -> None:
    match = Match(story_id="s1", watchlist="cloud-china", scope="config", tickers=("AMZN",), terms=("cloud",))
    alert = compose_story(
        a_story(),
        match,
        SUB.channel,
        tickers=(TickerLine("AMZN"), TickerLine("NVDA", in_watchlist=False)),
        quotes={
            "AMZN": quote("AMZN", 181.2, -0.82, previous_close=None, change=None),
            "NVDA": quote("NVDA", None, session=None, as_of=None),
        },
        now=T0,
    )
    assert alert.key == channel_story_key("s1", SUB.channel) == "story:s1:ch:slack:C0AAAAAAAA"
    assert alert.watchlists == ("cloud-china",)
    assert (alert.kind, alert.title, alert.link, alert.source, alert.watchlist) == (
        "story",
        "Amazon expands cloud in China",
        "https://www.reuters.com/a",
        "Reuters",
        "cloud-china",
    )
    assert alert.published_at == T0 - timedelta(minutes=12) and alert.created_at == T0
    assert alert.terms == ("cloud",) and alert.story_id == "s1" and alert.channel == SUB.channel
    assert alert.tickers[0].quote is not None and alert.tickers[0].quote.price == 181.2
    assert alert.tickers[1].quote is None  # "price unavailable" until a late price fills it
    filled = with_quotes(alert, {"NVDA": quote("NVDA", 140.0, 5.2, previous_close=None, change=None)})
    assert filled.tickers[1].quote is not None and filled.tickers[0] == alert.tickers[0]


def test_composition_never_produces_a_non_http_link() -> None:
    match = Match(story_id="s1", watchlist="w", scope="config")
    for link, canonical, expected in (
        ("javascript:alert(1)", "https://ok.example/a", "https://ok.example/a"),
        ("data:text/html,x", "data:text/html,y", ""),
        ("", "", ""),
        ("https://ok.example/a b", "", "https://ok.example/a%20b"),
    ):
        alert = compose_story(
            a_story(link=link, canonical_url=canonical), match, SUB.channel, tickers=(), quotes={}, now=T0
        )
        assert alert.link == expected
    src = StorySource("Evil <!channel>", "javascript:alert(1)", T0)
    followup = compose_followup(a_story(), [src], SUB, watchlist="w", sequence=0, thread_of="1", now=T0)
    assert followup.link == "" and followup.entries[0].link == ""
    assert followup.note == "Also reported by Evil <!channel>"  # raw: renderers escape it


def test_followup_digest_and_late_alerts() -> None:
    sources = [
        StorySource("Bloomberg", "https://b.example/x", T0),
        StorySource("CNBC", "https://c.example/y", T0),
    ]
    f = compose_followup(a_story(), sources, SUB, watchlist="cloud-china", sequence=2, thread_of=None, now=T0)
    assert (f.key, f.kind, f.note) == (
        "followup:s1:sub:7:2",
        "followup",
        "Also reported by Bloomberg and CNBC",
    )
    match = Match(story_id="s1", watchlist="cloud-china", scope="config")
    alerts = [
        compose_story(
            a_story(id=f"s{i}", title=f"T{i}"),
            match,
            SUB.channel,
            tickers=(TickerLine("AMZN"),),
            quotes={},
            now=T0,
        )
        for i in range(25)
    ]
    d = compose_digest(
        alerts, SUB, key="digest:sub:7:1-25", reason="Held during quiet hours (22:00-06:00).", now=T0
    )
    assert (d.kind, d.title, d.late) == ("digest", "25 alerts for cloud-china", True)
    assert [e.title for e in d.entries] == [f"T{i}" for i in range(20)]
    assert d.entries[0].tickers == ("AMZN",)
    assert d.note == "Held during quiet hours (22:00-06:00). Showing the first 20 of 25."
    late = compose_late(alerts[0], reason="Held while alerts were muted.", now=T0)
    assert (late.key, late.late, late.note) == (
        "late:story:s0:ch:slack:C0AAAAAAAA",
        True,
        "Held while alerts were muted.",
    )
    assert edited_key(edit_key("story:s1:sub:7")) == "story:s1:sub:7" and edited_key("story:s1") is None


def test_quiet_hours_wrap_midnight_in_the_config_timezone() -> None:
    night = QuietHours(time(22, 0), time(6, 0))
    day = QuietHours(time(12, 0), time(13, 30))

    def at(h: int, m: int = 0) -> datetime:
        return datetime(2026, 11, 25, h, m, tzinfo=NY)

    assert in_quiet_hours(night, at(23), NY) and in_quiet_hours(night, at(2), NY)
    assert in_quiet_hours(night, at(22), NY) and not in_quiet_hours(night, at(6), NY)
    assert not in_quiet_hours(night, at(12), NY) and not in_quiet_hours(None, at(23), NY)
    assert in_quiet_hours(day, at(12, 15), NY) and not in_quiet_hours(day, at(13, 30), NY)
    assert quiet_hours_end(night, at(23), NY) == datetime(2026, 11, 26, 6, 0, tzinfo=NY)
    assert quiet_hours_end(night, at(2), NY) == datetime(2026, 11, 25, 6, 0, tzinfo=NY)
    # across the DST change (2026-11-01 02:00 EDT -> 01:00 EST) the window stays on the wall clock
    assert in_quiet_hours(night, datetime(2026, 11, 1, 5, 30, tzinfo=UTC), NY)  # 01:30 EDT
    assert not in_quiet_hours(night, datetime(2026, 11, 1, 11, 30, tzinfo=UTC), NY)  # 06:30 EST


def test_one_alert_per_channel_names_every_matched_watchlist() -> None:
    a = Match(story_id="s1", watchlist="cloud-china", scope="config", tickers=("AMZN",), terms=("cloud",))
    b = Match(
        story_id="s1", watchlist="chips", scope="config", tickers=("NVDA", "AMZN"), terms=("semiconductor",)
    )
    merged = merge_matches([a, b])
    assert (merged.watchlist, merged.tickers, merged.terms) == (
        "cloud-china",
        ("AMZN", "NVDA"),
        ("cloud", "semiconductor"),
    )
    alert = compose_story(
        a_story(), merged, SUB.channel, watchlists=["cloud-china", "chips"], tickers=(), quotes={}, now=T0
    )
    assert (alert.watchlist, alert.watchlists, alert.watchlist_names) == (
        "cloud-china",
        ("cloud-china", "chips"),
        ("cloud-china", "chips"),
    )
    # rows queued per subscription before keep their keys; the pipeline checks both
    assert story_key("s1", 7) == "story:s1:sub:7" != alert.key
