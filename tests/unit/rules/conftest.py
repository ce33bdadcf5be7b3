"""Fixtures for the rule engine: the real symbol directory and the seed story."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from bot.domain.models import Watchlist
from bot.domain.rules import Matcher, SymbolDirectory, compile_matcher

_LOCAL_SEED = Path(__file__).with_name("premarket-cloud-restrictions.txt")


@pytest.fixture(scope="session")
def seed_story() -> tuple[str, str]:
    """(title, summary) of the seed story: the first line is the headline."""
    text = _LOCAL_SEED.read_text(encoding="utf-8")
    title, _, summary = text.partition("\n")
    return title.strip(), summary.strip()


MatcherFactory = Callable[..., Matcher]


@pytest.fixture
def make(directory: SymbolDirectory) -> MatcherFactory:
    """Compile watchlists given as keyword dicts: make(dict(name=..., keywords=[...]), ...)."""

    def factory(*specs: dict[str, object], aliases: dict[str, Sequence[str]] | None = None) -> Matcher:
        wls = []
        for spec in specs:
            args = dict(spec)
            for key in ("tickers", "keywords", "exclude"):
                if key in args:
                    args[key] = tuple(args[key])  # type: ignore[arg-type]
            wls.append(Watchlist(**args))  # type: ignore[arg-type]
        return compile_matcher(wls, directory, aliases or {})

    return factory
