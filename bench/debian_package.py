"""Fetch a Debian package's files without installing it (no root): `apt-get download`, then `dpkg-deb -x`.

Used by the bench scripts that make test kits from Debian packages that scripts/setup.sh does not install.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def fetch_deb(package: str, where: Path) -> Path:
    """Download `package` into the folder `where` with apt-get (no root needed) -> the .deb's path.

    Raises RuntimeError naming the package when apt-get gives none (no network, no such package)."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise RuntimeError(f"{package}: apt-get and dpkg-deb not found: this needs a Debian system")
    done = subprocess.run(["apt-get", "download", package], cwd=where, capture_output=True, text=True)
    debs = sorted(where.glob(f"{package}_*.deb"))
    if not debs:
        raise RuntimeError(f"apt-get download {package} gave no package: {done.stderr.strip() or done.stdout.strip()}")
    return debs[-1]


def unpack_deb(deb: Path, dest: Path) -> Path:
    """The files of the package `deb` under the folder `dest` (as they would lie under /) -> `dest`.

    Raises RuntimeError when dpkg-deb is not found, CalledProcessError when it fails (dpkg-deb names the file)."""
    if shutil.which("dpkg-deb") is None:
        raise RuntimeError(f"{deb}: dpkg-deb not found: this needs a Debian system")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True)
    return dest


def from_package(package: str, inside: str, use, deb: Path | None = None):
    """`use(path)` on the file or folder `inside` the package (a path as it lies under /): the installed one when
    the package is installed and no `deb` is given, else the one in `deb` (or in a freshly downloaded .deb) ->
    what `use` returns.  Raises as fetch_deb and unpack_deb do."""
    import tempfile

    installed = Path("/") / inside
    if deb is None and installed.exists():
        return use(installed)
    with tempfile.TemporaryDirectory() as tmp:
        deb = deb if deb is not None else fetch_deb(package, Path(tmp))
        return use(unpack_deb(deb, Path(tmp) / "x") / inside)
