"""Incremental compilation: a matcher updated from the previous one answers exactly as a full
compile of the same watchlists, and the previous matcher is left as it was."""

from __future__ import annotations

from dataclasses import replace

from bot.domain.models import Watchlist
from bot.domain.rules import SymbolDirectory, compile_matcher

STORIES = [
    ("Nvidia (NASDAQ: NVDA) faces new export controls on China", "Analysts cut guidance; $AMD slips."),
    ("Apple recalls chargers after layoffs at its supplier", "The recall covers 2 million units."),
    ("Moonshot Robotics (ZZZQ) soars on a defense contract", "Tesla and Ford shares were flat."),
    ("Microsoft cloud revenue beats estimates", "Azure grew 30 percent; a podcast discussed it."),
    ("Banks rally as rates hold", "JPMorgan and Goldman Sachs rose; JPM led the gains."),
    ("Intel wins subsidy for Ohio plant", "The chipmaker (INTC) plans more fabs."),
]

BASE = [
    Watchlist(name="chips", tickers=("NVDA", "AMD", "INTC"), keywords=("export control", "subsidy")),
    Watchlist(name="apple", tickers=("AAPL",), keywords=("recall",), match="all"),
    Watchlist(name="cloud", keywords=("cloud", "azure"), exclude=("podcast",)),
    Watchlist(name="banks", tickers=("JPM", "GS")),
    Watchlist(name="q", query='(nvidia OR $AMD) AND "export control" AND NOT podcast'),
    Watchlist(name="team", scope="T1", tickers=("TSLA",), keywords=("contract",)),
]


def answers(matcher: object, stories: list[tuple[str, str]]) -> list[object]:
    out = []
    for title, summary in stories:
        r = matcher.match(title, summary)  # type: ignore[attr-defined]
        out.append((r.tickers, sorted(r.watchlists), sorted(r.matches, key=lambda m: (m.scope, m.watchlist))))
    return out


def test_updated_matcher_answers_like_a_full_compile(directory: SymbolDirectory) -> None:
    before = compile_matcher(BASE, directory)
    snapshot = answers(before, STORIES)
    edited = [
        replace(BASE[0], keywords=("export control", "fabs", "recall*")),  # edit: new keyword patterns
        *BASE[2:],  # "apple" removed
        Watchlist(name="moon", tickers=("ZZZQ",), keywords=("moonshot",)),  # unknown symbol added
        Watchlist(name="tesla", scope="T2", tickers=("TSLA", "F"), keywords=("rally",), match="all"),
    ]

    updated = compile_matcher(edited, directory, previous=before)

    assert answers(updated, STORIES) == answers(compile_matcher(edited, directory), STORIES)
    assert {(w.scope, w.name) for w in updated.watchlists} == {(w.scope, w.name) for w in edited}
    assert answers(before, STORIES) == snapshot  # the previous matcher did not change
    assert updated.explain("moon", "config", *STORIES[2]).matched
    # and back again (the unknown symbol ZZZQ goes away, as in a full compile)
    back = compile_matcher(BASE, directory, previous=updated)
    assert answers(back, STORIES) == snapshot


def test_many_small_edits_in_a_row_stay_exact(directory: SymbolDirectory) -> None:
    current = compile_matcher(BASE, directory)
    wanted = list(BASE)
    for n in range(40):
        wanted = [*wanted[1:], Watchlist(name=f"w{n}", keywords=(f"word{n}", "cloud"), exclude=("podcast",))]
        current = compile_matcher(wanted, directory, previous=current)
        if n % 10 == 9:
            assert answers(current, STORIES) == answers(compile_matcher(wanted, directory), STORIES)
    assert current.match("Word39 and cloud", "").watchlists[-1] == ("config", "w39")


def test_invalid_or_duplicate_watchlists_fall_back_to_a_full_compile(directory: SymbolDirectory) -> None:
    before = compile_matcher(BASE, directory)
    broken = [*BASE, Watchlist(name="empty"), replace(BASE[0], keywords=("duplicate",))]

    after = compile_matcher(broken, directory, previous=before)

    assert len(after.problems) == 2
    assert any("empty" in p for p in after.problems)
    assert any("defined twice" in p for p in after.problems)
    assert answers(after, STORIES) == answers(compile_matcher(broken, directory), STORIES)


def test_matches_are_built_when_read_and_compare_as_a_tuple(directory: SymbolDirectory) -> None:
    matcher = compile_matcher(BASE, directory)
    result = matcher.match(*STORIES[0])

    matches = result.matches
    assert len(matches) == len(result) == 2
    assert matches == tuple(matches) == tuple(matches[:])
    assert [m.watchlist for m in matches] == ["chips", "q"]
    assert matches[-1] is matches[1]
    assert matcher.match("Nothing here", "").matches == ()
