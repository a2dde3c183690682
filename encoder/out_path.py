"""Output files checked before the work that fills them: a long run must not end in a path it cannot write."""
from __future__ import annotations

import os
from pathlib import Path


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether the paths `a` and `b` name one file (links and relative paths followed; a path not yet there
    compared by its absolute, resolved form)."""
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)  # (not Path.resolve: it raises on a link loop)


def input_clash(path: str | Path, inputs) -> str | None:
    """Why the output `path` must not be written, naming it: it is one of the run's `inputs`, given as (what it is,
    its path; None or '-' for none), and writing it would destroy it; None otherwise."""
    for what, given in inputs:
        if given is not None and str(given) not in ("", "-") and same_file(path, given):
            return f"{Path(path)}: is also the {what}; writing it would destroy it (choose another output)"
    return None


def check_writable(path: str | Path, inputs=()) -> None:
    """Make `path`'s folder if missing and prove the file can be opened for writing (a new file is removed
    again); OSError with a message naming the path otherwise (a folder, no permission, a read-only or
    pseudo file system, or one of the run's `inputs`: input_clash).  Nothing is written before every check has
    passed."""
    path = Path(path)
    if str(path) == "":
        raise OSError("an empty file name")
    if path.is_dir():
        raise OSError(f"{path}: is a folder")
    clash = input_clash(path, inputs)
    if clash:
        raise OSError(clash)
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


def check_outputs(outputs, inputs=()) -> None:
    """check_writable for each of a run's `outputs` (None and '-', stdout, skipped): OSError naming the first that
    cannot be written; ValueError when two name one file."""
    names = [o for o in outputs if o is not None and str(o) != "-"]
    for name in names:
        check_writable(name, inputs)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if same_file(a, b):
                raise ValueError(f"{b}: names the same file as {a}")


RUN_FILES = ("run.json", "model.keras", "split.csv")
"""What makes a folder a run (split.csv: also a run cut short)."""


def folder_problem(out: str | Path) -> str | None:
    """Why `out` cannot be an output folder (a file of that name), or None."""
    out = Path(out)
    return f"{out} is a file, not a folder" if out.exists() and not out.is_dir() else None


def run_folder_problem(out: str | Path, overwrite: bool = False) -> str | None:
    """Why a new run cannot be written into folder `out`, or None: a file of that name, or a folder already holding a
    run (without `overwrite`: a typo in --out must not destroy a long run)."""
    problem = folder_problem(out)
    if problem:
        return problem
    held = [n for n in RUN_FILES if (Path(out) / n).exists()]
    if held and not overwrite:
        return (f"{out} already holds a run ({', '.join(held)}); choose another --out, or pass --overwrite to "
                "replace it")
    return None
