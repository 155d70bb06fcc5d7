"""File arguments shared by the commands that take ``FILE...|DIR`` (parse, route, classify)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path


def iter_files(paths: Sequence[str], pattern: str = "*") -> Iterator[Path]:
    """Every file named, or found below a named folder matching ``pattern``.

    Folders are walked recursively in sorted order; hidden files and folders below a named
    folder are skipped. Named files are yielded as given (a missing one is the caller's error).
    """
    for name in paths:
        path = Path(name)
        if path.is_dir():
            for found in sorted(path.rglob(pattern)):
                if found.is_file() and not any(
                    part.startswith(".") for part in found.relative_to(path).parts
                ):
                    yield found
        else:
            yield path
