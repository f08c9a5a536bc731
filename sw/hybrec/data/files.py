"""Readers for hybrec's two input files: interactions and items.

Format (documented in docs/data-format.md): tab-separated UTF-8 text with a header line. Column
names may carry RecBole's type suffix (``user_id:token``) or not (``user_id``).

* interactions file — required columns ``user_id`` and ``item_id``; optional ``rating`` (number) and
  ``timestamp`` (number, e.g. Unix seconds). Every row is one interaction; all of them count as
  positives (implicit feedback), whatever the rating.
* items file — required column ``item_id``; every other column is text describing the item (for
  MovieLens: ``movie_title``, ``release_year``, ``class``). Item ids must be unique.

Every problem raises :class:`~hybrec.data.errors.DataError` naming the file and the line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from hybrec.data.errors import DataError

INTERACTION_COLUMNS = ("user_id", "item_id", "rating", "timestamp")


@dataclass(frozen=True)
class Table:
    """A parsed TSV file: column names (type suffixes removed) and rows of strings."""

    path: Path
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]
    line_numbers: list[int]  # 1-based line in the file of each row

    def column(self, name: str) -> list[str]:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]


def read_table(path: str | Path) -> Table:
    """Read a tab-separated file with a header, checking encoding and field counts line by line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(path, "file is empty (expected a header line and at least one row)")
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    decoded: list[str] = []
    for number, line in enumerate(lines, start=1):
        try:
            text = line.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as err:
            raise DataError(path, f"not valid UTF-8 (byte {err.start}: {line[err.start:err.start + 1]!r})",
                            number) from None
        decoded.append(text.rstrip("\r"))
    header = [name.split(":", 1)[0].strip() for name in decoded[0].split("\t")]
    if any(not name for name in header):
        raise DataError(path, "header has an empty column name", 1)
    if len(set(header)) != len(header):
        raise DataError(path, f"header repeats a column name: {header}", 1)
    rows: list[tuple[str, ...]] = []
    numbers: list[int] = []
    for number, text in enumerate(decoded[1:], start=2):
        if not text.strip():
            continue
        fields = text.split("\t")
        if len(fields) != len(header):
            raise DataError(path, f"expected {len(header)} tab-separated fields ({', '.join(header)}), "
                                  f"found {len(fields)}", number)
        rows.append(tuple(field.strip() for field in fields))
        numbers.append(number)
    if not rows:
        raise DataError(path, "file has a header but no rows")
    return Table(path=path, columns=tuple(header), rows=rows, line_numbers=numbers)


def _require(table: Table, names: tuple[str, ...]) -> None:
    missing = [name for name in names if name not in table.columns]
    if missing:
        raise DataError(table.path, f"missing required column(s) {missing}; header has {list(table.columns)}", 1)


def _number(table: Table, value: str, row: int, column: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise DataError(table.path, f"column '{column}' is not a number: {value!r}",
                        table.line_numbers[row]) from None
    if not math.isfinite(number):
        raise DataError(table.path, f"column '{column}' is not finite: {value!r}", table.line_numbers[row])
    return number


@dataclass(frozen=True)
class RawInteractions:
    path: Path
    users: list[str]
    items: list[str]
    ratings: list[float] | None
    timestamps: list[float] | None
    line_numbers: list[int]


def read_interactions(path: str | Path) -> RawInteractions:
    table = read_table(path)
    _require(table, ("user_id", "item_id"))
    users = table.column("user_id")
    items = table.column("item_id")
    for row, (user, item) in enumerate(zip(users, items, strict=True)):
        if not user or not item:
            raise DataError(table.path, "empty user_id or item_id", table.line_numbers[row])
    ratings = timestamps = None
    if "rating" in table.columns:
        ratings = [_number(table, v, r, "rating") for r, v in enumerate(table.column("rating"))]
    if "timestamp" in table.columns:
        timestamps = [_number(table, v, r, "timestamp") for r, v in enumerate(table.column("timestamp"))]
    seen: dict[tuple[str, str], int] = {}
    for row, key in enumerate(zip(users, items, strict=True)):
        line = table.line_numbers[row]
        if key in seen:
            raise DataError(table.path, f"duplicate interaction user {key[0]!r}, item {key[1]!r} "
                                        f"(first at line {seen[key]}); remove duplicates first", line)
        seen[key] = line
    return RawInteractions(table.path, users, items, ratings, timestamps, list(table.line_numbers))


@dataclass(frozen=True)
class RawItems:
    path: Path
    ids: list[str]
    fields: dict[str, list[str]]  # text columns by name, in file order


def read_items(path: str | Path) -> RawItems:
    table = read_table(path)
    _require(table, ("item_id",))
    ids = table.column("item_id")
    seen: dict[str, int] = {}
    for row, item in enumerate(ids):
        line = table.line_numbers[row]
        if not item:
            raise DataError(table.path, "empty item_id", line)
        if item in seen:
            raise DataError(table.path, f"item_id {item!r} repeated (first at line {seen[item]})", line)
        seen[item] = line
    text_columns = [name for name in table.columns if name != "item_id"]
    if not text_columns:
        raise DataError(table.path, "no text columns besides item_id", 1)
    fields = {name: table.column(name) for name in text_columns}
    return RawItems(table.path, ids, fields)
