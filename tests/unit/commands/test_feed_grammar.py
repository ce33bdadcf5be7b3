"""The /feed grammar: shapes only (what the URL serves is the handlers' and the guard's business)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.commands.grammar import (
    FeedAddCmd,
    FeedHelpCmd,
    FeedListCmd,
    FeedRemoveCmd,
    FeedTestCmd,
    StatusCmd,
    UsageError,
    parse,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", FeedHelpCmd()),
        ("help remove", FeedHelpCmd("remove")),
        ("list", FeedListCmd()),
        ("ls", FeedListCmd()),
        ("add https://x.test/rss", FeedAddCmd("https://x.test/rss")),
        ("add <https://x.test/rss>", FeedAddCmd("https://x.test/rss")),
        (
            "add <https://x.test/rss|x.test/rss> every 15m",
            FeedAddCmd("https://x.test/rss", timedelta(minutes=15)),
        ),
        (
            "add https://x.test/rss every 1h name Reuters Markets (US)",
            FeedAddCmd("https://x.test/rss", timedelta(hours=1), "Reuters Markets (US)"),
        ),
        ('add https://x.test/rss name "Desk wire"', FeedAddCmd("https://x.test/rss", None, "Desk wire")),
        ("remove Desk wire", FeedRemoveCmd("Desk wire")),
        ("rm desk", FeedRemoveCmd("desk")),
        ("test HTTPS://X.test/a?b=1", FeedTestCmd("HTTPS://X.test/a?b=1")),
    ],
)
def test_feed_commands(text: str, expected: object) -> None:
    assert parse("feed", text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("add", "needs a feed URL"),
        ("add x.test/rss", "'x.test/rss' is not a feed URL"),
        ("add javascript:alert(1)", "is not a feed URL"),
        ("add file:///etc/passwd", "is not a feed URL"),
        ("add https://x.test/rss every", "needs an interval after every"),
        ("add https://x.test/rss every 5", "'5' is not an interval"),
        ("add https://x.test/rss every soon", "'soon' is not an interval"),
        ("add https://x.test/rss name " + "x" * 65, "cannot be a feed name"),
        ("add https://x.test/rss name <script>", "cannot be a feed name"),
        ("add https://x.test/rss hourly", "Unexpected 'hourly'"),
        ("list all", "Unexpected 'all'"),
        ("test https://x.test/a https://x.test/b", "Unexpected 'https://x.test/b'"),
        ("remove", "needs the NAME of a feed"),
        ("ad https://x.test", "Did you mean /feed add?"),
    ],
)
def test_bad_feed_input_says_what_to_fix(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse("feed", text)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_watch_status_and_help_feed() -> None:
    assert parse("watch", "status") == StatusCmd()
    assert parse("watch", "help feed") == FeedHelpCmd()
    with pytest.raises(UsageError, match="Unexpected 'now'"):
        parse("watch", "status now")


def test_an_unclosed_quote_is_said_first_unless_a_subcommand_reads_the_raw_line() -> None:
    # /feed splits the whole line first: the quote is the problem, whatever the first word
    with pytest.raises(UsageError, match="never closed") as caught:
        parse("feed", 'mute "unclosed')
    assert caught.value.usage == "feed help"
    # /watch reads word by word (a query takes the raw rest of the line): the word comes first
    with pytest.raises(UsageError, match="/watch has no command 'shwo'"):
        parse("watch", 'shwo "unclosed')
    assert parse("watch", "query chips 'export control").query == "'export control"  # type: ignore[union-attr]
