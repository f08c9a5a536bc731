"""A synthetic shop in hybrec's own file format (docs/data-format.md), for trying a model shape or a catalogue
size without data of one's own: ``hybrec data synth --out DIR``.

Items belong to categories and carry a short text (title, category, description) that names the category, so
the language model's features and the interaction graph both hold what the users' tastes follow. Each user
likes one to three categories and picks items mostly from them, popular items more often (a Zipf-like
popularity), at increasing timestamps. Items past ``active_items`` are in the catalogue but nobody has
interacted with them and they carry only their category (a large catalogue costs the kernel memory; it costs
training little). Deterministic per seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hybrec.artifacts import atomic_write_text

CATEGORIES = (("kettle", "kettles"), ("teapot", "teapots"), ("mug", "mugs"), ("knife", "knives"), ("pan", "pans"),
              ("bowl", "bowls"), ("lamp", "lamps"), ("chair", "chairs"), ("rug", "rugs"), ("pillow", "pillows"),
              ("blanket", "blankets"), ("candle", "candles"), ("clock", "clocks"), ("vase", "vases"),
              ("shelf", "shelves"), ("basket", "baskets"), ("towel", "towels"), ("plate", "plates"),
              ("glass", "glasses"), ("jar", "jars"), ("brush", "brushes"), ("mirror", "mirrors"),
              ("frame", "frames"), ("hook", "hooks"))
ADJECTIVES = ("blue", "green", "amber", "small", "large", "classic", "modern", "rustic", "bright", "quiet",
              "round", "square", "light", "heavy", "soft", "sturdy")
MATERIALS = ("steel", "oak", "glass", "cotton", "wool", "clay", "bamboo", "copper", "linen", "stone")
BRANDS = ("Northwind", "Fjord", "Alder", "Kestrel", "Marlow", "Quill", "Tamber", "Vesta")


@dataclass(frozen=True)
class SyntheticShop:
    """What :func:`write_shop` wrote: the two files and their sizes."""

    interactions: Path
    items: Path
    n_users: int
    n_items: int
    n_interactions: int


def write_shop(out: Path, users: int = 1500, items: int = 3000, per_user: int = 30, seed: int = 0,
               active_items: int | None = None, name: str = "shop") -> SyntheticShop:
    """Write ``out/<name>.inter`` and ``out/<name>.item``: ``users`` users with about ``per_user`` interactions
    each (at least 10, for an 8:1:1 split) over the first ``active_items`` (default: all) of ``items`` items."""
    if users < 1 or items < 10 or per_user < 10:
        raise ValueError("a synthetic shop needs at least 1 user, 10 items and 10 interactions per user")
    active = items if active_items is None else max(10, min(items, active_items))
    rng = np.random.default_rng(seed)
    n_cat = min(len(CATEGORIES), max(4, active // 120))
    category = rng.integers(0, n_cat, size=items)
    popularity = 1.0 / np.arange(1, active + 1) ** 0.8
    popularity = popularity[rng.permutation(active)]
    members = [np.flatnonzero(category[:active] == c) for c in range(n_cat)]

    lines = ["item_id:token\ttitle:token_seq\tcategory:token\tdescription:token_seq"]
    for i in range(items):
        one, cat = CATEGORIES[category[i]]
        adj, mat, brand = (ADJECTIVES[rng.integers(len(ADJECTIVES))], MATERIALS[rng.integers(len(MATERIALS))],
                           BRANDS[rng.integers(len(BRANDS))])
        if i < active:
            lines.append(f"i{i:05d}\t{brand} {adj.title()} {mat} {one} {i}\t{cat}\t"
                         f"A {adj} {one} of {mat} by {brand}, for those who collect {cat}")
        else:   # catalogue only: its category, no title or description yet (short texts encode fast)
            lines.append(f"i{i:05d}\t\t{cat}\t")
    item_file = out / f"{name}.item"
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(item_file, "\n".join(lines) + "\n")

    rows = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    clock = 1_700_000_000
    total = 0
    for u in range(users):
        liked = rng.choice(n_cat, size=int(rng.integers(1, 4)), replace=False)
        n = int(np.clip(rng.lognormal(np.log(per_user), 0.5), 10, max(10, active // 2)))
        pool = np.concatenate([members[c] for c in liked])
        from_liked = min(len(pool), round(n * 0.85))
        weights = popularity[pool] / popularity[pool].sum()
        chosen = rng.choice(pool, size=from_liked, replace=False, p=weights)
        rest = np.setdiff1d(np.arange(active), chosen)
        weights = popularity[rest] / popularity[rest].sum()
        chosen = np.concatenate([chosen, rng.choice(rest, size=n - from_liked, replace=False, p=weights)])
        rng.shuffle(chosen)
        times = clock + np.cumsum(rng.integers(60, 86_400, size=n))
        ratings = rng.integers(3, 6, size=n)
        rows.extend(f"u{u:05d}\ti{i:05d}\t{r}\t{t}" for i, r, t in zip(chosen, ratings, times, strict=True))
        total += n
    inter_file = out / f"{name}.inter"
    atomic_write_text(inter_file, "\n".join(rows) + "\n")
    return SyntheticShop(inter_file, item_file, users, items, total)
