"""Every matching rule from the issue, each shown with realistic headlines."""

from __future__ import annotations

import pytest

from bot.domain.models import Match, TermHit
from tests.unit.rules.conftest import MatcherFactory


def matched(matcher: object, title: str, summary: str = "") -> list[str]:
    result = matcher.match(title, summary)  # type: ignore[attr-defined]
    return [m.watchlist for m in result.matches]


# ---------------------------------------------------------------- the seed story


def test_seed_story_matches_cloud_china_with_its_tickers_and_terms(
    make: MatcherFactory, seed_story: tuple[str, str]
) -> None:
    matcher = make(
        dict(name="cloud-china", tickers=["AMZN", "MSFT", "BABA"], keywords=["export control", "cloud"]),
        aliases={"BABA": ["Alibaba"]},
    )
    title, summary = seed_story
    result = matcher.match(title, summary)

    assert result.tickers == ("AMZN", "BABA", "MSFT", "NVDA")  # NVDA from "Nvidia Corp.'s"
    [match] = result.matches
    assert match.watchlist == "cloud-china"
    assert match.scope == "config"
    assert match.tickers == ("AMZN", "MSFT", "BABA")
    assert match.terms == ("export control", "cloud")
    # "Cloud" in the headline and "cloud-computing" in the summary both count as cloud
    assert TermHit("cloud", "title") in match.hits
    assert TermHit("cloud", "summary") in match.hits
    assert TermHit("export control", "summary") in match.hits
    assert TermHit("AMZN", "title") in match.hits


def test_seed_story_cloud_matches_through_cloud_computing_alone(
    make: MatcherFactory, seed_story: tuple[str, str]
) -> None:
    matcher = make(dict(name="cloud", keywords=["cloud"]))
    _title, summary = seed_story
    only = "US weighs limits on Chinese access to cloud-computing services"
    assert matched(matcher, only) == ["cloud"]
    assert matched(matcher, "Cloud Restrictions Weigh On Tech") == ["cloud"]
    assert "cloud-computing" in summary


def test_explain_seed_story_names_what_matched_and_where(
    make: MatcherFactory, seed_story: tuple[str, str]
) -> None:
    matcher = make(
        dict(name="cloud-china", tickers=["AMZN", "MSFT", "BABA"], keywords=["export control", "cloud"])
    )
    text = str(matcher.explain("cloud-china", "config", *seed_story))
    assert text.startswith("cloud-china: MATCH")
    assert 'keyword "export control": found in summary as "export controls"' in text
    assert 'ticker $AMZN: found in title and summary as "Amazon", "AMZN", "NASDAQ: AMZN"' in text
    assert 'NVDA as "Nvidia"' in text


# ---------------------------------------------------------------- keywords


def test_keywords_are_case_insensitive(make: MatcherFactory) -> None:
    m = make(dict(name="w", keywords=["cloud"]))
    assert matched(m, "CLOUD SPENDING SURGES AT BIG TECH") == ["w"]
    assert matched(m, "Cloud spending surges") == ["w"]
    m2 = make(dict(name="w", keywords=["Export Control"]))
    assert matched(m2, "new export control rules hit chipmakers") == ["w"]


@pytest.mark.parametrize(
    "headline",
    [
        "Cloudflare shares jump after earnings beat",
        "Apple's iCloud outage hits millions of users",
        "Salesforce unveils Data Cloud+ features",  # "Cloud" + "+" is still the word cloud
    ],
)
def test_keywords_match_whole_words_only(make: MatcherFactory, headline: str) -> None:
    m = make(dict(name="w", keywords=["cloud"]))
    expected = ["w"] if "Data Cloud" in headline else []
    assert matched(m, headline) == expected


def test_a_phrase_matches_consecutive_words_only(make: MatcherFactory) -> None:
    m = make(dict(name="w", keywords=["export control"]))
    assert matched(m, "Commerce tightens export control on AI chips") == ["w"]
    assert matched(m, "Exports rise as China eases control of rare earths") == []
    assert matched(m, "Control of exports shifts to new agency") == []


@pytest.mark.parametrize(
    ("keyword", "headline"),
    [
        ("export control", "Beijing retaliates with export-control list for gallium"),
        ("cloud", "Oracle lifts AI/cloud guidance again"),
        ("cloud", "Hybrid-cloud deals drive IBM quarter"),
        ("export-control", "New export control rules published"),
        ("chip", "Chip, memory makers rally; Micron leads"),
    ],
)
def test_hyphens_slashes_and_punctuation_separate_words(
    make: MatcherFactory, keyword: str, headline: str
) -> None:
    assert matched(make(dict(name="w", keywords=[keyword])), headline) == ["w"]


@pytest.mark.parametrize(
    ("keyword", "headline"),
    [
        ("export control", "US widens export controls on chip tools"),
        ("recall", "Tesla recalled 2 million vehicles over Autopilot"),
        ("recall", "Ford recalls F-150 pickups"),
        ("delivery", "Tesla deliveries miss estimates"),
        ("guidance", "Company guides lower"),  # stems differ: guidance/guid -> no match expected
    ],
)
def test_english_inflections_match(make: MatcherFactory, keyword: str, headline: str) -> None:
    expected = [] if keyword == "guidance" else ["w"]
    assert matched(make(dict(name="w", keywords=[keyword])), headline) == expected


def test_exact_word_form_with_equals(make: MatcherFactory) -> None:
    m = make(dict(name="w", keywords=["=recall"]))
    assert matched(m, "GM issues recall of 30,000 SUVs") == ["w"]
    assert matched(m, "GM recalled 30,000 SUVs") == []
    phrase = make(dict(name="w", keywords=['="export control"']))
    assert matched(phrase, "export control rules") == ["w"]
    assert matched(phrase, "export controls widen") == []


def test_prefix_matches_word_starts(make: MatcherFactory) -> None:
    m = make(dict(name="w", keywords=["sanction*"]))
    for headline in ("US sanctions hit Russian banks", "Bank sanctioned by Treasury", "New sanction regime"):
        assert matched(m, headline) == ["w"], headline
    assert matched(m, "Unsanctioned miners keep exporting") == []


@pytest.mark.parametrize(
    ("title", "summary"),
    [
        ("US tightens export&nbsp;controls", ""),
        ("US tightens export&#160;controls", ""),
        ("US tightens export\u00a0controls", ""),
        ("Chip stocks slide", "<p>The US tightened <b>export</b> controls on Friday.</p>"),
        ("Chip stocks slide", "The US tightened export &amp;amp; import controls"),  # no: not a phrase
    ],
)
def test_html_entities_and_non_breaking_spaces_do_not_break_a_match(
    make: MatcherFactory, title: str, summary: str
) -> None:
    m = make(dict(name="w", keywords=["export control"]))
    expected = [] if "import" in summary else ["w"]
    assert matched(m, title, summary) == expected


def test_typographic_apostrophes_do_not_break_a_match(make: MatcherFactory) -> None:
    m = make(dict(name="w", keywords=["Lowe's"], tickers=["NVDA"]))
    assert matched(m, "Lowe’s raises outlook") == ["w"]
    assert m.match("Nvidia’s new chip ships").tickers == ("NVDA",)
    assert m.match("Nvidia\u2019s new chip ships").matches[0].tickers == ("NVDA",)


def test_exclude_vetoes_a_match(make: MatcherFactory) -> None:
    m = make(dict(name="w", tickers=["AMZN"], keywords=["cloud"], exclude=["podcast"]))
    assert matched(m, "Amazon cloud revenue jumps") == ["w"]
    assert matched(m, "Podcast: is the Amazon cloud slowing?") == []
    assert matched(m, "Cloud wars", "Listen to our podcasts") == []  # exclude terms are stemmed too


def test_match_any_is_a_ticker_or_a_keyword(make: MatcherFactory) -> None:
    m = make(dict(name="w", tickers=["AMZN"], keywords=["cloud"], match="any"))
    assert matched(m, "Amazon opens new warehouses") == ["w"]
    assert matched(m, "Cloud spending slows") == ["w"]
    assert matched(m, "Oil prices fall") == []


def test_match_all_is_a_ticker_and_a_keyword(make: MatcherFactory) -> None:
    m = make(dict(name="w", tickers=["AMZN", "MSFT"], keywords=["cloud", "antitrust"], match="all"))
    assert matched(m, "Amazon opens new warehouses") == []
    assert matched(m, "Cloud spending slows") == []
    assert matched(m, "Microsoft faces antitrust probe in EU") == ["w"]
    [match] = m.match("Microsoft faces antitrust probe in EU").matches
    assert (match.tickers, match.terms) == (("MSFT",), ("antitrust",))


# ---------------------------------------------------------------- queries


CHIPS = '($NVDA OR $AMD) AND ("export control" OR sanction* OR "entity list") AND NOT opinion'


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Nvidia shares slip as US weighs new export controls", True),
        ("AMD added to entity list, shares tumble", True),  # $AMD: the ticker in any form
        ("Advanced Micro Devices added to entity list", True),
        ("$AMD sinks after Commerce sanctions", True),
        ("Opinion: Nvidia will shrug off export controls", False),
        ("Nvidia hits record high", False),
        ("New sanctions on Russian oil", False),
    ],
)
def test_boolean_query(make: MatcherFactory, title: str, expected: bool) -> None:
    m = make(dict(name="chips-policy", query=CHIPS))
    assert matched(m, title) == (["chips-policy"] if expected else [])


def test_query_terms_side_by_side_mean_and(make: MatcherFactory) -> None:
    m = make(dict(name="w", query="tesla recall"))
    assert matched(m, "Tesla issues software recall") == ["w"]
    assert matched(m, "Tesla deliveries beat") == []
    assert matched(m, "Ford recall widens") == []


def test_query_precedence_not_and_or(make: MatcherFactory) -> None:
    m = make(dict(name="w", query="merger OR acquisition AND NOT rumor"))
    # AND binds tighter than OR: merger OR (acquisition AND NOT rumor)
    assert matched(m, "Merger rumor lifts shares") == ["w"]
    assert matched(m, "Acquisition rumor lifts shares") == []
    assert matched(m, "Acquisition completed") == ["w"]


def test_query_match_reports_the_present_terms(make: MatcherFactory) -> None:
    m = make(dict(name="chips-policy", query=CHIPS))
    [match] = m.match("Nvidia slides on sanctions; export controls loom").matches
    assert match.tickers == ("NVDA",)
    assert match.terms == ("export control", "sanction*")


# ---------------------------------------------------------------- tickers


@pytest.mark.parametrize(
    "text",
    [
        "$AMZN breaks out",
        "$amzn breaks out",
        "Amazon.com, Inc. (NASDAQ: AMZN) opens new region",
        "Amazon.com (Nasdaq:AMZN) opens new region",
        "AMZN gaps up pre-market",
        "Retail giant (AMZN) gaps up",
        "Amazon to invest $10 billion in Ohio",
        "Amazon's cloud unit grows",
    ],
)
def test_a_story_mentions_a_ticker_in_every_form(make: MatcherFactory, text: str) -> None:
    m = make(dict(name="w", tickers=["AMZN"]))
    result = m.match(text)
    assert result.tickers == ("AMZN",)
    assert matched(m, text) == ["w"]


@pytest.mark.parametrize(
    ("text", "symbol"),
    [
        ("Alibaba (NYSE: BABA) rises", "BABA"),
        ("Alibaba NYSE:BABA rises", "BABA"),
        ("Microsoft (Nasdaq: MSFT) rises", "MSFT"),
        ("Imperial Oil (NYSE American: IMO) rises", "IMO"),
        ("SPDR fund (NYSE Arca: SPY) rises", "SPY"),
        ("Gold miner (AMEX: GORO) rises", "GORO"),
        ("Shopify (TSX: SHOP) rises", "SHOP.TO"),
        ("Junior miner (TSXV: ABC) rises", "ABC.V"),
        ("Cannabis firm (CSE: XYZQ) rises", "XYZQ.CN"),
        ("Penny stock (OTCQX: ABCDF) rises", "ABCDF"),
        ("Options exchange (Cboe: CBOE) rises", "CBOE"),
        ("Berkshire (NYSE: BRK.B) rises", "BRK-B"),
    ],
)
def test_exchange_qualified_symbols(make: MatcherFactory, text: str, symbol: str) -> None:
    assert symbol in make().match(text).tickers


@pytest.mark.parametrize("word", ["AI", "IT", "US", "CEO", "ETF", "IPO", "ON", "ALL", "NOW", "EPS", "SEC"])
def test_common_acronyms_are_not_bare_tickers(make: MatcherFactory, word: str) -> None:
    m = make(dict(name="w", tickers=[word] if word not in ("CEO",) else ["AMZN"]))
    assert m.match(f"Analysts say {word} matters more than ever for the sector").tickers == ()


def test_stoplisted_symbols_still_match_as_cashtag_exchange_or_name(make: MatcherFactory) -> None:
    m = make(dict(name="w", tickers=["NOW"]))
    assert matched(m, "NOW is the time to buy") == []
    assert matched(m, "$NOW jumps after earnings") == ["w"]
    assert matched(m, "ServiceNow (NYSE: NOW) jumps") == ["w"]
    assert matched(m, "ServiceNow jumps after earnings") == ["w"]


def test_company_names_need_a_capital_letter(make: MatcherFactory) -> None:
    m = make(dict(name="w", tickers=["AAPL"]))
    assert matched(m, "Apple unveils new iPhone") == ["w"]
    assert matched(m, "Farmers expect a bumper apple harvest") == []
    assert make().match("Grandma's apple pie recipe").tickers == ()


def test_company_names_drop_legal_suffixes(make: MatcherFactory) -> None:
    m = make(dict(name="w", tickers=["MSFT", "AMZN", "BABA"]))
    result = m.match("Microsoft and Amazon bid", "Alibaba rises too")
    assert result.tickers == ("AMZN", "BABA", "MSFT")


def test_possessives_match_company_names(make: MatcherFactory) -> None:
    assert make().match("Nvidia's quarter beats estimates").tickers == ("NVDA",)
    assert make().match("Microsoft's Azure grows 30%").tickers == ("MSFT",)


@pytest.mark.parametrize("symbol", ["F", "T", "C"])
def test_one_letter_symbols_only_as_cashtag_or_exchange(make: MatcherFactory, symbol: str) -> None:
    m = make(dict(name="w", tickers=[symbol]))
    assert matched(m, f"Shares of {symbol} fell in early trade") == []
    assert matched(m, f"Plan {symbol} is on the table") == []
    assert matched(m, f"${symbol} fell in early trade") == ["w"]
    assert matched(m, f"The company (NYSE: {symbol}) fell") == ["w"]


def test_every_detected_ticker_is_reported_not_only_watched_ones(make: MatcherFactory) -> None:
    m = make(dict(name="w", tickers=["AMZN"]))
    result = m.match(
        "Amazon, Microsoft and Alphabet lead cloud race", "$ORCL lags; Nvidia supplies all three"
    )
    assert result.tickers == ("AMZN", "GOOGL", "MSFT", "NVDA", "ORCL")
    [match] = result.matches
    assert match.tickers == ("AMZN",)


def test_aliases_add_company_names(make: MatcherFactory) -> None:
    m = make(dict(name="w", tickers=["BABA"]), aliases={"BABA": ["Taobao"]})
    assert matched(m, "Taobao sales surge on Singles Day") == ["w"]


def test_alias_brings_back_an_ambiguous_name(make: MatcherFactory) -> None:
    plain = make(dict(name="w", tickers=["TGT"]))
    assert matched(plain, "Analyst Raises Price Target On Nvidia") == []
    assert matched(plain, "Target Corporation cuts forecast") == ["w"]
    aliased = make(dict(name="w", tickers=["TGT"]), aliases={"TGT": ["Target"]})
    assert matched(aliased, "Target cuts forecast") == ["w"]


def test_same_company_other_listing_matches(make: MatcherFactory) -> None:
    m = make(dict(name="w", tickers=["GOOG"]))
    assert matched(m, "$GOOGL rallies on AI news") == ["w"]
    assert matched(m, "Google unveils Gemini update") == ["w"]
    assert m.match("Google unveils Gemini update").matches[0].tickers == ("GOOG",)


def test_unknown_symbol_matches_by_cashtag_exchange_and_bare_forms(make: MatcherFactory) -> None:
    m = make(dict(name="w", tickers=["ZZQX"]))
    assert matched(m, "$ZZQX soars on FDA nod") == ["w"]
    assert matched(m, "Tiny Bio (NASDAQ: ZZQX) soars") == ["w"]
    assert matched(m, "ZZQX soars on FDA nod") == ["w"]
    assert matched(m, "zzqx soars") == []


def test_all_capitals_headline_does_not_turn_words_into_tickers(make: MatcherFactory) -> None:
    result = make().match("BREAKING: FED HOLDS RATES, STOCKS RALLY ON CPI DATA AND LOW YIELDS")
    assert result.tickers == ()


def test_at_and_t_name_needs_its_ampersand(make: MatcherFactory) -> None:
    assert make().match("AT&T raises dividend").tickers == ("T",)
    assert make().match("AT&amp;T raises dividend").tickers == ("T",)
    assert make().match("Shoppers arrived At T-Mobile stores").tickers == ("TMUS",)  # T-Mobile, not AT&T


def test_match_story_fills_the_story_id(make: MatcherFactory) -> None:
    from datetime import UTC, datetime

    from bot.domain.models import Story

    now = datetime(2024, 1, 2, tzinfo=UTC)
    story = Story(
        id="s-1",
        title="Amazon expands cloud region",
        link="https://example.com/a",
        canonical_url="https://example.com/a",
        summary="",
        source="Example",
        published_at=now,
        first_seen_at=now,
    )
    m = make(dict(name="w", keywords=["cloud"]))
    assert m.match_story(story).matches == (
        Match(
            story_id="s-1", watchlist="w", scope="config", terms=("cloud",), hits=(TermHit("cloud", "title"),)
        ),
    )


def test_watchlists_with_the_same_name_in_different_scopes_are_distinct(make: MatcherFactory) -> None:
    m = make(
        dict(name="w", keywords=["cloud"]),
        dict(name="w", scope="slack:T1", keywords=["chips"]),
    )
    assert [(x.scope, x.watchlist) for x in m.match("Cloud chips").matches] == [
        ("config", "w"),
        ("slack:T1", "w"),
    ]


def test_invalid_watchlists_are_skipped_and_reported(make: MatcherFactory) -> None:
    m = make(dict(name="bad", query="cloud AND ("), dict(name="good", keywords=["cloud"]))
    assert matched(m, "Cloud deal") == ["good"]
    assert m.problems == ("config/bad: missing ')' to close the '(' at 11: put terms inside and close it",)


@pytest.mark.parametrize(
    ("headline", "tickers"),
    [
        ("Shell and BP report record profits", ("BP", "SHEL")),
        ("Intel to cut 15% of staff; Dell and HP fall", ("DELL", "HPQ", "INTC")),
        ("Meta and Cisco rise after the bell", ("CSCO", "META")),
        ("Caterpillar and Deere slide on China worries", ("CAT", "DE")),
        ("Walmart, Costco and Kroger lead consumer staples", ("COST", "KR", "WMT")),
        ("Fed holds rates steady as inflation cools; Powell signals patience", ()),
        ("Oil jumps after OPEC+ agrees to deeper output cuts", ()),
        ("Progressive policies in Congress weigh on banks", ()),
        ("Sources say Orange County home prices rise", ()),
        ("S&P 500 hits record as Microsoft tops $3 trillion", ("MSFT",)),
        ("Revenue rose to $3M as R&D and M&A costs fell; PG&E unaffected", ("PCG",)),  # PG&E Corp
    ],
)
def test_realistic_headlines_detect_the_right_tickers(
    make: MatcherFactory, headline: str, tickers: tuple[str, ...]
) -> None:
    assert make().match(headline).tickers == tickers


def test_matches_in_builds_only_the_wanted_explanations(make: MatcherFactory) -> None:
    m = make(
        dict(name="cloud", keywords=["cloud"]),
        dict(name="amzn", tickers=["AMZN"]),
        dict(name="chips", keywords=["chips"]),
    )
    result = m.match("Amazon (NASDAQ: AMZN) expands cloud business")
    assert {n for _, n in result.watchlists} == {"cloud", "amzn"}
    only = result.matches_in(m.mask(lambda scope, name: name in ("amzn", "chips")))
    assert [x.watchlist for x in only] == ["amzn"] and only[0].tickers == ("AMZN",)
    assert only == tuple(x for x in result.matches if x.watchlist == "amzn")
    assert result.matches_in(0) == ()
