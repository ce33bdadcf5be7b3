"""What composition lets through from a feed: never a non-http(s) link, never a control character."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.delivery.escape import clean_alert, one_line, safe_link, truncate
from bot.domain.models import DigestEntry
from bot.domain.text import strip_control
from tests.support.factories import alert

LINK_BREAKERS = set(' <>|"`()[]{}\\^\n\t\r')


def test_only_http_and_https_links_pass() -> None:
    assert safe_link("https://www.reuters.com/markets/amazon-1") == "https://www.reuters.com/markets/amazon-1"
    assert safe_link("HTTP://Example.COM/A?b=1#c") == "http://example.com/A?b=1#c"
    for bad in (
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox",
        "mailto:a@b.c",
        "file:///etc/passwd",
        "ftp://example.com/x",
        "//evil.example/x",
        "/relative/path",
        "https://",
        "https:///nohost",
        "",
        None,
        "https://trusted.example@evil.example/",
        "https://user:pw@evil.example/",
        "https://example.com:99999/",
        "https://exa mple.com/",
        "https://" + "a" * 3000 + ".com/",
    ):
        assert safe_link(bad) is None, bad


def test_links_cannot_break_out_of_chat_link_syntax() -> None:
    # Slack renders <url|text>, Markdown [text](url): these characters would end the link early
    url = safe_link('https://example.com/a b|<!channel>>(x)[y]`z"q')
    assert url is not None and url.startswith("https://example.com/")
    assert not (set(url) & LINK_BREAKERS)
    assert safe_link("https://example.com/%E2%9C%93?q=1") == "https://example.com/%E2%9C%93?q=1"
    # newlines and tabs inside a URL are dropped, as browsers do
    assert safe_link("https://exam\nple.com/pa\tth") == "https://example.com/path"
    assert safe_link("https://bücher.example/x") == "https://xn--bcher-kva.example/x"


def test_control_and_invisible_characters_are_removed() -> None:
    hostile = "Apple\u202e gnp.exe\u200b \x1b[31mred\x1b[0m\x00 done\r\nline two\u2028x\ud800"
    assert strip_control(hostile) == "Apple gnp.exe [31mred[0m done\nline two\nx"
    assert one_line("Breaking:\nNVDA\n\n  jumps\t 5%") == "Breaking: NVDA jumps 5%"
    assert strip_control("a\n\n\n\nb") == "a\n\nb"


def test_truncate_cuts_at_a_word() -> None:
    assert truncate("short", 10) == "short"
    assert truncate("Amazon cuts cloud prices in China again", 20) == "Amazon cuts cloud…"
    assert len(truncate("x" * 100, 10)) == 10


@given(title=st.text(), link=st.text(), summary=st.text(), source=st.text())
def test_clean_alert_never_lets_a_bad_link_or_control_character_through(
    title: str, link: str, summary: str, source: str
) -> None:
    entry = DigestEntry(title=title, link=link, source=source)
    a = clean_alert(alert(title=title, link=link, source=source, summary=summary, entries=(entry,)))
    for url in (a.link, a.entries[0].link):
        assert url == "" or (url.startswith(("http://", "https://")) and not (set(url) & LINK_BREAKERS))
    for text in (a.title, a.source, a.entries[0].title):
        assert "\n" not in text and "\r" not in text
        assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in text)
    assert not any((ord(c) < 32 and c != "\n") or 0x7F <= ord(c) <= 0x9F for c in a.summary)
    assert not (
        set(a.title + a.summary) & set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\ufeff")
    )


@given(st.text(alphabet=st.characters(), min_size=0, max_size=300))
def test_safe_link_output_is_always_an_http_url_or_none(text: str) -> None:
    for candidate in (text, "https://example.com/" + text, "http://" + text):
        out = safe_link(candidate)
        assert out is None or (out.startswith(("http://", "https://")) and not (set(out) & LINK_BREAKERS))
