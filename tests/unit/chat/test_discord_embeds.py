"""Discord rendering: alerts and replies as embeds that fit Discord's limits and ping nobody.

What a reader sees is checked with the fake Discord's markdown renderer (escapes hidden,
mention pills and masked links found) and every message body with Discord's own checks
(``validate_message``): no test here trusts our renderer's idea of itself.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

import discord
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.chat.discord_bot import (
    INVITE_PERMISSIONS,
    INVITE_SCOPES,
    api_base,
    gateway_base,
    invite_url,
    text_only,
)
from bot.chat.discord_embeds import (
    DOWN_COLOUR,
    ERROR_COLOUR,
    FLAT_COLOUR,
    UP_COLOUR,
    alert_embed,
    alert_message,
    embed_size,
    escape,
    reply_message,
)
from bot.delivery.escape import clean_alert, one_line
from bot.domain.errors import ConfigError
from bot.domain.models import (
    Alert,
    Attachment,
    ChannelRef,
    DigestEntry,
    Quote,
    Reply,
    ReplyField,
    ReplyItem,
    TickerLine,
)
from bot.domain.text import strip_control
from tests.fakes.discord import pings, render_markdown, validate_message
from tests.support import factories
from tests.support.factories import news_alert

CHANNEL = ChannelRef("discord", "112233445566778899")
NOW = datetime(2026, 3, 2, 13, 5, tzinfo=UTC)

HOSTILE = [
    "@everyone NVDA halted",
    "@here cloud export rules",
    "<@123456789012345678> owes you",
    "<@!123456789012345678> nickname ping",
    "<@&456456456456456456> role ping",
    "<#789789789789789789> go here",
    "**bold** __under__ ~~strike~~ ||spoiler|| `code`",
    "[Reuters](https://evil.example/phish) exclusive",
    "# Heading\n> quote\n- list\n1. numbered\n-# subtext",
    "<t:1700000000:R> and </watch subscribe:123456789012345678> and <:blob:123456789012345678>",
    "\\@everyone with a backslash \\",
    "@\u200beveryone pre-escaped, @everyone@here",
]


quote = partial(factories.quote, as_of=NOW, currency="USD")
story = partial(
    news_alert,
    channel=CHANNEL,
    now=NOW,
    link="https://news.example.com/amzn-cloud",
    summary="Amazon Web Services signed a five-year contract.",
    tickers=(TickerLine("AMZN", quote("AMZN", 181.2, -0.82)), TickerLine("MSFT", None)),
    terms=("cloud", "China"),
    story_id=None,
)


def body(embed: dict[str, object], content: str | None = None) -> dict[str, object]:
    return {"content": content, "embeds": [embed], "allowed_mentions": {"parse": []}}


def seen(embed: dict[str, object]) -> list[str]:
    """Every markdown-rendered string of an embed (title, description, field names and values)."""
    parts = [str(embed.get("title", "")), str(embed.get("description", ""))]
    for f in embed.get("fields", []):  # type: ignore[attr-defined]
        parts += [f["name"], f["value"]]
    return [p for p in parts if p]


# ---------------------------------------------------------------- alerts


def test_story_alert_is_a_linked_embed_with_a_field_per_ticker() -> None:
    e = alert_embed(story())
    validate_message(body(e))
    assert e["title"] == "Amazon wins cloud deal in China"
    assert e["url"] == "https://news.example.com/amzn-cloud"
    assert render_markdown(e["description"]).text == "Amazon Web Services signed a five-year contract."
    assert e["footer"] == {"text": "Reuters · cloud-china"}
    assert e["timestamp"] == (NOW - timedelta(minutes=12)).isoformat()
    fields = {f["name"]: f["value"] for f in e["fields"]}
    assert fields["▼ AMZN"] == "$181.20 · −0.82% · pre-market"
    assert fields["MSFT"] == "price unavailable"
    assert render_markdown(fields["Matched"]).text == "cloud, China"
    assert e["color"] == DOWN_COLOUR


@pytest.mark.parametrize(
    ("tickers", "colour"),
    [
        ((TickerLine("NVDA", quote("NVDA", pct=3.1)),), UP_COLOUR),
        ((TickerLine("NVDA", quote("NVDA", pct=-3.1)),), DOWN_COLOUR),
        ((TickerLine("NVDA", quote("NVDA", pct=0.0)),), FLAT_COLOUR),
        ((TickerLine("NVDA", None),), FLAT_COLOUR),
        # the watchlist's own ticker decides, not another detected one
        (
            (
                TickerLine("TSM", quote("TSM", pct=-2.0), in_watchlist=False),
                TickerLine("NVDA", quote("NVDA", pct=1.0)),
            ),
            UP_COLOUR,
        ),
        ((), FLAT_COLOUR),
    ],
)
def test_colour_follows_the_direction_of_the_move(tickers: tuple[TickerLine, ...], colour: int) -> None:
    assert alert_embed(story(tickers=tickers))["color"] == colour


def test_up_move_field_has_an_up_arrow_and_the_session() -> None:
    e = alert_embed(story(tickers=(TickerLine("NVDA", quote("NVDA", 950.0, 2.5)),)))
    assert e["fields"][0] == {"name": "▲ NVDA", "value": "$950.00 · +2.50% · pre-market", "inline": True}


def test_unavailable_price_says_why_when_known() -> None:
    q = Quote("ZZZZ", None, None, None, None, None, None, reason="no such symbol")
    e = alert_embed(story(tickers=(TickerLine("ZZZZ", q),)))
    assert e["fields"][0]["name"] == "ZZZZ"
    assert render_markdown(e["fields"][0]["value"]).text == "price unavailable (no such symbol)"


def test_non_http_links_are_never_linked() -> None:
    for link in ("javascript:alert(1)", "data:text/html,hi", "ftp://x.example/a", "//x.example", ""):
        e = alert_embed(story(link=link))
        validate_message(body(e))
        assert "url" not in e


def test_alert_message_has_no_content_to_ping_with() -> None:
    m = alert_message(story())
    assert m.content is None and len(m.embeds) == 1


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_feed_text_renders_literally_and_pings_nobody(hostile: str) -> None:
    alert = clean_alert(
        story(title=hostile, summary=hostile, source=hostile, terms=(hostile,), watchlist="cloud-china")
    )
    e = alert_embed(alert)
    validate_message(body(e))
    for part in seen(e):
        shown = render_markdown(part)
        assert shown.mentions == [], (part, shown)
        assert shown.links == [], (part, shown)
        assert not shown.formatted, (part, shown)
    title = render_markdown(e["title"]).text
    assert title == one_line(hostile).replace("\u200b", ""), (
        "the reader sees the headline as the feed wrote it"
    )
    # even as message content with Discord's default allowed_mentions, nothing would ping
    fallback = text_only(alert_message(alert))
    assert fallback.content is not None
    assert pings(fallback.content, None) == []


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.lists(
        st.sampled_from([*"@everyone here<>#&!:/t*_~`|[]()\\-. 1\n", "https://x.io/a_b", "\u200b", "@here"]),
        max_size=80,
    ).map("".join)
)
def test_any_text_renders_literally_without_markup(text: str) -> None:
    shown = render_markdown(escape(text))
    assert shown.mentions == [] and shown.links == [] and not shown.formatted, (text, escape(text))
    assert shown.text == strip_control(text)  # what the reader sees is the text, spaces tidied


def test_everything_oversized_still_fits_discords_limits() -> None:
    huge = "word " * 20_000
    alert = story(
        title=huge,
        summary=huge,
        source=huge,
        watchlist="w" * 32,
        terms=tuple(f"term{i}" for i in range(300)),
        tickers=tuple(TickerLine(f"T{i}", quote(f"T{i}", pct=1.0)) for i in range(60)),
    )
    e = alert_embed(alert)
    validate_message(body(e))
    assert embed_size(e) <= 6000
    assert len(e["title"]) <= 256 and e["title"].endswith("…")
    assert len(e["description"]) <= 4096
    assert len(e["footer"]["text"]) <= 2048
    assert len(e["fields"]) <= 25


def test_a_long_escaped_title_is_trimmed_without_breaking_an_escape() -> None:
    e = alert_embed(story(title="*" * 1000))
    assert len(e["title"]) <= 256
    assert render_markdown(e["title"]).text == "*" * ((len(e["title"]) - 1) // 2) + "…"


def test_digest_lists_entries_and_says_how_many_more() -> None:
    entries = tuple(
        DigestEntry(
            title=f"Story number {i} about @everyone and **cloud**",
            link=f"https://news.example.com/{i}" if i % 3 else "javascript:alert(1)",
            source="Reuters",
            published_at=NOW,
            tickers=("AMZN",),
        )
        for i in range(400)
    )
    alert = clean_alert(
        Alert(
            key="digest:sub:1:a-b",
            kind="digest",
            channel=CHANNEL,
            watchlist="cloud-china",
            title="400 alerts for cloud-china",
            entries=entries,
            note="Held during quiet hours.",
            created_at=NOW,
        )
    )
    e = alert_embed(alert)
    validate_message(body(e))
    lines = e["description"].split("\n")
    assert render_markdown(lines[0]).text == "Held during quiet hours."
    assert lines[-1].startswith("… and ") and lines[-1].endswith(" more")
    shown = render_markdown(e["description"])
    assert shown.mentions[:1] == ["<t:1772456700:R>"]  # our own relative timestamp, not feed text
    assert all(m.startswith("<t:") for m in shown.mentions)
    assert all(url.startswith("https://news.example.com/") for _, url in shown.links)
    assert "javascript" not in " ".join(url for _, url in shown.links)
    assert not shown.formatted


def test_followup_links_each_outlet() -> None:
    alert = Alert(
        key="followup:s1:sub:1:0",
        kind="followup",
        channel=CHANNEL,
        watchlist="cloud-china",
        title="Amazon wins cloud deal",
        entries=(
            DigestEntry(title="t", link="https://cnbc.example/a", source="CNBC"),
            DigestEntry(title="t", link="https://bloomberg.example/b", source="Bloomberg"),
        ),
        note="Also reported by CNBC and Bloomberg",
        thread_of="1",
    )
    e = alert_embed(alert)
    validate_message(body(e))
    shown = render_markdown(e["description"])
    assert shown.text == "Also reported by CNBC and Bloomberg"
    assert shown.links == [("CNBC", "https://cnbc.example/a"), ("Bloomberg", "https://bloomberg.example/b")]


def test_move_alert_uses_note_and_fields() -> None:
    alert = Alert(
        key="move:NVDA:5",
        kind="move",
        channel=CHANNEL,
        watchlist="chips",
        title="NVDA up 5% pre-market",
        tickers=(TickerLine("NVDA", quote("NVDA", pct=5.2)),),
        note="Crossed the 5% threshold.",
        created_at=NOW,
    )
    e = alert_embed(alert)
    validate_message(body(e))
    assert e["color"] == UP_COLOUR
    assert render_markdown(e["description"]).text == "Crossed the 5% threshold."
    assert e["fields"][0]["name"] == "▲ NVDA"


# ---------------------------------------------------------------- replies


def test_plain_reply_is_escaped_content() -> None:
    m = reply_message(Reply(text="Subscribed <#1> to **cloud-china** @here"))
    assert m.embeds == () and m.content is not None
    shown = render_markdown(m.content)
    assert shown.text == "Subscribed <#1> to **cloud-china** @here"
    assert shown.mentions == [] and not shown.formatted
    assert pings(m.content, None) == []


def test_error_reply_is_private_and_red() -> None:
    m = reply_message(
        Reply(
            title="Cannot do that",
            text="Unknown watchlist 'x'",
            private=True,
            error=True,
            fields=(ReplyField("Usage", "/watch show NAME - a watchlist's contents"),),
        )
    )
    assert m.ephemeral
    (e,) = m.embeds
    validate_message(body(e))
    assert e["color"] == ERROR_COLOUR
    assert render_markdown(e["title"]).text == "⚠️ Cannot do that"
    assert render_markdown(e["fields"][0]["value"]).text == "/watch show NAME - a watchlist's contents"


def test_quote_reply_has_fields_and_the_chart_as_its_image() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    m = reply_message(
        Reply(
            title="AMZN",
            quotes=(quote("AMZN", 185.2, 1.26),),
            attachments=(Attachment(filename="AMZN 1d chart.png", data=png, title="AMZN today"),),
            items=(
                ReplyItem(
                    text="Amazon wins [cloud] deal",
                    link="https://news.example.com/1",
                    detail="Reuters · 12 min ago",
                ),
            ),
        )
    )
    (e,) = m.embeds
    validate_message({**body(e), "attachments": [{"id": 0, "filename": m.attachments[0].filename}]})
    assert not m.ephemeral
    assert m.attachments[0].filename == "AMZN_1d_chart.png"
    assert m.attachments[0].data == png
    assert e["image"] == {"url": "attachment://AMZN_1d_chart.png"}
    assert e["fields"][0] == {"name": "▲ AMZN", "value": "$185.20 · +1.26% · pre-market", "inline": True}
    shown = render_markdown(e["description"])
    assert shown.links == [("Amazon wins [cloud] deal", "https://news.example.com/1")]
    assert "Reuters · 12 min ago" in shown.text


def test_reply_with_every_part_oversized_fits() -> None:
    m = reply_message(
        Reply(
            title="t" * 1000,
            text="x" * 10_000,
            items=tuple(ReplyItem(text=f"item {i}", detail="d" * 300) for i in range(200)),
            fields=tuple(ReplyField(f"label {i}", "v" * 3000) for i in range(40)),
            quotes=tuple(quote(f"S{i}", pct=1.0) for i in range(30)),
        )
    )
    (e,) = m.embeds
    validate_message(body(e))
    assert embed_size(e) <= 6000


def test_text_only_fallback_fits_in_content() -> None:
    m = text_only(reply_message(Reply(title="T", text="y" * 10_000)))
    assert m.embeds == () and m.content is not None and len(m.content) <= 2000
    validate_message({"content": m.content})


# ---------------------------------------------------------------- invite and endpoints


def test_invite_asks_for_exactly_five_permissions() -> None:
    expected = (1 << 11) | (1 << 14) | (1 << 15) | (1 << 35) | (1 << 38)
    assert INVITE_PERMISSIONS.value == expected == 309237696512
    assert set(p for p, on in INVITE_PERMISSIONS if on) == {
        "send_messages",
        "embed_links",
        "attach_files",
        "create_public_threads",
        "send_messages_in_threads",
    }
    url = invite_url(1122334455667788)
    assert url.startswith("https://discord.com/oauth2/authorize?client_id=1122334455667788")
    assert "scope=bot+applications.commands" in url
    assert f"permissions={expected}" in url
    assert INVITE_SCOPES == ("bot", "applications.commands")
    assert not discord.Permissions(expected).administrator


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, "https://discord.com/api/v10"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/api/v10"),
        ("http://proxy.internal:8080/api/v10/", "http://proxy.internal:8080/api/v10"),
    ],
)
def test_api_base(given: str | None, expected: str) -> None:
    assert api_base(given) == expected


@pytest.mark.parametrize("bad", ["discord.com", "ftp://x", "http://x/api/v9"])
def test_api_base_rejects_what_cannot_work(bad: str) -> None:
    with pytest.raises(ConfigError, match="DISCORD_API_URL"):
        api_base(bad)


def test_gateway_base() -> None:
    assert gateway_base(None) == "wss://gateway.discord.gg/"
    assert gateway_base("ws://127.0.0.1:9/gateway") == "ws://127.0.0.1:9/gateway"
    with pytest.raises(ConfigError, match="DISCORD_GATEWAY_URL"):
        gateway_base("http://127.0.0.1:9/")


def test_a_story_for_several_watchlists_names_each_in_the_footer() -> None:
    embed = alert_embed(story(watchlists=("cloud-china", "chips")))
    assert embed["footer"]["text"] == "Reuters · cloud-china, chips"
