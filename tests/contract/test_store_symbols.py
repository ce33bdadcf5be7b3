"""The symbol directory's part of the Store contract, on SQLite and a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.rules.symbols import NameRefresh, SymbolName
from bot.store import SqlStore

T0 = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)


async def test_sec_names_are_replaced_by_difference(store: SqlStore) -> None:
    first = [
        SymbolName("AAPL", "Apple Inc.", "sec", "320193"),
        SymbolName("GOOGL", "Alphabet Inc.", "sec", "1652044"),
        SymbolName("GOOG", "Alphabet Inc.", "sec", "1652044"),
    ]
    assert await store.replace_symbol_names("sec", first, now=T0) == 3
    assert await store.replace_symbol_names("sec", first, now=T0) == 0  # nothing changed, nothing written
    second = [*first[:2], SymbolName("RKLB", "Rocket Lab USA, Inc.", "sec", "1819994")]
    assert await store.replace_symbol_names("sec", second, now=T0 + timedelta(days=1)) == 2
    stored = await store.symbol_names(source="sec")
    assert [(n.symbol, n.name, n.ident) for n in stored] == [
        ("AAPL", "Apple Inc.", "320193"),
        ("GOOGL", "Alphabet Inc.", "1652044"),
        ("RKLB", "Rocket Lab USA, Inc.", "1819994"),
    ]


async def test_quote_names_are_replaced_per_symbol_and_sources_stay_apart(store: SqlStore) -> None:
    await store.replace_symbol_names("sec", [SymbolName("NVDA", "NVIDIA CORP", "sec", "1045810")], now=T0)
    quote = [SymbolName("NVDA", "NVIDIA Corporation", "quote"), SymbolName("AAPL", "Apple Inc.", "quote")]
    assert await store.replace_symbol_names("quote", quote, symbols=["NVDA", "AAPL"], now=T0) == 2
    renamed = [SymbolName("NVDA", "NVIDIA Corp", "quote")]
    assert await store.replace_symbol_names("quote", renamed, symbols=["NVDA"], now=T0) == 2
    names = await store.symbol_names(symbol="NVDA")
    assert {(n.source, n.name) for n in names} == {("sec", "NVIDIA CORP"), ("quote", "NVIDIA Corp")}
    assert [n.name for n in await store.symbol_names(source="quote", symbol="AAPL")] == ["Apple Inc."]


async def test_many_names_in_chunks(store: SqlStore) -> None:
    names = [SymbolName(f"S{i:04d}", f"Company {i} Inc.", "sec", str(i)) for i in range(1203)]
    assert await store.replace_symbol_names("sec", names, now=T0) == 1203
    assert len(await store.symbol_names(source="sec")) == 1203
    assert await store.replace_symbol_names("sec", names[:3], now=T0) == 1200
    assert len(await store.symbol_names(source="sec")) == 3


async def test_refresh_state_round_trips(store: SqlStore) -> None:
    sec = NameRefresh("sec", T0, T0, etag='"abc"', last_modified="Tue, 24 Nov 2026 22:00:00 GMT", status="ok")
    nvda = NameRefresh("quote:NVDA", T0, None, status="no answer")
    await store.save_symbol_refreshes([sec, nvda])
    assert await store.symbol_refreshes() == {"sec": sec, "quote:NVDA": nvda}
    later = NameRefresh("quote:NVDA", T0 + timedelta(days=7), T0 + timedelta(days=7), status="2 names")
    await store.save_symbol_refreshes([later])
    assert await store.symbol_refreshes("quote:") == {"quote:NVDA": later}
    assert await store.symbol_refreshes("quote_") == {}  # the prefix is literal, not a LIKE pattern
