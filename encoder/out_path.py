"""Output files checked before the work that fills them: a long run must not end in a path it cannot write."""
from __future__ import annotations

import os
from pathlib import Path


def check_writable(path: str | Path) -> None:
    """Make `path`'s folder if missing and prove the file can be opened for writing (a new file is removed
    again); OSError with a message naming the path otherwise (a folder, no permission, a read-only or
    pseudo file system)."""
    path = Path(path)
    if str(path) == "":
        raise OSError("an empty file name")
    if path.is_dir():
        raise OSError(f"{path}: is a folder")
    existed = path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a"):
            pass
    except OSError as exc:
        raise OSError(f"cannot write {path}: {exc.strerror or exc}") from None
    if not existed:
        try:
            os.remove(path)
        except OSError:
            pass
