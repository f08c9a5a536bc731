"""Atomic writes leave either the old file or the new one, and no temporary files; hashes are canonical."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hybrec import artifacts
from hybrec.artifacts import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    sha256_bytes,
    sha256_file,
    sha256_json,
    sha256_strings,
)

pytestmark = pytest.mark.unit


def test_write_creates_parents_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.bin"
    assert atomic_write_bytes(target, b"\x00\x01data") == target
    assert target.read_bytes() == b"\x00\x01data"
    assert os.listdir(target.parent) == ["out.bin"]


def test_overwrite_replaces_content(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old, and longer than the new text\n")
    atomic_write_text(target, "new é\n")
    assert target.read_bytes() == "new é\n".encode()
    assert os.listdir(tmp_path) == ["out.txt"]


def test_json_round_trip(tmp_path: Path) -> None:
    obj = {"b": 1, "a": [1.5, "x"], "nested": {"k": None}}
    atomic_write_json(tmp_path / "m.json", obj)
    text = (tmp_path / "m.json").read_text()
    assert json.loads(text) == obj
    assert text.endswith("\n")


def test_failed_rename_keeps_old_file_and_removes_temp(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")

    def fail(src: str, dst: str) -> None:
        assert Path(src).read_bytes() == b"new", "the new data were written in full before the rename"
        raise OSError("disk gone")

    monkeypatch.setattr(artifacts.os, "replace", fail)
    with pytest.raises(OSError, match="disk gone"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_failure_while_writing_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")

    def fail(fd: int) -> None:
        raise KeyboardInterrupt  # a BaseException, as from Ctrl-C mid-write

    monkeypatch.setattr(artifacts.os, "fsync", fail)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b"new")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_failed_first_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(artifacts.os, "replace", lambda src, dst: (_ for _ in ()).throw(OSError("no")))
    with pytest.raises(OSError):
        atomic_write_bytes(tmp_path / "new.bin", b"x")
    assert os.listdir(tmp_path) == []


def test_hashes(tmp_path: Path) -> None:
    assert sha256_bytes(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    path = tmp_path / "f"
    path.write_bytes(b"abc" * 1_000_000)  # spans several read blocks
    assert sha256_file(path) == sha256_bytes(b"abc" * 1_000_000)
    # canonical JSON: key order and whitespace do not matter; values do
    assert sha256_json({"a": 1, "b": [1, 2]}) == sha256_json({"b": [1, 2], "a": 1})
    assert sha256_json({"a": 1}) != sha256_json({"a": 2})
    # strings are length-prefixed: different splits of the same characters differ
    assert sha256_strings(["ab", "c"]) != sha256_strings(["a", "bc"])
    assert sha256_strings(["ab", "c"]) == sha256_strings(iter(["ab", "c"]))
    assert sha256_strings([]) != sha256_strings([""])


def test_compact_json_keeps_number_lists_on_one_line() -> None:
    obj = {"a": [1, 2, 3], "b": [[1.5, -2], [3, 4e-5]], "c": {"d": "x"}}
    text = artifacts.compact_json(obj)
    assert '"a": [1, 2, 3]' in text and "[1.5, -2]" in text and json.loads(text) == obj


def test_a_staged_directory_replaces_the_target_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "build"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), artifacts.staged_directory(target) as stage:
        (stage / "half.txt").write_text("half")
        raise RuntimeError("a step failed")
    assert [p.name for p in target.iterdir()] == ["old.txt"]          # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == [".build.lock", "build"]    # no staging folder left
    with artifacts.staged_directory(target) as stage:
        (stage / "new.txt").write_text("new")
        assert not (target / "new.txt").exists()                      # not visible before it is complete
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".build.lock", "build"]
    (tmp_path / ".build.staging-crashed").mkdir()                     # left by a crash: cleaned up next time
    with artifacts.staged_directory(tmp_path / "build") as stage:
        (stage / "again.txt").write_text("again")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".build.lock", "build"]


def test_a_second_writer_of_the_same_folder_is_refused(tmp_path: Path) -> None:
    """Two runs into one result folder would overwrite each other's files (and delete each other's staging
    folders as stale): the second is refused at once, naming the first; the first is undisturbed."""
    import subprocess
    import sys

    from hybrec.artifacts import ArtifactBusy, exclusive

    target = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from hybrec.artifacts import staged_directory\n"
        f"with staged_directory({str(target)!r}) as stage:\n"
        "    (stage / 'a.txt').write_text('first'); print('ready', flush=True); time.sleep(3)\n")],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
    with pytest.raises(ArtifactBusy, match=r"out is being written by hybrec pid \d+"), \
            artifacts.staged_directory(target):
        pass
    assert holder.wait(timeout=30) == 0 and (target / "a.txt").read_text() == "first"
    with exclusive(target):   # free again
        pass
