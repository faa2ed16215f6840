"""Where a build may write its index: checks made before anything on disk is touched.

A build replaces its index folder whole, so it only ever replaces a folder that is new, empty,
or holds an rsiqa index and nothing else; the index folder and the corpus folder never overlap;
a mount point (which cannot be swapped for another folder) and a disk without room for the new
index are refused with what to do. Each check raises :class:`IndexTargetError` with one line.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

from rsiqa.index.integrity import DATA_FILES, DATA_FILES_V3

MANIFEST = "manifest.json"
#: Every file a build writes into an index folder.
INDEX_FILES = frozenset({MANIFEST, MANIFEST + ".tmp", *DATA_FILES, *DATA_FILES_V3})
#: Files a user may keep in an index folder; a build carries them over to the new one.
KEPT_FILES = (".gitkeep", ".gitignore")
#: Room kept free on the disk besides the new index's own size.
SPACE_MARGIN_BYTES = 64 * 1024


class IndexTargetError(RuntimeError):
    """The index cannot be written there; nothing was touched. The message says what to do."""


def _shown(names: list[str]) -> str:
    """Up to three names, quoted, for a message."""
    listed = ", ".join(repr(n) for n in sorted(names)[:3])
    return listed + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def check_separate(corpus_dir: Path, index_dir: Path) -> None:
    """Refuse an index folder that is the corpus folder, lies inside it, or holds it."""
    corpus, index = corpus_dir.resolve(), index_dir.resolve()
    if corpus == index:
        raise IndexTargetError(f"the index folder '{index_dir}' is the corpus folder: a build replaces its index "
                               "folder, so pass another --index (e.g. index/)")
    if corpus in index.parents:
        raise IndexTargetError(f"the index folder '{index_dir}' is inside the corpus folder '{corpus_dir}': "
                               "pass an --index outside it")
    if index in corpus.parents:
        raise IndexTargetError(f"the corpus folder '{corpus_dir}' is inside the index folder '{index_dir}', which a "
                               "build replaces: pass an --index outside it")


def check_build_target(corpus_dir: Path, index_dir: Path) -> None:
    """Everything a build checks before it reads the corpus: separate folders, a replaceable index folder."""
    check_separate(corpus_dir, index_dir)
    check_replaceable(index_dir.resolve())


def _is_rsiqa_manifest(path: Path) -> bool:
    """True when ``path`` is an rsiqa manifest, or is too damaged to tell (a broken index may be rebuilt)."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True
    return isinstance(manifest, dict) and "format" in manifest and "model" in manifest


def check_replaceable(index_dir: Path) -> None:
    """Refuse to replace ``index_dir`` unless it is missing, empty or holds an rsiqa index only.

    An index is recognised by its files (every name one a build writes) and its manifest, when
    there is one (a damaged index, even without a manifest, may be rebuilt). ``.gitkeep`` and
    ``.gitignore`` do not count: a build keeps them.
    """
    if not os.path.lexists(index_dir):
        return
    if not index_dir.is_dir():
        raise IndexTargetError(f"'{index_dir}' is a file, not a folder: pass --index with a folder for the index")
    if os.path.ismount(index_dir):
        raise IndexTargetError(
            f"the index folder '{index_dir}' is a mount point, which a build cannot swap for the new index: "
            f"pass a folder inside it, e.g. --index {index_dir / 'index'}")
    try:
        names = [n for n in os.listdir(index_dir) if n not in KEPT_FILES]
    except OSError as exc:
        raise IndexTargetError(f"cannot read the index folder '{index_dir}' ({exc.strerror or exc}): "
                               "fix its permissions or pass another --index") from exc
    if not names:
        return
    foreign = [n for n in names if n not in INDEX_FILES]
    if len(foreign) == len(names) or (MANIFEST in names and not _is_rsiqa_manifest(index_dir / MANIFEST)):
        raise IndexTargetError(f"refusing to replace '{index_dir}': it is not empty and holds no rsiqa index "
                               f"(it has {_shown(names)}); pass --index with a new or empty folder")
    if foreign:
        raise IndexTargetError(f"refusing to replace '{index_dir}': besides an rsiqa index it holds {_shown(foreign)}, "
                               "which a build would delete; move them out or pass another --index")


def check_free_space(folder: Path, needed: int) -> None:
    """Refuse to start writing ``needed`` bytes into ``folder`` when its disk has less room."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if free < needed + SPACE_MARGIN_BYTES:
        raise IndexTargetError(no_space_message(folder, needed, free))


def no_space_message(folder: Path, needed: int, free: int | None = None) -> str:
    """What to say when the disk holding ``folder`` is full."""
    if free is None:
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            free = 0
    return (f"not enough disk space in '{folder}' for the index (it needs about {needed / 2**20:.1f} MB, "
            f"{free / 2**20:.1f} MB free): free some space or pass --index on another disk; "
            "the previous index is unchanged")


def is_disk_full(exc: Exception, folder: Path) -> bool:
    """True when ``exc``, raised while writing into ``folder``, means its disk (or quota) is full.

    numpy reports a short write as ``OSError: 322560 requested and 130016 written`` (no errno)
    and FAISS as a ``RuntimeError``; for those the disk itself is asked whether it is (nearly) full.
    """
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if isinstance(exc, OSError) and exc.errno is not None:
        return False
    try:
        return shutil.disk_usage(folder).free < SPACE_MARGIN_BYTES
    except OSError:
        return False


def swap_error_message(index_dir: Path, exc: OSError) -> str | None:
    """A clear message for an error that swapping in the new folder can give, or None."""
    if exc.errno in (errno.EBUSY, errno.EXDEV):
        return (f"cannot replace the index folder '{index_dir}' ({exc.strerror}): it is a mount point or on "
                f"another disk than its parent; pass a folder inside it, e.g. --index {index_dir / 'index'}")
    return None
