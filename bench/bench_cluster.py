"""Clustering benchmark: identity checks (entities, templates, names) against title-only clustering.

20,000 headlines over two days, as the ingest pipeline places them (``find`` then ``add``):
a seventh are wire copies of an earlier headline from another outlet (" - Reuters", "UPDATE 1-",
"U.S."/"US"), some are company look-alikes ("X beats estimates") and SEC form titles. The
baseline is the same index without an entity detector (title similarity only, as before issue
13), measured in the same run; the identity run uses the rules layer's detector on the bundled
symbol directory, as the app wires it. Prints the cost per item of both and their ratio.

    .venv/bin/python bench/bench_cluster.py [--items 20000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.domain.rules import detect_tickers  # noqa: E402
from bot.domain.stories import ClusterIndex  # noqa: E402
from bot.market.symbols import load_directory  # noqa: E402

T0 = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
COMPANIES = [
    "Apple",
    "Microsoft",
    "Nvidia",
    "Amazon",
    "Oracle",
    "Intel",
    "Tesla",
    "Netflix",
    "Adobe",
    "Cisco",
]
VERBS = ["beats", "misses", "raises", "cuts", "holds", "lifts", "trims", "backs", "reaffirms", "withdraws"]
NOUNS = ["quarterly estimates", "annual guidance", "dividend outlook", "revenue forecast", "margin targets"]
WORDS = [
    "markets",
    "rally",
    "slump",
    "investors",
    "analysts",
    "rates",
    "inflation",
    "yields",
    "bonds",
    "dollar",
    "oil",
    "gold",
    "energy",
    "merger",
]


def headlines(n: int) -> list[tuple[str, str, datetime]]:
    rng = random.Random(13)
    out: list[tuple[str, str, datetime]] = []
    for i in range(n):
        at = T0 + timedelta(seconds=i * 172_800 / n)
        kind = i % 7
        if kind == 0 and out:
            title, _, _ = out[rng.randrange(max(0, len(out) - 500), len(out))]
            title = rng.choice(["UPDATE 1-{} - Reuters", "{} | CNBC", "{}"]).format(
                title.replace("U.S.", "US")
            )
        elif kind in (1, 2):
            title = (
                f"{rng.choice(COMPANIES)} {rng.choice(VERBS)} {rng.choice(NOUNS)} as "
                f"{' '.join(rng.choice(WORDS) for _ in range(3))} weigh"
            )
        elif kind == 3:
            title = rng.choice(["10-Q - Quarterly report [Sections 13 or 15(d)]", "8-K - Current report"])
        else:
            title = f"U.S. {' '.join(rng.choice(WORDS) for _ in range(8))} {i}"
        out.append((title, f"https://news{i % 40}.example/{i}", at))
    return out


def run(items: list[tuple[str, str, datetime]], index: ClusterIndex) -> tuple[float, int]:
    stories = 0
    t0 = time.perf_counter()
    for n, (title, url, at) in enumerate(items):
        hit = index.find(title=title, canonical_url=url, at=at)
        sid = hit.story_id if hit else f"s{n}"
        stories += hit is None
        index.add(sid, title=title, canonical_url=url, at=at)
    return time.perf_counter() - t0, stories


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="5,000 items")
    args = parser.parse_args()
    if args.quick:
        args.items = min(args.items, 5_000)
    directory = load_directory()

    def entities(title: str) -> Iterable[str]:
        return detect_tickers(title, directory)

    entities("warm-up: Apple beats estimates")
    items = headlines(args.items)
    base_s, base_stories = run(items, ClusterIndex())
    ident_s, ident_stories = run(items, ClusterIndex(entities=entities))
    base_us, ident_us = base_s / len(items) * 1e6, ident_s / len(items) * 1e6
    ratio = ident_s / base_s
    print(f"items: {len(items)}")
    print(f"title-only clustering (baseline): {base_us:.1f} µs/item, {base_stories} stories")
    print(f"identity clustering:              {ident_us:.1f} µs/item, {ident_stories} stories")
    print(f"ratio identity / title-only: {ratio:.2f}x")
    verdict = "met" if ratio <= 3.0 else "missed"
    print(
        f"SUMMARY | clustering with identity checks | {ident_us:.0f} µs/item ({ratio:.2f}x title-only) | ≤ 3x title-only clustering | {verdict}"
    )


if __name__ == "__main__":
    main()
