"""MovieLens-100K, read from the data files inside the ``recbole==1.2.1`` wheel.

Nothing is downloaded from a dataset host: pip fetches the wheel from the package registry (it holds
RecBole's atomic files of ML-100K: 100,000 ratings, 943 users, 1,682 items), its files are checked
against known SHA-256 sums, and only the two files hybrec reads are extracted. RecBole itself is not
installed. The data remain under GroupLens' terms of use.
"""

from __future__ import annotations

import sys
import tempfile
import zipfile
from pathlib import Path

from hybrec import tools
from hybrec.artifacts import atomic_write_bytes, sha256_bytes, sha256_file
from hybrec.data.dataset import InteractionData, build_dataset
from hybrec.data.errors import DataError

WHEEL = "recbole==1.2.1"
WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
FILES = {
    "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
}
MEMBER_DIR = "recbole/dataset_example/ml-100k/"


def _verified(path: Path) -> bool:
    return path.is_file() and sha256_file(path) == FILES[path.name]


def fetch_ml100k(cache_dir: Path) -> Path:
    """Ensure ``cache_dir/ml-100k/`` holds the verified atomic files; return that directory."""
    target = cache_dir / "ml-100k"
    if all(_verified(target / name) for name in FILES):
        return target
    with tempfile.TemporaryDirectory() as tmp:
        try:
            tools.run("pip", [], command=[sys.executable, "-m", "pip", "download", "--no-deps", "-d", tmp, WHEEL],
                      cwd=Path(tmp), log_path=cache_dir / "logs" / "fetch_ml100k.log")
        except tools.ToolFailed as err:
            raise DataError(WHEEL, f"pip could not fetch it (MovieLens-100K comes from that wheel): {err}") from None
        wheels = list(Path(tmp).glob("recbole-*.whl"))
        if not wheels:
            raise DataError(WHEEL, f"pip wrote no recbole wheel; its log: {cache_dir / 'logs' / 'fetch_ml100k.log'}")
        wheel = wheels[0]
        if sha256_file(wheel) != WHEEL_SHA256:
            # A re-built wheel is acceptable as long as the data files are the known ones.
            print(f"note: {wheel.name} has an unexpected sha256; checking the data files themselves",
                  file=sys.stderr)
        with zipfile.ZipFile(wheel) as archive:
            for name, digest in FILES.items():
                data = archive.read(MEMBER_DIR + name)
                if sha256_bytes(data) != digest:
                    raise DataError(wheel, f"{name} inside the wheel has sha256 {sha256_bytes(data)}, "
                                           f"expected {digest}; refusing to use it")
                atomic_write_bytes(target / name, data)
    return target


def movielens_item_text(fields: dict[str, str]) -> str:
    """``"Toy Story (1995). Genres: Animation, Children's, Comedy."`` from RecBole's item columns."""
    title = fields.get("movie_title", "").strip()
    year = fields.get("release_year", "").strip()
    genres = ", ".join(fields.get("class", "").split())
    text = f"{title} ({year})" if year else title
    return f"{text}. Genres: {genres}." if genres else f"{text}."


def load_ml100k(cache_dir: Path) -> InteractionData:
    folder = fetch_ml100k(cache_dir)
    return build_dataset("ml-100k", folder / "ml-100k.inter", folder / "ml-100k.item",
                         item_text=movielens_item_text)
