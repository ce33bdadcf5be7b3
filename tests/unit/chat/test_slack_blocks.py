"""Block Kit rendering: what a Slack user reads, that nothing pings anyone, and Slack's limits hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.chat.slack_blocks import (
    FALLBACK_TEXT,
    MAX_BLOCKS,
    WORD_JOINER,
    alert_message,
    clip,
    escape,
    link,
    reply_message,
    safe_url,
    text_only,
)
from bot.domain.models import (
    Alert,
    Attachment,
    ChannelRef,
    DigestEntry,
    Reply,
    ReplyField,
    ReplyItem,
    TickerLine,
    TradingSession,
)
from tests.fakes.slack import render_blocks, render_mrkdwn, validate_blocks
from tests.support.factories import news_alert, quote

NOW = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
CHANNEL = ChannelRef("slack", "C0GENERAL1")

HOSTILE = [
    "<!channel> Fed hikes",
    "<!here|here> urgent",
    "<!everyone> read this",
    "ping <@U123ABC> and <@W999|boss>",
    "see <#C0123ABCD|general>",
    "<!subteam^S0614TZR7|@oncall> wake up",
    "@channel @here @everyone in plain text",
    "AT&T buys T-Mobile & more &amp; &lt;b&gt;",
    "<https://evil.example|https://bank.example> click",
    "a > b < c",
    "<javascript:alert(1)|click me>",
    "\u202eevil\u202c bidi",
]


story = partial(
    news_alert,
    channel=CHANNEL,
    now=NOW,
    key="k1",
    title="Amazon expands cloud region in Shanghai",
    link="https://news.example/amzn?id=1&utm=x",
    summary="Amazon Web Services said on Tuesday it will open a new region.",
    tickers=(
        TickerLine("AMZN", quote("AMZN", 185.2, 1.26, session=TradingSession.PRE, as_of=NOW)),
        TickerLine("MSFT", quote("MSFT", 410.5, -0.82, session=TradingSession.REGULAR, as_of=NOW)),
        TickerLine("BABA", None),
    ),
    terms=("cloud", "export control"),
    story_id=None,
)


def seen(blocks: tuple[dict[str, object], ...] | list[dict[str, object]]) -> str:
    return render_blocks(list(blocks)).text.replace(WORD_JOINER, "")  # type: ignore[arg-type]


# ---------------------------------------------------------------- alert shape


def test_story_alert_reads_like_the_issue_describes() -> None:
    msg = alert_message(story(), now=NOW)
    assert validate_blocks(list(msg.blocks)) == []
    view = render_blocks(list(msg.blocks))
    text = view.text
    assert text.splitlines()[0] == "*Amazon expands cloud region in Shanghai*"
    assert view.links[0] == (
        "https://news.example/amzn?id=1&utm=x",
        "Amazon expands cloud region in Shanghai",
    )
    assert "Reuters · 12 min ago · watchlist *cloud-china*" in text
    assert "Amazon Web Services said on Tuesday it will open a new region." in text
    assert "*AMZN*  $185.20\n▲ +1.26% · pre-market" in text
    assert "*MSFT*  $410.50\n▼ −0.82% · regular" in text
    assert "*BABA*\nprice unavailable" in text
    assert "Matched: cloud, export control" in text
    assert view.pings == ()
    assert msg.text == (
        "Amazon expands cloud region in Shanghai — Reuters · AMZN +1.26% pre-market, MSFT −0.82% regular"
    )  # the phone notification carries the moves
    assert all(
        obj.get("verbatim") is True
        for b in msg.blocks
        for obj in [b.get("text"), *b.get("fields", []), *b.get("elements", [])]  # type: ignore[list-item]
        if isinstance(obj, dict) and obj.get("type") == "mrkdwn"
    )


def test_price_without_session_or_change_and_a_quote_with_no_price() -> None:
    msg = alert_message(
        story(
            tickers=(
                TickerLine("NVDA", quote("NVDA", None, None, session=None, as_of=NOW)),
                TickerLine("X", quote("X", 0.5, None, session=None, as_of=NOW)),
            )
        ),
        now=NOW,
    )
    text = seen(msg.blocks)
    assert "*NVDA*\nprice unavailable" in text
    assert "*X*  $0.5000" in text


def test_late_alert_is_marked_delayed_and_untitled_story_still_renders() -> None:
    msg = alert_message(story(late=True, title="", link="", summary="", tickers=(), terms=()), now=NOW)
    assert validate_blocks(list(msg.blocks)) == []
    text = seen(msg.blocks)
    assert "(untitled)" in text
    assert "_delayed_" in text


def test_followup_lists_outlets_with_links() -> None:
    alert = story(
        kind="followup",
        entries=(
            DigestEntry("Same story", "https://bloomberg.example/a", "Bloomberg"),
            DigestEntry("Same story", "javascript:alert(1)", "<!channel> CNBC"),
            DigestEntry("Same story", "https://ft.example/b", "FT"),
        ),
        note="Also reported by Bloomberg, <!channel> CNBC and FT",
    )
    msg = alert_message(alert, now=NOW, in_thread=True)
    view = render_blocks(list(msg.blocks))
    assert view.text.replace(WORD_JOINER, "") == "Also reported by Bloomberg, <!channel> CNBC and FT"
    assert view.links == (("https://bloomberg.example/a", "Bloomberg"), ("https://ft.example/b", "FT"))
    assert view.pings == ()
    assert render_mrkdwn(msg.text).pings == ()
    assert msg.text.startswith("Also reported by Bloomberg")
    # outside the thread (threads off) the reply repeats the story's headline
    alone = render_blocks(list(alert_message(alert, now=NOW).blocks)).text.replace(WORD_JOINER, "")
    assert (
        alone
        == "*Amazon expands cloud region in Shanghai*\nAlso reported by Bloomberg, <!channel> CNBC and FT"
    )


def test_digest_of_many_entries_fits_slack_limits() -> None:
    entries = tuple(
        DigestEntry(f"Headline number {i} " + "x" * 200, f"https://n.example/{i}", "Wire", NOW, ("AMZN",))
        for i in range(600)
    )
    alert = Alert(
        key="d",
        kind="digest",
        channel=CHANNEL,
        watchlist="cloud-china",
        title="Held during quiet hours: 600 stories for cloud-china " * 10,
        entries=entries,
        note="Quiet hours ended at 06:00.",
    )
    msg = alert_message(alert, now=NOW)
    assert validate_blocks(list(msg.blocks)) == []
    assert len(msg.blocks) <= MAX_BLOCKS
    text = seen(msg.blocks)
    assert "Headline number 0" in text
    assert "more parts not shown" in text
    assert msg.blocks[0]["type"] == "header"
    assert len(msg.blocks[0]["text"]["text"]) <= 150  # type: ignore[index]


def test_briefing_and_move_alerts() -> None:
    briefing = Alert(
        key="b",
        kind="briefing",
        channel=CHANNEL,
        watchlist="cloud-china",
        title="Pre-market briefing: cloud-china",
        tickers=tuple(
            TickerLine(f"T{i}", quote(f"T{i}", 10 + i, i - 6, session=TradingSession.PRE, as_of=NOW))
            for i in range(14)
        ),
        entries=(DigestEntry("Top story", "https://n.example/1", "Reuters", NOW - timedelta(hours=3)),),
    )
    msg = alert_message(briefing, now=NOW)
    assert validate_blocks(list(msg.blocks)) == []
    field_blocks = [b for b in msg.blocks if "fields" in b]
    assert [len(b["fields"]) for b in field_blocks] == [10, 4]  # type: ignore[arg-type]
    assert "• Top story — Reuters · 3 h ago" in seen(msg.blocks)

    move = Alert(
        key="m",
        kind="move",
        channel=CHANNEL,
        watchlist="chips",
        title="NVDA ▲ 5.20% pre-market",
        tickers=(TickerLine("NVDA", quote("NVDA", 120.0, 5.2, session=TradingSession.PRE, as_of=NOW)),),
        note="Crossed your 5% threshold.",
    )
    text = seen(alert_message(move, now=NOW).blocks)
    assert text.startswith("NVDA ▲ 5.20% pre-market")
    assert "Crossed your 5% threshold." in text


def test_huge_fields_are_trimmed_never_rejected() -> None:
    alert = story(
        title="T" * 10_000,
        summary="word " * 20_000,
        source="S" * 5000,
        watchlist="w" * 32,
        tickers=tuple(TickerLine(f"S{i}", None) for i in range(120)),
        terms=tuple(f"term{i}" * 50 for i in range(400)),
    )
    msg = alert_message(alert, now=NOW)
    assert validate_blocks(list(msg.blocks)) == []
    assert len(msg.text) <= FALLBACK_TEXT


# ---------------------------------------------------------------- escaping


def test_every_hostile_title_is_shown_literally_and_pings_nobody() -> None:
    for title in HOSTILE:
        msg = alert_message(story(title=title, summary=title, source=title, terms=(title,)), now=NOW)
        assert validate_blocks(list(msg.blocks)) == []
        view = render_blocks(list(msg.blocks))
        assert view.pings == (), title
        assert render_mrkdwn(msg.text).pings == (), title
        shown_title = view.text.splitlines()[0].replace(WORD_JOINER, "")
        expected = " ".join(title.replace("\u202e", "").replace("\u202c", "").split())
        assert shown_title == f"*{expected}*", title
        # the only link is the story's own
        assert [u for u, _ in view.links] == ["https://news.example/amzn?id=1&utm=x"], title


def test_bare_mass_mentions_get_a_word_joiner() -> None:
    out = escape("@channel @HERE @everyone email@here.com")
    assert "@channel" not in out and "@HERE" not in out and "@everyone" not in out
    assert out.replace(WORD_JOINER, "") == "@channel @HERE @everyone email@here.com"
    # even where Slack would parse bare mentions (non-verbatim text), nothing pings
    assert render_mrkdwn(out, parse_bare_mentions=True).pings == ()


def test_only_http_links_are_linked_and_urls_cannot_break_out() -> None:
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("JaVaScRiPt:alert(1)") is None
    assert safe_url("data:text/html,<b>x</b>") is None
    assert safe_url("ftp://host/file") is None
    assert safe_url("//no-scheme.example/x") is None
    assert safe_url("https://") is None
    assert link("javascript:alert(1)", "click <here>") == "click &lt;here&gt;"
    out = link("https://a.example/x?q=1|evil>&r=<b>", "label|with>pipe")
    view = render_mrkdwn(out)
    assert view.links == (("https://a.example/x?q=1%7Cevil%3E&r=%3Cb%3E", "label|with>pipe"),)
    assert view.text == "label|with>pipe"
    assert link("HTTPS://Upper.example/ü path", "x") == "<HTTPS://Upper.example/%C3%BC%20path|x>"


def test_clip_never_cuts_an_entity_or_a_link() -> None:
    text = "a" * 95 + "&amp;bbbb"
    assert clip(text, 100) == "a" * 95 + "…"
    linked = "x" * 50 + "<https://e.example/long/path|label>" + "y" * 50
    out = clip(linked, 70)
    assert out == "x" * 50 + "…"
    assert clip("short", 10) == "short"


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    title=st.text(min_size=0, max_size=400),
    summary=st.text(max_size=4000),
    url=st.one_of(
        st.text(max_size=200), st.from_regex(r"https?://[a-z]{1,10}\.example/[^\s]{0,80}", fullmatch=True)
    ),
    source=st.text(max_size=100),
)
def test_any_feed_text_renders_valid_blocks_without_pings(
    title: str, summary: str, url: str, source: str
) -> None:
    msg = alert_message(
        story(title=title, summary=summary, link=url, source=source, terms=(title[:20],)), now=NOW
    )
    assert validate_blocks(list(msg.blocks)) == []
    view = render_blocks(list(msg.blocks), link_names=True)
    assert view.pings == ()
    assert render_mrkdwn(msg.text, parse_bare_mentions=True).pings == ()
    for target, _label in view.links:
        assert target.lower().startswith(("http://", "https://"))
        assert "|" not in target and ">" not in target and "<" not in target


# ---------------------------------------------------------------- replies


def test_reply_with_title_text_items_fields_and_quotes() -> None:
    reply = Reply(
        title="AMZN & friends",
        text="Two tickers.\nSecond line <@U1>.",
        items=(
            ReplyItem("Amazon opens region", "https://n.example/1", "Reuters · 5 min ago"),
            ReplyItem("No link <!here>"),
            ReplyItem("Bad link", "javascript:alert(1)"),
        ),
        fields=(ReplyField("Tickers", "AMZN, MSFT"), ReplyField("Channels", "#general")),
        quotes=(quote("AMZN", 185.2, 1.26, session=TradingSession.PRE, as_of=NOW),),
        attachments=(Attachment("AMZN.png", b"\x89PNG...", title="AMZN today"),),
    )
    msg = reply_message(reply)
    assert validate_blocks(list(msg.blocks)) == []
    view = render_blocks(list(msg.blocks))
    text = view.text
    assert msg.blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "AMZN & friends", "emoji": False},
    }
    assert "Two tickers.\nSecond line <@U1>." in text
    assert "*AMZN*  $185.20\n▲ +1.26% · pre-market" in text
    assert "*Tickers*\nAMZN, MSFT" in text
    assert "• Amazon opens region\n      Reuters · 5 min ago" in text
    assert "• No link <!here>" in text
    assert "• Bad link" in text
    assert view.links == (("https://n.example/1", "Amazon opens region"),)
    assert view.pings == ()
    assert msg.text == "AMZN &amp; friends"


def test_error_reply_is_flagged_and_empty_reply_still_valid() -> None:
    msg = reply_message(Reply(text="Unknown ticker ZZZZ. Did you mean ZM?", private=True, error=True))
    assert seen(msg.blocks) == "⚠️ Unknown ticker ZZZZ. Did you mean ZM?"
    empty = reply_message(Reply())
    assert validate_blocks(list(empty.blocks)) == []
    assert empty.text


def test_long_reply_text_is_split_across_sections() -> None:
    reply = Reply(text="\n".join(f"line {i} " + "z" * 90 for i in range(300)))
    msg = reply_message(reply)
    assert validate_blocks(list(msg.blocks)) == []
    assert len(msg.blocks) > 5
    assert "line 0 " in seen(msg.blocks) and "line 299 " in seen(msg.blocks)


def test_text_only_keeps_the_content() -> None:
    msg = alert_message(story(), now=NOW)
    plain_msg = text_only(msg)
    assert plain_msg.blocks == ()
    view = render_mrkdwn(plain_msg.text)
    assert "Amazon expands cloud region in Shanghai" in view.text
    assert "price unavailable" in view.text
    assert view.pings == ()


def test_a_story_for_several_watchlists_names_each() -> None:
    msg = alert_message(story(watchlists=("cloud-china", "chips")), now=NOW)
    assert "Reuters · 12 min ago · watchlists *cloud-china*, *chips*" in seen(msg.blocks)
