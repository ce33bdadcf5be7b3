"""The fast paths of the matcher answer exactly as the plain ones, on random watchlists and stories.

- deciding: the posting bitsets give the same watchlists as evaluating every watchlist on its
  own against the terms found in the story (the obvious per-watchlist loop);
- building: the lazy Matches of ``result.matches`` equal the eager Matches of ``matches_in``
  field by field, compare and hash as plain Matches, and turn into plain Matches when copied,
  pickled or replaced.
"""

from __future__ import annotations

import copy
import gc
import pickle
import random
from dataclasses import asdict, fields, replace

import pytest

from bot.domain.models import Match, Watchlist
from bot.domain.rules import Matcher, SymbolDirectory, compile_matcher
from bot.domain.rules.matcher import _BY_TERM_FROM, _bit_indices, _run, _select


def _scenario(
    name: str, directory: SymbolDirectory, seed: int
) -> tuple[list[Watchlist], list[tuple[str, str]]]:
    from bench.bench_rules import Scenario, ticker_pool

    scenario = Scenario(name, ticker_pool(directory), random.Random(seed))
    watchlists = scenario.watchlists(400)
    rng = random.Random(seed)
    # a few query watchlists too, over the same terms
    for i in range(0, 400, 37):
        w = watchlists[i]
        query = f"(${w.tickers[0]} OR {w.keywords[0].rstrip('*').lstrip('=')}) AND NOT {rng.choice(w.keywords[1:])}"
        watchlists[i] = Watchlist(name=w.name, query=query.replace("*", ""), exclude=w.exclude)
    return watchlists, scenario.stories(300)


def _plain_decision(matcher: Matcher, title: str, summary: str) -> list[tuple[str, str]]:
    """Which watchlists match, one watchlist at a time (no bitsets)."""
    hits, _, _ = matcher._scan(title, summary, detail=False)
    out = []
    for c in matcher._compiled:
        if c is None:
            continue
        if c.mode == "query":
            ok = _run(c.program, hits)
        elif c.mode == "any":
            ok = any(t in hits for t in c.tickers + c.keywords)
        else:
            ok = any(t in hits for t in c.tickers) and any(t in hits for t in c.keywords)
        if ok and not any(t in hits for t in c.exclude):
            out.append((c.watchlist.scope, c.watchlist.name))
    return out


@pytest.mark.parametrize("name", ["niche", "popular"])
@pytest.mark.parametrize("seed", [1, 2])
def test_decisions_equal_the_per_watchlist_evaluation(
    directory: SymbolDirectory, name: str, seed: int
) -> None:
    watchlists, stories = _scenario(name, directory, seed)
    matcher = compile_matcher(watchlists, directory)
    assert not matcher.problems
    matched_any = 0
    for title, summary in stories:
        result = matcher.match(title, summary)
        expected = _plain_decision(matcher, title, summary)
        assert list(result.watchlists) == expected, (title, summary)
        assert len(result) == len(expected) == len(result.matches)
        matched_any += bool(expected)
    assert matched_any > len(stories) // 2  # the scenario exercises matching at all


@pytest.mark.parametrize("name", ["niche", "popular"])
def test_lazy_matches_equal_the_eager_ones(directory: SymbolDirectory, name: str) -> None:
    watchlists, stories = _scenario(name, directory, 5)
    matcher = compile_matcher(watchlists, directory)
    everyone = matcher.mask(lambda scope, name: True)
    checked = 0
    for title, summary in stories[:120]:
        result = matcher.match(title, summary)
        eager = result.matches_in(everyone)
        lazy = result.matches
        assert all(type(m) is Match for m in eager)
        assert lazy == eager and eager == tuple(lazy)
        for a, b in zip(lazy, eager, strict=True):
            assert isinstance(a, Match)
            assert a == b and b == a and (a != b) is False
            assert hash(a) == hash(b)
            assert repr(a) == repr(b)
            assert asdict(a) == asdict(b)
            assert [getattr(a, f.name) for f in fields(Match)] == [getattr(b, f.name) for f in fields(Match)]
            checked += 1
        if lazy:
            first = lazy[0]
            for other in (copy.copy(first), copy.deepcopy(first), pickle.loads(pickle.dumps(first))):
                assert type(other) is Match and other == first
            changed = replace(first, story_id="s1")
            assert type(changed) is Match and changed.story_id == "s1" and changed.hits == first.hits
            assert {first, eager[0]} == {eager[0]}
            assert lazy[-1] == eager[-1] and lazy[1:3] == eager[1:3]
            # a Match kept alone (its story's list of Matches gone) fills its own fields
            alone = matcher.match(title, summary).matches[-1]
            assert (
                alone == eager[-1] and alone.hits == eager[-1].hits and alone.watchlist == eager[-1].watchlist
            )
            with pytest.raises(AttributeError):
                first.watchlist = "other"  # type: ignore[misc]
    assert checked > 100


def test_listing_keeps_tickers_and_words_apart(directory: SymbolDirectory) -> None:
    """A term shown as a ticker by one watchlist and as a keyword by another (or both by one)."""
    matcher = compile_matcher(
        [
            Watchlist(name="t", tickers=("NVDA",), keywords=("chips",)),
            Watchlist(name="k", keywords=("$NVDA", "chips")),
            Watchlist(name="both", tickers=("NVDA",), keywords=("$NVDA",)),
            Watchlist(name="q", query="$NVDA AND chips AND NOT podcast"),
        ],
        directory,
    )
    result = matcher.match("Nvidia (NVDA) sells more chips", "")
    names, which, parts = result.listing()
    assert [(n, *parts[j]) for n, j in zip(names, which, strict=True)] == result.summaries()
    assert result.summaries() == [(m.watchlist, m.tickers, m.terms) for m in result.matches]
    assert len(result.summaries()) == 4


def test_listings_from_the_found_terms_equal_the_plain_ones(directory: SymbolDirectory) -> None:
    """Stories matching many watchlists, some of which show several found terms (in their own
    order), list the same tickers and terms as the eager Matches, each built on its own; also
    on a matcher updated from a previous one (its index of shown terms made anew)."""
    watchlists, stories = _scenario("popular", directory, 7)
    # the same keywords in another order, so a story finds several in each order
    for i in range(0, 400, 9):
        w = watchlists[i]
        if w.query is None and len(w.keywords) > 1:
            watchlists[i] = replace(w, keywords=tuple(reversed(w.keywords)))
    first = compile_matcher(watchlists[:350], directory)
    for title, summary in stories[:40]:
        first.match(title, summary).listing()  # index made on the first matcher
    updated = compile_matcher(watchlists[50:], directory, previous=first)
    by_terms = several = 0
    for matcher in (compile_matcher(watchlists, directory), first, updated):
        everyone = matcher.mask(lambda scope, name: True)
        for title, summary in stories:
            result = matcher.match(title, summary)
            eager = result.matches_in(everyone)
            assert result.summaries() == [(m.watchlist, m.tickers, m.terms) for m in eager], (title, summary)
            names, which, parts = result.listing()
            assert result.slot_listing() == (
                [matcher._by_name[m.scope, m.watchlist] for m in eager],
                which,
                parts,
            )
            assert [matcher.slot_names[i] for i in result.slot_listing()[0]] == names
            assert list(result.matches) == list(eager)
            by_terms += len(eager) >= _BY_TERM_FROM
            several += sum(len(m.tickers) + len(m.terms) > 1 for m in eager)
    assert by_terms > 20 and several > 20


@pytest.mark.parametrize("enabled", [True, False])
def test_many_matches_leave_the_collector_as_it_was(directory: SymbolDirectory, enabled: bool) -> None:
    """A story matching thousands of watchlists (its Matches are made with the cyclic collector
    paused) gives the same Matches, and the collector is left on or off as it was."""
    kinds = [
        {"tickers": ("NVDA",), "keywords": ("chips",)},
        {"keywords": ("$NVDA", "chips", "sells")},  # the same term shown as a ticker and as a word
        {"tickers": ("NVDA", "AMD"), "keywords": ("$NVDA", "more")},
        {"query": "$NVDA AND chips AND NOT podcast"},
    ]
    watchlists = [Watchlist(name=f"w{i}", **kinds[i % 4]) for i in range(1200)]  # type: ignore[arg-type]
    matcher = compile_matcher(watchlists, directory)
    everyone = matcher.mask(lambda scope, name: True)
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        result = matcher.match("Nvidia (NVDA) sells more chips", "")
        lazy = tuple(result.matches)
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()
    eager = result.matches_in(everyone)
    assert len(lazy) == 1200 and lazy == eager
    assert [(m.tickers, m.terms, m.hits) for m in lazy] == [(m.tickers, m.terms, m.hits) for m in eager]
    assert {m.terms for m in lazy} == {("chips",), ("NVDA", "chips", "sells"), ("NVDA", "more")}
    assert [m.watchlist for m in lazy] == [w.name for w in watchlists]


@pytest.mark.parametrize("span", [1, 9, 300, 10_000, 70_000])
def test_bit_positions_sparse_and_dense(span: int) -> None:
    """The set bits of a bitset, and the items they select, whatever the density (per-bit scan
    for few bits, ``compress`` over a 0/1 mask for many)."""
    rng = random.Random(span)
    for count in sorted(
        {min(c, span) for c in (0, 1, 2, span // 50, span // 12, span // 11, span // 2, span)}
    ):
        members = sorted(rng.sample(range(span), count))
        bits = sum(1 << i for i in members)
        items = [f"w{i}" for i in range(span)]
        assert _bit_indices(bits) == members
        assert _select(items, bits) == [items[i] for i in members]


def test_overlapping_pauses_of_the_collector_end_with_it_running() -> None:
    """Two builds overlapping in time (as from two threads): the collector runs again only when
    the last one ends, and a collector its owner switched off is left off."""
    from bot.domain.rules.matcher import _GC_PAUSE_FROM, _collector_paused

    was = gc.isenabled()
    try:
        gc.enable()
        first, second = _collector_paused(_GC_PAUSE_FROM + 1), _collector_paused(_GC_PAUSE_FROM + 1)
        first.__enter__()
        second.__enter__()
        first.__exit__(None, None, None)
        assert not gc.isenabled()
        second.__exit__(None, None, None)
        assert gc.isenabled()
        with _collector_paused(_GC_PAUSE_FROM):  # small builds leave it alone
            assert gc.isenabled()
        gc.disable()
        with _collector_paused(_GC_PAUSE_FROM + 1):
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()


def test_exchange_mentions_equal_the_plain_pattern_search() -> None:
    """``_exchange_mentions`` starts its searches near colons; it finds what finditer finds."""
    from bot.domain.rules.lexicon import EXCHANGES
    from bot.domain.rules.matcher import _EXCHANGE, _exchange_mentions

    rng = random.Random(16)
    names = list(EXCHANGES)
    pieces = [
        ":",
        ": ",
        " : ",
        ":$",
        "$",
        " ",
        "  ",
        "\t",
        "\n",
        "-",
        ".",
        ",",
        "(",
        ")",
        "x",
        "Q",
        "9",
        "AAPL",
        "BRK.B",
        "SHOP",
        "abc",
        "NYSE",
        "Nasdaq",
        "nyse american",
        "é",
        "\u00a0",
        "\u212a",
    ]
    for _ in range(20_000):
        parts = []
        for _ in range(rng.randint(1, 12)):
            r = rng.random()
            if r < 0.3:
                name = rng.choice(names)
                parts.append(
                    name.upper() if rng.random() < 0.3 else name.replace(" ", rng.choice([" ", "  ", "\n"]))
                )
            else:
                parts.append(rng.choice(pieces))
        text = "".join(parts)
        expected = [(m.span(), m.groups()) for m in _EXCHANGE.finditer(text)]
        assert [(m.span(), m.groups()) for m in _exchange_mentions(text)] == expected, text


def test_capitals_share_equals_counting_every_word() -> None:
    """``_mostly_capitals`` (a count of capital letters first) agrees with counting the words."""
    from bot.domain.rules.matcher import _CAPS_SHARE, _mostly_capitals
    from bot.domain.rules.tokens import word_tokens

    rng = random.Random(16)
    words = [
        "NVDA",
        "AMD",
        "Apple",
        "rises",
        "IT'S",
        "GE's",
        "X",
        "a",
        "Q3",
        "2024",
        "ÉTÉ",
        "éte",
        "'S",
        "-",
        "S&P",
    ]
    for _ in range(20_000):
        text = " ".join(rng.choices(words, k=rng.randint(1, 9)))
        toks = word_tokens(text)
        expected = sum(map(str.isupper, toks)) > _CAPS_SHARE * len(toks)
        assert _mostly_capitals(text, toks) == expected, text


@pytest.mark.parametrize("name", ["niche", "popular"])
def test_incremental_edits_decide_like_a_full_compile(directory: SymbolDirectory, name: str) -> None:
    """Edits that add, remove and switch watchlists between match: any and match: all keep the
    narrowed all-watchlist bitsets of ``_decide`` exact (few and many all-watchlists matching)."""
    from bot.domain.rules.matcher import _FEW_ALL

    watchlists, stories = _scenario(name, directory, 3)
    rng = random.Random(3)
    current = compile_matcher(watchlists, directory)
    wanted = list(watchlists)
    for step in range(12):
        for _ in range(3):
            i = rng.randrange(len(wanted))
            w = wanted[i]
            r = rng.random()
            if r < 0.4 and w.query is None:
                wanted[i] = replace(w, match="any" if w.match == "all" else "all")
            elif r < 0.6:
                del wanted[i]
            elif w.query is None:
                wanted.append(replace(w, name=f"{w.name}-copy{step}", match="all"))
        current = compile_matcher(wanted, directory, previous=current)
        assert not current.problems
        full = compile_matcher(wanted, directory)
        many = 0
        for title, summary in stories[:: 4 if step < 11 else 1]:
            got = current.match(title, summary)
            assert sorted(got.watchlists) == sorted(full.match(title, summary).watchlists), (step, title)
            assert sorted(got.watchlists) == sorted(_plain_decision(current, title, summary))
            alls = sum(
                1
                for key in got.watchlists
                if getattr(current._compiled[current._by_name[key]], "mode", "") == "all"
            )
            many += alls > _FEW_ALL
    assert many or name == "niche"


def test_narrowed_all_bitsets_with_many_all_watchlists_matching(directory: SymbolDirectory) -> None:
    """Keywords of their own per watchlist (narrowed bitsets) and a story matching more match: all
    watchlists than are moved bit by bit, before and after an incremental edit."""
    from bot.domain.rules.matcher import _FEW_ALL

    watchlists = [
        Watchlist(name=f"w{i}", tickers=("AAPL", "MSFT"), keywords=(f"alpha{i}", f"beta{i}"), match="all")
        for i in range(60)
    ] + [Watchlist(name=f"any{i}", keywords=(f"gamma{i}",)) for i in range(30)]
    matcher = compile_matcher(watchlists, directory)
    assert matcher._narrowed
    for n in (0, 1, _FEW_ALL, _FEW_ALL + 1, 25):
        title = "Apple rises on " + " ".join(f"alpha{i}" for i in range(0, 2 * n, 2))
        expected = [("config", f"w{i}") for i in range(0, 2 * n, 2)]
        assert list(matcher.match(title, "gamma3").watchlists) == [*expected, ("config", "any3")]
        assert list(matcher.match(title.replace("Apple", "Pear"), "").watchlists) == []
    edited = [replace(w, match="any") if w.name == "w4" else w for w in watchlists]
    edited.append(Watchlist(name="late", tickers=("AAPL",), keywords=("alpha2",), match="all"))
    updated = compile_matcher(edited, directory, previous=matcher)
    assert updated._narrowed
    title = "Apple rises on " + " ".join(f"alpha{i}" for i in range(20))
    assert sorted(updated.match(title, "").watchlists) == sorted(
        compile_matcher(edited, directory).match(title, "").watchlists
    )
    assert updated.match("Pear and alpha4", "").watchlists == (("config", "w4"),)
