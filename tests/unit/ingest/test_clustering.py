"""Clustering by identity: two items are one story only if they report the same event.

The index is driven with the real entity detection of the rules layer (the bundled symbol
directory), as the app wires it: near-identical titles join only when they name the same
companies; template titles (SEC forms, "Market update") never join across links; the window
is measured on published times.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.rules import SymbolDirectory, detect_tickers
from bot.domain.stories import ClusterIndex, canonical_url, is_template_title, normalize_title

T0 = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)


@pytest.fixture
def index(directory: SymbolDirectory) -> ClusterIndex:
    def entities(title: str) -> Iterable[str]:
        return detect_tickers(title, directory)

    return ClusterIndex(entities=entities)


def story_of(index: ClusterIndex, title: str, url: str, at: datetime = T0) -> str | None:
    hit = index.find(title=title, canonical_url=canonical_url(url), at=at)
    return hit.story_id if hit else None


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Acme wins big contract - Reuters", "Acme wins big contract"),
        ("Acme wins big contract | Reuters", "Acme wins big contract"),
        ("NEW YORK (Reuters) - Acme wins big contract", "Acme wins big contract"),
        ("(AP) — Acme wins big contract", "Acme wins big contract"),
        ("UPDATE 2-Acme wins big contract", "Acme wins big contract"),
        ("EXCLUSIVE-Acme wins big contract", "Acme wins big contract"),
        ("BREAKING: Acme wins big contract", "Acme wins big contract"),
        ("U.S. regulators clear Acme deal", "US regulators clear Acme deal"),
        ("U.K. and E.U. agree on tariffs", "UK and EU agree on tariffs"),
    ],
)
def test_outlet_decorations_are_stripped(a: str, b: str) -> None:
    assert normalize_title(a) == normalize_title(b)


def test_tracking_parameters_are_not_part_of_the_canonical_url() -> None:
    assert canonical_url(
        "https://www.reuters.test/markets/nv-123/?utm_source=twitter&utm_medium=social&fbclid=x"
    ) == canonical_url("https://www.reuters.test/markets/nv-123/")


def test_wire_copies_from_three_outlets_are_one_story(index: ClusterIndex) -> None:
    index.add(
        "s1",
        title="UPDATE 2-Nvidia shares slide after U.S. tightens AI chip export rules - Reuters",
        canonical_url=canonical_url("https://reuters.test/nv?utm_source=rss"),
        at=T0,
    )
    assert (
        story_of(
            index, "Nvidia shares slide after US tightens AI chip export rules | CNBC", "https://cnbc.test/1"
        )
        == "s1"
    )
    assert (
        story_of(
            index,
            "WASHINGTON (AP) — Nvidia shares slide after U.S. tightens AI chip export rules",
            "https://apnews.test/x",
            T0 + timedelta(hours=3),
        )
        == "s1"
    )
    # the same article with other tracking parameters is the same URL
    assert story_of(index, "Totally different words here", "https://reuters.test/nv?utm_campaign=x") == "s1"


@pytest.mark.parametrize(
    "title",
    [
        "10-Q - Quarterly report [Sections 13 or 15(d)]",
        "8-K - Current report",
        "10-Q - ACME CORP (0000123456) (Filer)",
        "4 - Statement of changes in beneficial ownership of securities",
        "SC 13G/A - ACME CORP (0000123456) (Subject)",
        "Market update",
        "Morning briefing",
        "Stocks to watch",
        "Morning briefing: what to watch in markets today, Nov 25",
        "Daily market wrap: stocks close higher",
    ],
)
def test_template_titles_never_merge_across_links(index: ClusterIndex, title: str) -> None:
    assert is_template_title(title)
    index.add("first", title=title, canonical_url="https://t.test/1", at=T0)
    assert story_of(index, title, "https://t.test/2") is None
    # the same link is still the same story (a re-published or corrected copy)
    assert story_of(index, title, "https://t.test/1") == "first"


def test_a_ticker_list_title_is_a_template(directory: SymbolDirectory) -> None:
    assert is_template_title("Stocks to watch: XYZ, QRS", lambda t: detect_tickers(t, directory))
    assert not is_template_title("Fed raises interest rates by 25 basis points as inflation cools")
    assert not is_template_title("Acme beats estimates")


def test_different_companies_with_the_same_headline_template_are_not_merged(index: ClusterIndex) -> None:
    index.add(
        "msft", title="Microsoft beats quarterly estimates as cloud demand surges", canonical_url="", at=T0
    )
    assert (
        story_of(index, "Oracle beats quarterly estimates as cloud demand surges", "https://o.test/1") is None
    )
    assert (
        story_of(
            index, "Microsoft beats quarterly estimates as cloud demand surges - Reuters", "https://r.test/1"
        )
        == "msft"
    )
    # a company that is not in the directory: the capitalised name tells them apart
    index.add(
        "zor", title="Zorblax beats quarterly estimates as cloud demand surges", canonical_url="", at=T0
    )
    assert (
        story_of(index, "Quintaro beats quarterly estimates as cloud demand surges", "https://q.test/1")
        is None
    )
    assert (
        story_of(index, "Zorblax beats quarterly estimates as cloud demand surges", "https://q.test/2")
        == "zor"
    )
    # title case: capitals say nothing, but a word that is not English is a name
    index.add("tc", title="Zorblax Beats Quarterly Estimates As Cloud Demand Surges", canonical_url="", at=T0)
    assert (
        story_of(index, "Quintaro Beats Quarterly Estimates As Cloud Demand Surges", "https://q.test/3")
        is None
    )


def test_one_side_naming_a_company_the_other_none_is_not_merged(index: ClusterIndex) -> None:
    index.add("s", title="Shares slide after regulators tighten chip export rules", canonical_url="", at=T0)
    assert (
        story_of(index, "Nvidia shares slide after regulators tighten chip export rules", "https://x.test")
        is None
    )


def test_titles_naming_no_entity_still_cluster(index: ClusterIndex) -> None:
    index.add(
        "fed",
        title="Fed raises interest rates by 25 basis points as inflation cools",
        canonical_url="",
        at=T0,
    )
    assert (
        story_of(
            index,
            "UPDATE 1-Fed raises interest rates by 25 basis points as inflation cools - Reuters",
            "https://r.test/f",
        )
        == "fed"
    )


def test_the_window_is_measured_on_published_time(index: ClusterIndex) -> None:
    title = "Acme Widgets recalls two million toasters over fire risk"
    index.add("old", title=title, canonical_url="https://a.test/old", at=T0 - timedelta(days=400), seen=T0)
    # indexed now, but published more than a year ago: a new report today is another story
    assert story_of(index, title, "https://a.test/new", T0) is None
    assert story_of(index, title, "https://b.test/copy", T0 - timedelta(days=399, hours=12)) == "old"
    # forgotten a window after it was indexed, whatever its published time
    assert index.prune(T0 + timedelta(hours=47)) == set()
    assert index.prune(T0 + timedelta(hours=49)) == {"old"}


def test_a_same_outlet_correction_at_the_same_link_stays_one_story(index: ClusterIndex) -> None:
    index.add("s", title="Acme to buy Bolt for $2 billion", canonical_url="https://r.test/acme-bolt", at=T0)
    later = T0 + timedelta(hours=6)
    assert (
        story_of(
            index,
            "CORRECTED-Acme to buy Bolt for $2.5 billion",
            "https://r.test/acme-bolt?utm_source=x",
            later,
        )
        == "s"
    )


def test_many_copies_of_one_title_join_the_newest_copy_in_the_window(index: ClusterIndex) -> None:
    """One story reported by hundreds of feeds: every copy is indexed, and a new one joins the
    newest copy published within the window (copies outside it, or naming another company,
    are passed over)."""
    title = "Acme Widgets recalls two million toasters over fire risk"
    index.add("ancient", title=title, canonical_url="", at=T0 - timedelta(days=30), seen=T0)
    for i in range(400):  # more copies than a lookup compares by rare tokens
        index.add("recall", title=title, canonical_url=f"https://o{i}.test/r", at=T0 + timedelta(seconds=i))
    assert story_of(index, title, "https://new.test/r", T0 + timedelta(hours=1)) == "recall"
    assert story_of(index, title, "https://new.test/r", T0 - timedelta(days=29)) == "ancient"
    assert story_of(index, title, "https://new.test/r", T0 - timedelta(days=60)) is None
    index.add("other", title="Bolt recalls two million toasters over fire risk", canonical_url="", at=T0)
    assert story_of(index, "Bolt recalls two million toasters over fire risk", "https://b.test/r") == "other"
    index.discard("recall")
    assert story_of(index, title, "https://new.test/r", T0 + timedelta(hours=1)) is None
