"""`contained.Folder`: paths that resolve inside one folder whatever a task left in it."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from batch_mcp.emulator.contained import Folder, Unreachable, split
from batch_mcp.emulator.errors import BatchError


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    root, outside = tmp_path / "node", tmp_path / "outside"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "file.txt").write_text("inside", encoding="utf-8")
    outside.mkdir()
    (outside / "secret.txt").write_text("secret", encoding="utf-8")
    return root, outside


def read(folder: Folder, path: str) -> str:
    fd, _ = folder.open_read(split(path))
    with os.fdopen(fd, "rb") as handle:
        return handle.read().decode()


def test_links_inside_are_followed_relative_or_absolute(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    (root / "rel").symlink_to("a/b")
    (root / "a" / "up").symlink_to("../a/b/file.txt")
    (root / "abs").symlink_to(root / "a" / "b" / "file.txt")
    with Folder(root) as folder:
        assert read(folder, "rel/file.txt") == read(folder, "a/up") == read(folder, "abs") == "inside"


def test_links_out_loops_and_climbs_are_unreachable(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    (root / "out").symlink_to(outside / "secret.txt")
    (root / "outdir").symlink_to(outside)
    (root / "climb").symlink_to("../outside/secret.txt")
    (root / "loop1").symlink_to("loop2")
    (root / "loop2").symlink_to("loop1")
    with Folder(root) as folder:
        for path in ("out", "outdir/secret.txt", "climb", "loop1", "missing"):
            with pytest.raises(Unreachable):
                folder.open_read(split(path))
            with pytest.raises(Unreachable):
                folder.stat(split(path))


def test_a_fifo_is_refused_without_blocking_the_reader(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    os.mkfifo(root / "pipe")
    outcome: list[object] = []

    def attempt() -> None:
        with Folder(root) as folder:
            try:
                folder.open_read(["pipe"])
            except Unreachable as exc:
                outcome.append(exc)

    reader = threading.Thread(target=attempt, daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive() and isinstance(outcome[0], Unreachable)


def test_a_recursive_delete_removes_links_not_what_they_name(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    (root / "a" / "b" / "outdir").symlink_to(outside)
    with Folder(root) as folder:
        folder.delete(["a"], recursive=True)
    assert not (root / "a").exists()
    assert (outside / "secret.txt").read_text(encoding="utf-8") == "secret"


def test_a_write_replaces_a_link_instead_of_writing_through_it(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    (root / "a" / "target").symlink_to(outside / "secret.txt")
    with Folder(root) as folder, os.fdopen(folder.open_write(["a", "target"]), "wb") as out:
        out.write(b"new")
    assert (root / "a" / "target").read_bytes() == b"new" and not (root / "a" / "target").is_symlink()
    assert (outside / "secret.txt").read_text(encoding="utf-8") == "secret"


def test_the_emulators_own_paths_follow_no_link(tree: tuple[Path, Path]) -> None:
    """A task that swaps one of its folders for a link cannot steer the emulator's own removals."""
    root, outside = tree
    (root / "workitems").symlink_to(outside)
    with Folder(root, follow=False) as own:
        own.remove_tree(["workitems", "secret.txt"])
        with pytest.raises(Unreachable):
            own.make_dirs(["workitems", "job"])
    assert (outside / "secret.txt").exists() and not (outside / "job").exists()


@pytest.mark.parametrize("path", ["../x", "a/../../x", "a\\..\\x", "a\x00b"])
def test_paths_that_climb_or_hold_nul_are_client_errors(path: str) -> None:
    with pytest.raises(BatchError) as refused:
        split(path)
    assert refused.value.status == 400
