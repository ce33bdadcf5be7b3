"""/watch list, show, create, add, remove, delete, query and test through the real handlers,
the real SQL store (SQLite) and the real catalog and symbol directory."""

from __future__ import annotations

from datetime import timedelta

from bot.catalog import Catalog
from bot.domain.models import Watchlist
from bot.domain.timeutil import ManualClock
from bot.store import SqlStore

from .conftest import SLACK_TEAM, Chat, Newsroom, discord_ctx, slack_ctx

SCOPE = f"slack:{SLACK_TEAM}"


# ---------------------------------------------------------------- create


async def test_create_echoes_how_each_item_was_read(chat: Chat, catalog: Catalog) -> None:
    reply = await chat('/watch create chips NVDA $amd $XYZQ cloud "export control" chip* AI -podcast')
    assert not reply.private and not reply.error
    assert reply in chat.channel_sees()  # the channel sees who changed its alerts
    echo = {item.text.split(" → ")[0]: (item.text.split(" → ")[1], item.detail) for item in reply.items}
    assert echo["NVDA"][0] == "ticker NVDA (Nvidia)"
    assert echo["$amd"][0].startswith("ticker AMD")
    assert echo["$XYZQ"][0].startswith(
        "ticker XYZQ, not in the symbol directory (added as you asked; nearest known: XYZ"
    )
    assert echo["cloud"][0].startswith("keyword cloud (whole word")
    assert echo['"export control"'][0].startswith('phrase "export control"')
    assert echo["chip*"][0] == "prefix chip* (any word starting with chip)"
    assert echo["AI"] == (
        "keyword AI (whole word; also matches other forms such as plurals)",
        "read as a keyword because AI is a common word or acronym; write $AI for the ticker",
    )
    assert echo["-podcast"][0].startswith("exclude: keyword podcast")
    assert "Created watchlist chips with 8 items" in reply.text
    wl = catalog.find(SCOPE, "chips")
    assert wl is not None and wl.created_by == "U1" and wl.scope == SCOPE
    assert wl.tickers == ("NVDA", "AMD", "XYZQ")
    assert wl.keywords == ("cloud", "export control", "chip*", "AI")
    assert wl.exclude == ("podcast",)


async def test_a_new_watchlist_matches_from_the_next_poll(chat: Chat, catalog: Catalog) -> None:
    title = "Cloud outage hits European customers"
    assert ("slack:T0001", "outages") not in catalog.matcher.match(title).watchlists
    await chat("/watch create outages outage* cloud")
    assert (SCOPE, "outages") in catalog.matcher.match(title).watchlists
    await chat("/watch delete outages")
    assert (SCOPE, "outages") not in catalog.matcher.match(title).watchlists


async def test_hints_for_lower_case_symbols_and_company_names(chat: Chat) -> None:
    reply = await chat("/watch create names nvda Nvidia")
    details = [i.detail for i in reply.items]
    assert details == [
        "read as a keyword; for the ticker write NVDA or $NVDA",
        "tip: $NVDA watches Nvidia by ticker and by name",
    ]


async def test_unknown_bare_symbol_is_refused_with_suggestions(chat: Chat, catalog: Catalog) -> None:
    reply = await chat("/watch create chips NVDIA cloud")
    assert reply.private and reply.error
    assert reply.title == "Nothing was changed: one item needs fixing"
    assert "NVDIA is not a symbol I know: did you mean NVDA" in reply.text
    assert "Write $NVDIA to add it anyway" in reply.text
    assert catalog.find(SCOPE, "chips") is None
    assert chat.channel_sees() == []


async def test_every_bad_item_is_listed(chat: Chat) -> None:
    reply = await chat('/watch create chips NVDIA $ "" *x')
    assert reply.title == "Nothing was changed: 4 items need fixing"
    lines = reply.text.splitlines()
    assert len(lines) == 4
    assert "'$' is not a ticker symbol" in lines[1]
    assert lines[2].startswith("empty term")
    assert "'*' may only end a word" in lines[3]


async def test_long_lists_of_problems_are_cut_short(chat: Chat) -> None:
    reply = await chat("/watch create chips " + " ".join(f"ZZ{i}Q" for i in range(25)) + " " + "x" * 101)
    assert reply.title == "Nothing was changed: 26 items need fixing"
    lines = reply.text.splitlines()
    assert len(lines) == 11 and lines[-1] == "... and 16 more."


async def test_overlong_keywords_are_refused(chat: Chat) -> None:
    reply = await chat("/watch create chips NVDA " + "x" * 101)
    assert reply.error
    assert (
        reply.text
        == "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... is longer than 100 characters; a keyword or phrase should be a few words."
    )


async def test_create_needs_a_ticker_or_keyword(chat: Chat) -> None:
    reply = await chat("/watch create chips -podcast")
    assert reply.error and "needs at least one ticker or keyword" in reply.text


async def test_create_refuses_taken_names(chat: Chat) -> None:
    await chat("/watch create chips NVDA")
    reply = await chat("/watch create CHIPS AMD")
    assert reply.error and "There is already a watchlist named 'chips' here" in reply.text
    reply = await chat("/watch create Cloud-China AMD")
    assert reply.error and "already a watchlist from the config file" in reply.text


async def test_bad_names(chat: Chat) -> None:
    reply = await chat("/watch create 'my chips' NVDA")
    assert reply.error and "use 1-32 letters, digits, '-' or '_'" in reply.text
    reply = await chat("/watch create " + "a" * 33 + " NVDA")
    assert "is too long" in reply.text


async def test_watchlists_per_workspace_limit(chat: Chat) -> None:
    for name in ("one", "two", "three"):
        assert not (await chat(f"/watch create {name} NVDA")).error
    reply = await chat("/watch create four NVDA")
    assert reply.error
    assert reply.text == (
        "This workspace already has 3 watchlists, the most allowed (commands.max_watchlists in the "
        "config). Delete one with /watch delete NAME first."
    )
    # another workspace has its own allowance
    other = await chat("/watch create four NVDA", workspace="T0002", channel=slack_ctx(team="T0002").channel)
    assert not other.error


async def test_items_per_watchlist_limit(chat: Chat) -> None:
    reply = await chat("/watch create big a b c d e f g h i")  # max_items is 8 in the test config
    assert reply.error
    assert "'big' would have 9 items; a watchlist holds at most 8 (commands.max_items" in reply.text
    await chat("/watch create big AMZN MSFT NVDA AMD TSLA AAPL GOOGL")
    reply = await chat("/watch add big cloud chips")
    assert "'big' would have 9 items" in reply.text


# ---------------------------------------------------------------- add and remove


async def test_add_reports_what_was_already_there(chat: Chat, catalog: Catalog) -> None:
    await chat("/watch create chips NVDA cloud")
    reply = await chat("/watch add chips $nvda AMD Clouds")
    assert not reply.error and not reply.private
    assert reply.text == "Added 1 item to chips. Changes apply from the next poll."
    texts = [i.text for i in reply.items]
    assert texts[0] == "$nvda → ticker NVDA (Nvidia), already in the watchlist"
    assert texts[1].startswith("AMD → ticker AMD")
    assert texts[2].startswith("Clouds → keyword Clouds") and texts[2].endswith("already in the watchlist")
    wl = catalog.find(SCOPE, "chips")
    assert wl is not None and wl.tickers == ("NVDA", "AMD") and wl.keywords == ("cloud",)


async def test_add_nothing_new(chat: Chat) -> None:
    await chat("/watch create chips NVDA")
    reply = await chat("/watch add chips NVDA")
    assert reply.private and not reply.error
    assert reply.text == "Nothing new: everything is already in chips."


async def test_add_unknown_watchlist_suggests(chat: Chat) -> None:
    await chat("/watch create chips NVDA")
    reply = await chat("/watch add chipz AMD")
    assert reply.error and "There is no watchlist named 'chipz' here. Did you mean chips?" in reply.text


async def test_config_watchlists_are_read_only(chat: Chat) -> None:
    for line in (
        "/watch add cloud-china GOOGL",
        "/watch remove cloud-china BABA",
        "/watch delete cloud-china",
        "/watch query cloud-china 'cloud'",
    ):
        reply = await chat(line, is_admin=True)
        assert reply.error and reply.private
        assert "comes from the bot's config file" in reply.text and "edit config/bot.yaml" in reply.text


async def test_query_watchlists_have_no_items_to_add(chat: Chat) -> None:
    await chat("/watch query q '$NVDA AND chips'")
    reply = await chat("/watch add q AMD")
    assert reply.error and "set a new query with /watch query q '<query>'" in reply.text


async def test_remove(chat: Chat, catalog: Catalog) -> None:
    await chat('/watch create chips NVDA AMD cloud "export control" -podcast')
    reply = await chat('/watch remove chips AMD CLOUD TSLA -podcast "Export Controls" nvda')
    assert not reply.error
    assert reply.text == "Removed 3 items from chips. Changes apply from the next poll."
    notes = {i.text: i.detail for i in reply.items}
    assert "CLOUD → not in chips" in notes  # upper-case CLOUD reads as a symbol, and chips has none
    assert "TSLA → not in chips" in notes
    assert notes["nvda → not in chips"] == "read as a keyword; for the ticker write NVDA or $NVDA"
    wl = catalog.find(SCOPE, "chips")
    assert wl is not None and wl.tickers == ("NVDA",) and wl.keywords == ("cloud",) and wl.exclude == ()


async def test_remove_unknown_symbols_that_were_confirmed(chat: Chat, catalog: Catalog) -> None:
    await chat("/watch create smallcaps $XYZQ NVDA")
    reply = await chat("/watch remove smallcaps XYZQ")
    assert not reply.error
    wl = catalog.find(SCOPE, "smallcaps")
    assert wl is not None and wl.tickers == ("NVDA",)


async def test_remove_nothing_or_everything(chat: Chat) -> None:
    await chat("/watch create chips NVDA cloud")
    reply = await chat("/watch remove chips TSLA")
    assert reply.error and "None of those are in 'chips'; /watch show chips lists what is." in reply.text
    reply = await chat("/watch remove chips NVDA cloud")
    assert reply.error and "would leave 'chips' with no tickers or keywords" in reply.text


# ---------------------------------------------------------------- delete


async def test_delete_removes_subscriptions(chat: Chat, sqlite_store: SqlStore, catalog: Catalog) -> None:
    await chat("/watch create chips NVDA")
    await chat("/watch subscribe chips")
    reply = await chat("/watch delete chips")
    assert reply.text == "Deleted watchlist chips and its 1 subscription."
    assert not reply.private
    assert await sqlite_store.list_subscriptions(channel=chat.ctx.channel) == []
    assert catalog.find(SCOPE, "chips") is None
    reply = await chat("/watch delete chips")
    assert reply.error and "There is no watchlist named 'chips' here" in reply.text


# ---------------------------------------------------------------- query


async def test_query_creates_and_explains_how_it_was_read(chat: Chat, catalog: Catalog) -> None:
    reply = await chat("/watch query chips ‘($NVDA OR $AMD) AND “export control” AND NOT opinion’")
    assert not reply.error and not reply.private
    fields = {f.label: f.value for f in reply.fields}
    assert fields["Query"] == '($NVDA OR $AMD) AND "export control" AND NOT opinion'
    assert fields["Read as"] == '(($NVDA OR $AMD) AND "export control" AND NOT opinion)'
    assert reply.text.startswith("Created watchlist chips with a query.")
    assert (SCOPE, "chips") in catalog.matcher.match("Nvidia hit by new export controls").watchlists


async def test_query_replaces_tickers_and_keywords(chat: Chat, catalog: Catalog) -> None:
    await chat("/watch create chips NVDA cloud -podcast")
    reply = await chat("/watch query chips $NVDA sanction*")
    assert "chips now matches with this query; it replaces its 2 ticker and keyword items." in reply.text
    wl = catalog.find(SCOPE, "chips")
    assert (
        wl is not None and wl.query == "$NVDA sanction*" and wl.tickers == () and wl.exclude == ("podcast",)
    )


async def test_bad_queries_point_at_the_column(chat: Chat, catalog: Catalog) -> None:
    reply = await chat("/watch query chips '$NVDA AND (chips OR sanction*'")
    assert reply.error and reply.private
    assert "missing ')' to close the '(' at 11" in reply.text
    reply = await chat("/watch query chips 'NOT opinion'")
    assert "all NOT" in reply.text
    assert catalog.find(SCOPE, "chips") is None


# ---------------------------------------------------------------- list and show


async def test_list_shows_config_and_this_workspace_only(chat: Chat) -> None:
    await chat("/watch create mine NVDA cloud")
    await chat(
        "/watch create theirs AMD", workspace="T0002", channel=slack_ctx(team="T0002").channel, user="U9"
    )
    await chat("/watch subscribe cloud-china")
    reply = await chat("/watch list")
    assert reply.private
    shown = {i.text: i.detail for i in reply.items}
    assert set(shown) == {"cloud-china", "chips-policy", "mine"}
    assert (
        shown["cloud-china"]
        == "3 tickers, 2 keywords · from the config file (read-only here) · subscribed here"
    )
    assert shown["chips-policy"].startswith("query: ($NVDA OR $AMD)")
    assert shown["mine"] == "1 ticker, 1 keyword · made in chat by U1"


async def test_a_long_list_shows_subscribed_first_and_narrows_by_text(
    chat: Chat, sqlite_store: SqlStore, catalog: Catalog
) -> None:
    for n in range(1, 45):  # more than this workspace may create: as a large install has
        await sqlite_store.save_watchlist(
            Watchlist(f"desk-{n}", chat.ctx.scope, tickers=("AMD",), created_by="U1")
        )
    await catalog.reload()
    await chat("/watch subscribe desk-44")
    reply = await chat("/watch list")
    assert len(reply.items) == 40 and reply.items[0].text == "desk-44"
    assert reply.text == (
        "Showing 40 of 46 watchlists, those subscribed here first: "
        "/watch list TEXT narrows the list, /watch show NAME shows one."
    )
    narrowed = await chat("/watch list DESK-1")
    assert sorted(i.text for i in narrowed.items) == sorted(["desk-1", *(f"desk-1{d}" for d in range(10))])
    assert narrowed.text == ""
    none = await chat("/watch list semis")
    assert none.private and not none.items
    assert none.text == "No watchlist name here contains 'semis'. /watch list shows them all."


async def test_show_lists_channels_here_and_counts_the_rest(chat: Chat, clock: ManualClock) -> None:
    await chat("/watch subscribe cloud-china briefing")
    await chat("/watch subscribe cloud-china", channel=slack_ctx(channel="C0999OTHER").channel)
    other_team = slack_ctx(team="T0002", channel="C0555TEAM2")
    await chat("/watch subscribe cloud-china", workspace="T0002", channel=other_team.channel)
    await chat("/watch mute 1h")
    reply = await chat("/watch show cloud-china")
    assert reply.private and not reply.error
    fields = {f.label: f.value for f in reply.fields}
    assert fields["Tickers"] == "AMZN, MSFT, BABA"
    assert fields["Keywords"] == '"export control", cloud'
    assert fields["Match"] == "a ticker OR a keyword"
    assert fields["Source"] == "from the config file (read-only here)"
    assert fields["Channels"] == (
        "this channel (pre-market briefing, muted until 09:00 EST (in 1h)), C0999OTHER, and 1 channel elsewhere"
    )


async def test_show_query_watchlist(chat: Chat) -> None:
    reply = await chat("/watch show CHIPS-POLICY")
    fields = {f.label: f.value for f in reply.fields}
    assert fields["Query"] == '($NVDA OR $AMD) AND ("export control" OR sanction*)'
    assert fields["Channels"] == "none"


# ---------------------------------------------------------------- test


async def test_test_shows_recent_matches_with_why(chat: Chat, news: Newsroom) -> None:
    await news.publish("Nvidia shares slip on new export controls", tickers=["NVDA"], age=timedelta(hours=3))
    await news.publish(
        "AMD unveils chips", summary="Sanctions on suppliers widen.", tickers=["AMD"], age=timedelta(hours=1)
    )
    await news.publish("Apple launches a phone", tickers=["AAPL"])
    await news.publish("Nvidia and sanctions, a year ago", tickers=["NVDA"], age=timedelta(hours=30))
    reply = await chat("/watch test chips-policy")
    assert reply.private and not reply.error
    assert reply.text == "2 of 3 stories of the last 24 hours would have matched."
    assert [i.text for i in reply.items] == ["AMD unveils chips", "Nvidia shares slip on new export controls"]
    assert reply.items[0].detail == "Reuters · 1 h ago · why: $AMD in title; sanction* in summary"
    assert reply.items[1].detail == (
        'Reuters · 3 h ago · why: $NVDA in title; "export control" in title · named: NVDA as "Nvidia" (brand)'
    )
    assert reply.items[0].link == "https://news.example.com/2"


async def test_test_a_new_chat_watchlist(chat: Chat, news: Newsroom) -> None:
    await news.publish("Cloud spending keeps rising")
    await chat("/watch create clouds cloud")
    reply = await chat("/watch test clouds")
    assert reply.text == "1 of 1 stories of the last 24 hours would have matched."
    assert reply.items[0].detail.endswith("why: cloud in title")


async def test_test_without_matches_or_stories(chat: Chat, news: Newsroom) -> None:
    reply = await chat("/watch test cloud-china")
    assert reply.text == "No stories arrived in the last 24 hours, so there is nothing to test against yet."
    await news.publish("Apple launches a phone", tickers=["AAPL"])
    reply = await chat("/watch test cloud-china")
    assert reply.text.startswith(
        "None of the 1 stories of the last 24 hours would have matched. Try broader keywords"
    )
    reply = await chat("/watch test cloud-chna")
    assert reply.error and "Did you mean cloud-china?" in reply.text


async def test_test_shows_the_newest_ten(chat: Chat, news: Newsroom) -> None:
    for i in range(12):
        await news.publish(f"Cloud story {i}", age=timedelta(minutes=100 - i))
    reply = await chat("/watch test cloud-china")
    assert reply.text == "12 of 12 stories of the last 24 hours would have matched (showing the newest 10)."
    assert reply.items[0].text == "Cloud story 11"
    assert len(reply.items) == 10


# ---------------------------------------------------------------- discord scopes


async def test_discord_watchlists_live_in_their_guild(discord_chat: Chat, catalog: Catalog) -> None:
    reply = await discord_chat("/watch create chips NVDA")
    assert not reply.error
    ctx = discord_ctx()
    assert catalog.find(ctx.scope, "chips") is not None
    assert catalog.find(SCOPE, "chips") is None
