"""Canonical URLs, title normalisation, the story index, summaries and boilerplate removal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.stories import ClusterIndex, canonical_url, normalize_title, title_tokens, url_key
from bot.domain.summary import _BOILERPLATE, ELLIPSIS, strip_boilerplate, summarize
from bot.domain.text import _parsed_text, _simple_text, collapse_whitespace

T0 = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "HTTPS://WWW.Reuters.COM:443/markets/us/fed-holds/?utm_source=rss&utm_medium=feed#comments",
            "https://www.reuters.com/markets/us/fed-holds/",
        ),
        ("https://example.com/a?b=2&fbclid=xyz&a=1&gclid=abc", "https://example.com/a?a=1&b=2"),
        ("http://example.com", "http://example.com/"),
        ("http://example.com:8080/x", "http://example.com:8080/x"),
        (
            "https://finance.yahoo.com/news/x.html?.tsrc=rss&ncid=yahoo",
            "https://finance.yahoo.com/news/x.html?.tsrc=rss",
        ),
        ("  https://example.com/p?id=5  ", "https://example.com/p?id=5"),
        ("mailto:news@example.com", "mailto:news@example.com"),
        ("", ""),
    ],
)
def test_canonical_url_drops_tracking_fragment_default_port(raw: str, expected: str) -> None:
    assert canonical_url(raw) == expected


def test_canonical_url_resolves_relative_links() -> None:
    assert canonical_url("/story/1?utm_campaign=x", base="https://news.example/feed.xml") == (
        "https://news.example/story/1"
    )


def test_url_key_ignores_scheme_www_and_trailing_slash() -> None:
    assert url_key("https://www.cnbc.com/2026/11/25/fed/") == url_key("http://cnbc.com/2026/11/25/fed")


@given(st.text(max_size=200))
def test_canonical_url_never_raises(text: str) -> None:
    canonical_url(text)
    canonical_url("https://" + text)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("UPDATE 2-Fed holds rates steady, signals cuts - Reuters", "Fed holds rates steady; signals cuts"),
        (
            "EXCLUSIVE: US weighs cloud curbs for Chinese AI firms | CNBC",
            "US weighs cloud curbs for Chinese AI firms",
        ),
        ("Apple’s “big” quarter", 'Apple\'s "big" quarter'),
    ],
)
def test_normalize_title_strips_wire_prefixes_outlet_suffixes_and_punctuation(a: str, b: str) -> None:
    assert normalize_title(a) == normalize_title(b)


def test_normalize_title_keeps_meaningful_lowercase_suffix() -> None:
    assert normalize_title("Apple earnings - live updates") != normalize_title("Apple earnings")


def test_title_tokens_drop_stopwords() -> None:
    assert title_tokens(normalize_title("The Fed and the markets")) == {"fed", "markets"}


def test_cluster_index_joins_same_url_and_near_identical_titles_within_the_window() -> None:
    index = ClusterIndex(threshold=90, window=timedelta(hours=48))
    index.add(
        "s1",
        title="US plans to restrict cloud services for Chinese AI developers",
        canonical_url="https://a.test/1",
        at=T0,
    )
    index.add(
        "s2", title="Nvidia shares slide after new chip export rule", canonical_url="https://b.test/2", at=T0
    )
    hit = index.find(
        title="Totally different words", canonical_url="https://a.test/1", at=T0 + timedelta(hours=1)
    )
    assert hit is not None and (hit.story_id, hit.reason) == ("s1", "url")
    hit = index.find(
        title="U.S. plans to restrict cloud services for Chinese AI developers - Reuters",
        canonical_url="https://c.test/3",
        at=T0 + timedelta(hours=2),
    )
    assert hit is not None and hit.story_id == "s1" and hit.reason == "title" and hit.score >= 90
    assert (
        index.find(title="Nvidia shares jump after earnings beat estimates", canonical_url="", at=T0) is None
    )
    # outside the window: a new story
    later = T0 + timedelta(hours=49)
    assert (
        index.find(title="Nvidia shares slide after new chip export rule", canonical_url="", at=later) is None
    )


def test_cluster_index_never_clusters_short_generic_titles() -> None:
    index = ClusterIndex()
    index.add("s1", title="Morning briefing", canonical_url="https://a.test/mb/1", at=T0)
    assert index.find(title="Morning briefing", canonical_url="https://a.test/mb/2", at=T0) is None


def test_cluster_index_prunes_and_discards() -> None:
    index = ClusterIndex(window=timedelta(hours=1))
    index.add(
        "old",
        title="Oil prices jump as supply cuts deepen worldwide",
        canonical_url="https://o.test/1",
        at=T0,
    )
    index.add(
        "new",
        title="Gold hits record as dollar weakens again today",
        canonical_url="https://g.test/1",
        at=T0 + timedelta(hours=2),
    )
    assert index.prune(T0 + timedelta(hours=2, minutes=30)) == {"old"}
    assert "old" not in index and "new" in index
    index.discard("new")
    assert len(index) == 0
    assert (
        index.find(
            title="Gold hits record as dollar weakens again today", canonical_url="https://g.test/1", at=T0
        )
        is None
    )


def test_cluster_index_lookup_touches_few_candidates() -> None:
    """With 20,000 stories indexed, a lookup compares only stories sharing a rare token."""
    index = ClusterIndex(max_candidates=300)
    for i in range(20_000):
        index.add(
            f"s{i}",
            title=f"Company{i} reports quarterly results above market estimates",
            canonical_url="",
            at=T0,
        )
    hit = index.find(
        title="Company12345 reports quarterly results above market estimates", canonical_url="", at=T0
    )
    assert hit is not None and hit.story_id == "s12345"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Stocks rose. The post Stocks rise appeared first on FXStreet.com.", "Stocks rose."),
        ("Stocks rose on Tuesday. Continue reading...", "Stocks rose on Tuesday."),
        ("Stocks rose. Continue reading →", "Stocks rose."),
        ("Stocks rose. Read more »", "Stocks rose."),
        ("Stocks rose [...]", "Stocks rose"),
        ("Stocks rose. Read the full story at Example News", "Stocks rose."),
    ],
)
def test_boilerplate_is_removed(raw: str, expected: str) -> None:
    assert strip_boilerplate(raw) == expected


LONG = (
    "Nvidia shares fell 3% after the U.S. Commerce Dept. said it would restrict exports. "
    "The rule, published Tuesday, covers H20 chips sold to China. Analysts at Morgan Stanley "
    "said the hit to revenue would be about $5.5 billion in the current quarter, while others "
    "expected the company to find workarounds. Shares of AMD also slipped."
)


def test_summary_cuts_at_a_sentence_boundary() -> None:
    s = summarize(LONG, title="Nvidia falls", limit=280)
    assert s == (
        "Nvidia shares fell 3% after the U.S. Commerce Dept. said it would restrict exports. "
        "The rule, published Tuesday, covers H20 chips sold to China."
    )
    assert len(s) <= 280


def test_summary_cuts_at_a_word_with_an_ellipsis_when_no_sentence_fits() -> None:
    text = "word " * 100
    s = summarize(text, limit=80)
    assert s.endswith(ELLIPSIS) and len(s) <= 80 and not s[:-1].endswith(" ")
    assert "wor…" not in s.replace("word…", "")


def test_summary_is_never_just_the_title() -> None:
    title = "Fed holds rates steady"
    assert summarize("Fed holds rates steady", title=title) == ""
    assert summarize("Fed holds rates steady.", title=title) == ""
    assert summarize("Fed holds rates steady. Powell says cuts may come in March.", title=title) == (
        "Powell says cuts may come in March."
    )


@given(st.text(max_size=2000), st.integers(min_value=80, max_value=600))
def test_summary_respects_the_limit(text: str, limit: int) -> None:
    assert len(summarize(text, limit=limit)) <= limit


def test_titles_that_differ_in_a_number_are_different_stories() -> None:
    index = ClusterIndex()
    index.add("s25", title="Fed cuts rates by 25 basis points in surprise move", canonical_url="", at=T0)
    assert (
        index.find(title="Fed cuts rates by 50 basis points in surprise move", canonical_url="", at=T0)
        is None
    )
    hit = index.find(title="Fed cuts rates by 25 basis points in a surprise move", canonical_url="", at=T0)
    assert hit is not None and hit.story_id == "s25"


# ---------------------------------------------------------------- plain markup without the HTMLParser

_FRAGMENTS = [
    "<p>Hello &amp; world</p><p>x</p>",
    "a<br/>b<br />c<BR>d",
    "<a href=\"https://x.test/?a=1&amp;b=2\" title='t'>link</a> tail &lt;3",
    "<P CLASS='a'>Up</P>",
    "<div\n>x</div\t>&#8217;s &nbsp;",
    "<p/>a<hr>b",
    '<p attr>t</p><span data-x="1">s</span>',
    "text &amp",
    "&amp;amp; twice",
    "<li>one</li><li>two</li>",
]


@pytest.mark.parametrize("fragment", _FRAGMENTS)
def test_plain_markup_reads_as_the_html_parser_reads_it(fragment: str) -> None:
    assert _simple_text(fragment) is not None
    assert _simple_text(fragment) == _parsed_text(fragment)


@pytest.mark.parametrize(
    "fragment",
    [
        "a < b",
        "<img alt='x'>",
        "</p class='x'>",
        "<script>x</script>",
        "<!-- c -->x",
        "<a href=x>y</a>",
        "<x:y>q",
    ],
)
def test_other_markup_is_left_to_the_html_parser(fragment: str) -> None:
    assert _simple_text(fragment) is None


@given(
    st.lists(
        st.one_of(
            st.text(alphabet="ab &;#<>/=\"'\n\tx1", max_size=12),
            st.sampled_from(
                ["<p>", "</p>", "<br/>", "<b>", "</b>", "<a href='u'>", "</a>", "&amp;", "&#39;"]
            ),
            st.sampled_from(['<div class="c">', "</div >", "<img alt='i'>", "<script>", "</script>"]),
        ),
        max_size=12,
    )
)
def test_any_fragment_the_fast_path_takes_reads_the_same(pieces: list[str]) -> None:
    fragment = "".join(pieces)
    simple = _simple_text(fragment)
    assert simple is None or simple == _parsed_text(fragment)


_BOILERPLATE_PIECES = [
    "The post ", "the POST", " appeared first on ", "Bench News.", " ", "\n", "\t", "x", "Hello world. ",
    "Continue reading", "keep reading the story at Foo", "...", "»", "Read more", "read the full story on X",
    "Click here to read", "tap here to view", "[...]", "[", "]", "View the full article here.",
    "Subscribe to our daily newsletter.", "Sign up for the newsletter", ".",
    "This article was originally published on ", "This story appeared first on ",
    "é", "ſ", "K", "post", "reading.", "\x1c", "\xa0",
]  # fmt: skip


@given(st.lists(st.sampled_from(_BOILERPLATE_PIECES), max_size=14))
def test_boilerplate_removal_is_the_patterns_substitution(pieces: list[str]) -> None:
    """Each pattern is tried only where its first words occur (ASCII text): the same result as
    re.sub of the whole pattern, leading spaces included."""
    text = "".join(pieces)
    for boilerplate in _BOILERPLATE:
        assert boilerplate.remove(text) == boilerplate.pattern.sub("", text)


_INVISIBLE_REFERENCE = {c: None for c in (0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD)} | {
    0x0D: 0x20,
    0x0C: 0x20,
    0x0B: 0x20,
}


@given(st.text(alphabet="ab \t\n\r\x0b\x0c\x1c\x85\xa0\u2028\u200b\u200c\u200d\u2060\ufeff\u00ad\u3000é"))
def test_collapsing_whitespace_is_translating_then_splitting(text: str) -> None:
    """Invisible characters go, \\r \\f \\v are spaces: what the translation table did."""
    plain = text.translate(_INVISIBLE_REFERENCE)
    assert collapse_whitespace(text) == " ".join(plain.split())
    lines = (" ".join(line.split()) for line in plain.split("\n"))
    assert collapse_whitespace(text, keep_newlines=True) == "\n".join(line for line in lines if line)
