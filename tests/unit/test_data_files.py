"""Input files: every bad input raises a DataError naming the file (and the line); good input parses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from hybrec.data.dataset import build_dataset, generic_item_text
from hybrec.data.errors import DataError
from hybrec.data.files import read_interactions, read_items, read_table

pytestmark = pytest.mark.unit

ITEMS = "item_id:token\ttitle:token_seq\n10\tAlpha\n20\tBeta\n30\tGamma\n"


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def raises_at(path: Path, line: int | None, func: Callable[..., object], *args: object) -> DataError:
    """Call ``func(*args)``, expect a DataError at ``path:line`` (or ``path:`` alone when line is None)."""
    with pytest.raises(DataError) as info:
        func(*args)
    err = info.value
    assert err.path == path
    assert err.line == line
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    assert str(err).startswith(where), str(err)
    return err


# --- DataError itself -----------------------------------------------------------------------------

def test_data_error_str_forms() -> None:
    assert str(DataError("a/b.tsv", "bad", 7)) == "a/b.tsv:7: bad"
    assert str(DataError("a/b.tsv", "bad")) == "a/b.tsv: bad"
    assert isinstance(DataError("x", "y"), ValueError)


# --- read_table -------------------------------------------------------------------------------------

def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.tsv"
    err = raises_at(path, None, read_table, path)
    assert "not found" in err.message


@pytest.mark.parametrize("content", [b"", b"\n\n", b"  \n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path, "empty.tsv", content)
    err = raises_at(path, None, read_table, path)
    assert "empty" in err.message


def test_header_only_file(tmp_path: Path) -> None:
    path = write(tmp_path, "h.tsv", "user_id\titem_id\n")
    err = raises_at(path, None, read_interactions, path)
    assert "no rows" in err.message


def test_wrong_field_count_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "i.tsv", "user_id\titem_id\n1\t10\n2\t20\n3\t30\textra\n")
    err = raises_at(path, 4, read_interactions, path)
    assert "expected 2" in err.message and "found 3" in err.message


def test_too_few_fields_counts_lines_after_blank_rows(tmp_path: Path) -> None:
    # Blank lines are skipped but still counted: the bad row is line 5 of the file.
    path = write(tmp_path, "i.tsv", "user_id\titem_id\n1\t10\n\n\n2\n")
    err = raises_at(path, 5, read_interactions, path)
    assert "found 1" in err.message


def test_repeated_header_column(tmp_path: Path) -> None:
    path = write(tmp_path, "i.tsv", "user_id:token\titem_id\tuser_id:float\n1\t2\t3\n")
    raises_at(path, 1, read_table, path)


def test_empty_header_name(tmp_path: Path) -> None:
    path = write(tmp_path, "i.tsv", "user_id\t\titem_id\n1\t2\t3\n")
    raises_at(path, 1, read_table, path)


def test_non_utf8_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "items.tsv", b"item_id\ttitle\n1\tok\n2\tcaf\xe9\n3\tfine\n")
    err = raises_at(path, 3, read_items, path)
    assert "UTF-8" in err.message


def test_crlf_and_missing_final_newline(tmp_path: Path) -> None:
    path = write(tmp_path, "i.tsv", "user_id\titem_id\r\n1\t10\r\n2\t20")
    table = read_table(path)
    assert table.columns == ("user_id", "item_id")
    assert table.rows == [("1", "10"), ("2", "20")]
    assert table.line_numbers == [2, 3]


# --- interactions -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("header", "missing"),
                         [("user_id\trating", "item_id"), ("item_id\trating", "user_id")])
def test_missing_column_is_named(tmp_path: Path, header: str, missing: str) -> None:
    path = write(tmp_path, "i.tsv", f"{header}\n1\t5\n")
    err = raises_at(path, 1, read_interactions, path)
    assert repr(missing) in err.message


def test_items_missing_item_id_column(tmp_path: Path) -> None:
    path = write(tmp_path, "items.tsv", "id\ttitle\n1\tA\n")
    err = raises_at(path, 1, read_items, path)
    assert "'item_id'" in err.message


def test_duplicate_interaction_names_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "i.tsv", "user_id\titem_id\n1\t10\n1\t20\n2\t10\n1\t10\n")
    err = raises_at(path, 5, read_interactions, path)
    assert "line 2" in err.message
    assert "duplicate" in err.message


@pytest.mark.parametrize("column", ["rating", "timestamp"])
@pytest.mark.parametrize("value", ["abc", "", "nan", "inf", "1,5"])
def test_non_numeric_rating_or_timestamp(tmp_path: Path, column: str, value: str) -> None:
    path = write(tmp_path, "i.tsv", f"user_id\titem_id\t{column}\n1\t10\t3\n1\t20\t{value}\n")
    err = raises_at(path, 3, read_interactions, path)
    assert repr(column) in err.message


def test_empty_user_id(tmp_path: Path) -> None:
    path = write(tmp_path, "i.tsv", "user_id\titem_id\n1\t10\n \t20\n")
    raises_at(path, 3, read_interactions, path)


def test_unknown_item_in_interactions_names_line(tmp_path: Path) -> None:
    inter = write(tmp_path, "i.tsv", "user_id\titem_id\n1\t10\n1\t20\n2\t99\n")
    items = write(tmp_path, "items.tsv", ITEMS)
    err = raises_at(inter, 4, build_dataset, "x", inter, items)
    assert "'99'" in err.message


# --- items ------------------------------------------------------------------------------------------

def test_repeated_item_id_names_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "items.tsv", "item_id\ttitle\n10\tA\n20\tB\n10\tC\n")
    err = raises_at(path, 4, read_items, path)
    assert "line 2" in err.message and "'10'" in err.message


def test_items_without_text_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "items.tsv", "item_id\n10\n20\n")
    raises_at(path, 1, read_items, path)


# --- happy path -------------------------------------------------------------------------------------

@pytest.mark.parametrize("typed", [True, False])
def test_typed_and_plain_headers_parse_alike(tmp_path: Path, typed: bool) -> None:
    names = ("user_id:token", "item_id:token", "rating:float", "timestamp:float") if typed else \
        ("user_id", "item_id", "rating", "timestamp")
    path = write(tmp_path, "i.tsv", "\t".join(names) + "\nu1\t10\t4\t100\nu2\t20\t2.5\t50\n")
    raw = read_interactions(path)
    assert raw.users == ["u1", "u2"]
    assert raw.items == ["10", "20"]
    assert raw.ratings == [4.0, 2.5]
    assert raw.timestamps == [100.0, 50.0]
    assert raw.line_numbers == [2, 3]


def test_build_dataset_dense_ids_and_texts(tmp_path: Path) -> None:
    inter = write(tmp_path, "data.inter",
                  "user_id:token\titem_id:token\ttimestamp:float\n"
                  "bob\t30\t5\nann\t10\t7\nbob\t10\t1\ncid\t30\t2\n")
    items = write(tmp_path, "data.item",
                  "item_id:token\tmovie_title:token_seq\tgenre:token\n"
                  "30\tGamma\tdrama\n20\tBeta\t\n10\tAlpha\tcomedy\n40\t\t\n")
    data = build_dataset("tiny", inter, items)
    # items: the items file's order, including items nobody interacted with
    assert data.item_ids == ["30", "20", "10", "40"]
    # users: order of first appearance
    assert data.user_ids == ["bob", "ann", "cid"]
    assert data.users.tolist() == [0, 1, 0, 2]
    assert data.items.tolist() == [0, 2, 2, 0]
    assert data.users.dtype == np.int64 and data.items.dtype == np.int64
    assert data.timestamps.tolist() == [5.0, 7.0, 1.0, 2.0]
    assert data.ratings is None
    assert (data.n_users, data.n_items, data.n_interactions) == (3, 4, 4)
    assert data.item_texts == ["movie title: Gamma. genre: drama", "movie title: Beta",
                               "movie title: Alpha. genre: comedy", "item 40"]
    assert set(data.sources) == {"data.inter", "data.item"}
    assert all(len(digest) == 64 for digest in data.sources.values())
    assert data.summary()["density"] == pytest.approx(4 / 12)


def test_build_dataset_without_timestamps_uses_file_order(tmp_path: Path) -> None:
    inter = write(tmp_path, "i.tsv", "user_id\titem_id\trating\n1\t20\t3\n1\t10\t5\n")
    items = write(tmp_path, "items.tsv", ITEMS)
    data = build_dataset("x", inter, items)
    assert data.timestamps.tolist() == [0.0, 1.0]
    assert data.ratings is not None and data.ratings.tolist() == [3.0, 5.0]


def test_generic_item_text() -> None:
    assert generic_item_text({"movie_title": "X", "year": "", "class": "a b"}) == "movie title: X. class: a b"
    assert generic_item_text({"a": ""}) == ""


def test_a_synthetic_shop_reads_as_a_users_files(tmp_path: Path) -> None:
    """`hybrec data synth`: files the reader takes as a user's own; deterministic per seed; items past
    active_items are catalogue only (no interaction, only their category in the text)."""
    from hybrec.data.synthetic import write_shop

    shop = write_shop(tmp_path / "a", users=30, items=50, per_user=12, seed=3, active_items=40)
    again = write_shop(tmp_path / "b", users=30, items=50, per_user=12, seed=3, active_items=40)
    assert shop.interactions.read_bytes() == again.interactions.read_bytes()
    data = build_dataset("shop", shop.interactions, shop.items)
    assert (data.n_users, data.n_items, data.n_interactions) == (30, 50, shop.n_interactions)
    assert data.items.max() < 40 and np.bincount(data.users).min() >= 10
    assert data.item_texts[45] == "category: " + data.item_texts[45].split(": ")[1]
    assert data.item_texts[0].startswith("title: ") and "description: " in data.item_texts[0]
