"""Slack, Discord and the console say the same words for one alert (they share bot.domain.view).

Each renderer only translates syntax and limits; the price line, why a price is missing, the
age against the bot's clock, the watchlists and "Also reported by" come from one view model.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from functools import partial

from bot.chat.console import ConsoleChat
from bot.chat.discord_embeds import alert_embed
from bot.chat.slack_blocks import alert_message
from bot.domain.models import Alert, ChannelRef, DigestEntry, TickerLine
from bot.domain.timeutil import ManualClock
from bot.domain.view import alert_view, price_view
from tests.support.factories import news_alert, quote

NOW = datetime(2026, 11, 27, 13, 30, tzinfo=UTC)  # 08:30 New York, pre-market
CHANNEL = ChannelRef("console", "console")


_alert = partial(
    news_alert,
    channel=CHANNEL,
    now=NOW,
    key="story:1:ch:console:console",
    watchlists=("cloud-china", "megacaps"),
    title="Amazon, Microsoft fall on US cloud curbs for Chinese AI developers",
    link="https://news.example/cloud",
    summary="The US plans to restrict cloud services for Chinese AI developers.",
    tickers=(
        TickerLine("AMZN", quote("AMZN", 181.2, -0.8156, as_of=NOW)),
        TickerLine(
            "MSFT", quote("MSFT", None, None, session=None, as_of=None, reason="Yahoo is not answering")
        ),
        TickerLine("BABA", None),
    ),
    terms=("cloud", "export control"),
    story_id=None,
)


def _slack_text(alert: Alert, now: datetime = NOW) -> str:
    return json.dumps(alert_message(alert, now=now).payload(), ensure_ascii=False)


def _discord_text(alert: Alert) -> str:
    return json.dumps(alert_embed(alert), ensure_ascii=False)


async def _console_text(alert: Alert, now: datetime = NOW) -> str:
    out = io.StringIO()
    await ConsoleChat(stream=out, color=False, clock=ManualClock(now)).send(alert, target=CHANNEL)
    return out.getvalue()


async def test_every_renderer_says_why_a_price_is_missing() -> None:
    alert = _alert()
    for text in (_slack_text(alert), _discord_text(alert), await _console_text(alert)):
        assert "price unavailable (Yahoo is not answering)" in text  # MSFT: the source said why
        assert "−0.82%" in text and "pre-market" in text  # AMZN's move and session
        assert "BABA" in text and "price unavailable" in text


async def test_ages_follow_the_bots_clock_not_the_wall_clock() -> None:
    """The console used to age stories against the wall clock; with MARKETBOT_NOW that was wrong."""
    alert = _alert(published_at=NOW - timedelta(hours=3))
    assert "3 h ago" in await _console_text(alert)
    assert "3 h ago" in _slack_text(alert)
    later = NOW + timedelta(days=2)
    assert "2 d ago" in await _console_text(alert, later)


async def test_every_renderer_names_every_matched_watchlist() -> None:
    alert = _alert()
    for text in (_slack_text(alert), _discord_text(alert), await _console_text(alert)):
        assert "cloud-china" in text and "megacaps" in text


async def test_also_reported_by_reads_the_same_everywhere() -> None:
    followup = _alert(
        kind="followup",
        key="followup:1:ch:console:console",
        tickers=(),
        terms=(),
        summary="",
        entries=(
            DigestEntry("Amazon, Microsoft slide", "https://ft.example/a", "Financial Times"),
            DigestEntry("Cloud curbs hit megacaps", "https://bbg.example/b", "Bloomberg"),
            DigestEntry("US weighs curbs", "https://wsj.example/c", "WSJ"),
        ),
    )
    assert (
        alert_view(followup, now=NOW).also_reported() == "Also reported by Financial Times, Bloomberg and WSJ"
    )
    console = await _console_text(followup)
    assert "Also reported by Financial Times, Bloomberg and WSJ" in console
    slack = alert_message(followup, now=NOW)
    assert slack.text.startswith("Also reported by Financial Times, Bloomberg and WSJ")
    discord = _discord_text(followup)
    assert "Also reported by [Financial Times](https://ft.example/a)" in discord
    assert "and [WSJ](https://wsj.example/c)" in discord


def test_the_price_view_holds_every_word_of_a_quote() -> None:
    view = price_view("AMZN", quote("AMZN", 181.2, -0.8156, as_of=NOW))
    assert (view.price, view.move, view.arrow, view.session, view.direction) == (
        "$181.20",
        "−0.82%",
        "▼",
        "pre-market",
        "down",
    )
    assert view.line() == "AMZN $181.20 ▼ −0.82% pre-market"
    assert view.line(with_arrow=False) == "AMZN $181.20 −0.82% pre-market"
    assert view.short() == "AMZN −0.82% pre-market"
    missing = price_view("MSFT", quote("MSFT", None, None, session=None, as_of=None, reason="no such symbol"))
    assert missing.line() == "MSFT price unavailable (no such symbol)" and not missing.short()
    assert price_view("BABA", None).line() == "BABA price unavailable"


def test_the_phone_notification_carries_the_moves() -> None:
    view = alert_view(_alert(), now=NOW)
    assert view.notification() == (
        "Amazon, Microsoft fall on US cloud curbs for Chinese AI developers — Reuters · AMZN −0.82% pre-market"
    )
