"""`drumtimbre label`: bad files never stop a run; --resume skips what is done."""
import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from encoder.descriptors import DESCRIPTORS
from encoder.label_run import file_hash, hash_path
from encoder.manifest import LABEL_COLUMNS, read_label_csv
from tests.signals import hat, kick, snare

pytest.importorskip("timbral_models", reason="the reference labeller needs timbral_models (the [train] install)")

REAL_CORRUPT = Path("/usr/share/lmms/samples/drums/kick04.ogg")  # a real Debian file that does not decode


def drumtimbre(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "drumtimbre.cli", *args], capture_output=True, text=True, **kw)


def make_kit(folder: Path, n: int = 6) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    makers = [kick, snare, hat]
    paths = []
    for i in range(n):
        p = folder / f"hit{i:02d}.{'wav' if i % 2 else 'flac'}"
        sf.write(p, makers[i % 3](44100, 0.4, seed=i), 44100)
        paths.append(p)
    return paths


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_bad_files_are_reported_and_the_good_ones_labelled(tmp_path):
    good = make_kit(tmp_path / "kit")
    (tmp_path / "kit" / "empty.wav").write_bytes(b"")
    (tmp_path / "kit" / "corrupt.ogg").write_bytes(b"OggS" + os.urandom(3000))
    sf.write(tmp_path / "kit" / "silent.wav", np.zeros(8000), 16000)
    if REAL_CORRUPT.exists():
        shutil.copy(REAL_CORRUPT, tmp_path / "kit" / "kick04.ogg")
    out = tmp_path / "labels.csv"
    res = drumtimbre("label", str(tmp_path / "kit"), "-o", str(out), "--workers", "2", "--no-progress")
    assert res.returncode == 0, res.stderr
    rows = read_rows(out)
    assert list(rows[0].keys()) == list(LABEL_COLUMNS)
    by_name = {Path(r["path"]).name: r for r in rows}
    bad = {"empty.wav", "corrupt.ogg", "silent.wav"} | ({"kick04.ogg"} if REAL_CORRUPT.exists() else set())
    assert set(by_name) == {p.name for p in good} | bad
    for p in good:
        r = by_name[p.name]
        assert r["error"] == ""
        assert all(0 <= float(r[n]) <= 100 for n in DESCRIPTORS)
    for name in bad:
        assert name in by_name[name]["error"] and by_name[name]["hardness"] == ""
        assert name in res.stderr  # reported at the end
    assert "silent" in by_name["silent.wav"]["error"]
    assert f"{len(good)} labelled" in res.stdout and f"{len(bad)} failed" in res.stdout
    manifest = read_label_csv(out)
    assert len(manifest) == len(good) and manifest.excluded == {"labelling error": len(bad)}


def test_a_run_where_every_file_fails_exits_1(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "corrupt.ogg").write_bytes(b"OggS" + os.urandom(3000))
    res = drumtimbre("label", str(tmp_path), "-o", str(tmp_path / "labels.csv"), "--no-progress")
    assert res.returncode == 1 and "0 labelled, 0 already labelled, 2 failed" in res.stdout
    assert "corrupt.ogg" in res.stderr and "Traceback" not in res.stderr
    assert len(read_rows(tmp_path / "labels.csv")) == 2  # the reasons are kept all the same


def test_interrupted_run_resumes_without_relabelling(tmp_path):
    good = make_kit(tmp_path / "kit", 8)
    out = tmp_path / "labels.csv"
    proc = subprocess.Popen([sys.executable, "-m", "drumtimbre.cli", "label", str(tmp_path / "kit"), "-o", str(out),
                             "--workers", "1", "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not out.exists() or len(read_rows(out)) < 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # the worst case: no chance to clean up
    proc.wait()
    done_before = {r["path"]: r for r in read_rows(out)}
    assert 3 <= len(done_before) < len(good)
    # a renamed copy of a labelled file is recognised by content
    first = Path(next(iter(done_before)))
    shutil.copy(first, tmp_path / "kit" / "copy_of_first.wav")
    res = drumtimbre("label", str(tmp_path / "kit"), "-o", str(out), "--resume", "--no-progress")
    assert res.returncode == 0, res.stderr
    rows = {r["path"]: r for r in read_rows(out)}
    assert len(rows) == len(good) + 1
    for path, row in done_before.items():
        assert rows[path] == row  # kept, not relabelled
    assert f"{len(good) - len(done_before)} labelled, {len(done_before) + 1} already labelled" in res.stdout
    copy = rows[str(tmp_path / "kit" / "copy_of_first.wav")]
    assert [copy[n] for n in DESCRIPTORS] == [done_before[str(first)][n] for n in DESCRIPTORS]
    hashes = dict(line.split("  ", 1)[::-1] for line in hash_path(out).read_text().splitlines())
    assert hashes[str(good[0])] == file_hash(good[0])


def test_resume_retries_failures_and_fresh_run_overwrites(tmp_path):
    make_kit(tmp_path / "kit", 2)
    broken = tmp_path / "kit" / "late.wav"
    broken.write_bytes(b"RIFF....WAVE")
    out = tmp_path / "labels.csv"
    assert drumtimbre("label", str(tmp_path / "kit"), "-o", str(out), "--no-progress").returncode == 0
    assert [r["error"] != "" for r in read_rows(out)].count(True) == 1
    sf.write(broken, kick(22050, 0.3, seed=9), 22050)  # the user fixes the file
    res = drumtimbre("label", str(tmp_path / "kit"), "-o", str(out), "--resume", "--no-progress")
    assert "1 labelled, 2 already labelled, 0 failed" in res.stdout
    assert all(r["error"] == "" for r in read_rows(out)) and len(read_rows(out)) == 3


def test_ctrl_c_stops_a_run_with_workers_at_once_and_keeps_what_is_done(tmp_path):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) with 2 workers: the files still queued
    are not labelled first (on Python 3.11 shutdown's cancel_futures alone left them to run: 20-45 s for 87-174
    files); the rows finished before it are written, and the exit status is 130."""
    from tests.jack_harness import default_sigint

    make_kit(tmp_path / "kit", 60)
    out = tmp_path / "labels.csv"
    # SIGINT as a terminal's Ctrl-C delivers it: a test run started in the background (`cmd &` in a script) hands its
    # children an ignored SIGINT, and the run went on to its end (exit 0, every row)
    proc = subprocess.Popen([sys.executable, "-m", "drumtimbre.cli", "label", str(tmp_path / "kit"), "-o", str(out),
                             "--workers", "2", "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, preexec_fn=default_sigint)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not out.exists() or len(read_rows(out)) < 4):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    t = time.monotonic()
    try:
        proc.communicate(timeout=60)
    finally:
        proc.kill()
    waited = time.monotonic() - t
    rows = read_rows(out)
    assert proc.returncode == 130, (proc.returncode, len(rows))
    assert 4 <= len(rows) < 30, len(rows)  # (60 files at ~0.3 s each on 2 workers: about 9 s for them all)
    assert waited < 5, f"{waited:.1f} s from Ctrl-C to exit"


def test_workers_end_when_the_labelling_process_is_killed(tmp_path):
    """SIGKILL to the main process alone (a `kill -9 PID`): its worker processes end too, instead of living on
    as orphans holding its output pipe (a `label ... | tail` then never returned)."""
    make_kit(tmp_path / "kit", 12)
    proc = subprocess.Popen([sys.executable, "-m", "drumtimbre.cli", "label", str(tmp_path / "kit"), "-o",
                             str(tmp_path / "labels.csv"), "--workers", "2", "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def children() -> list[int]:
        try:
            return [int(c) for c in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
        except OSError:
            return []
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(children()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = children()
        assert len(workers) >= 2, workers
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{w}").exists() for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        alive = [w for w in workers if Path(f"/proc/{w}").exists()
                 and "Z" not in Path(f"/proc/{w}/stat").read_text().split()[2]]
    finally:
        for w in workers + children():  # (never leave them behind, whatever the outcome)
            try:
                os.kill(w, signal.SIGKILL)
            except OSError:
                pass
    assert not alive, alive


def test_resume_labels_again_a_file_whose_content_changed_under_its_name(tmp_path):
    """A file replaced under the same name - by content labelled elsewhere in the CSV, or by content never
    labelled - gets the labels of its new content and one row; its old row is dropped (it used to stay, and
    the never-labelled case gave the file two rows with two sets of labels, which training then read)."""
    kit = make_kit(tmp_path / "kit", 3)  # hit00 kick, hit01 snare, hit02 hat
    out = tmp_path / "labels.csv"
    args = ("label", str(tmp_path / "kit"), "-o", str(out), "--no-progress")
    assert drumtimbre(*args).returncode == 0
    before = {Path(r["path"]).name: r for r in read_rows(out)}
    shutil.copy(kit[2], kit[0])  # the kick replaced by a copy of the hat
    sf.write(kit[1], snare(44100, 0.4, seed=77) * 0.5, 44100)  # the snare by new content
    res = drumtimbre(*args, "--resume")
    assert res.returncode == 0 and "1 labelled, 2 already labelled, 0 failed" in res.stdout, res.stdout
    rows = read_rows(out)
    names = [Path(r["path"]).name for r in rows]
    assert sorted(names) == ["hit00.flac", "hit01.wav", "hit02.flac"], names  # one row each
    after = {Path(r["path"]).name: r for r in rows}
    assert [after["hit00.flac"][d] for d in DESCRIPTORS] == [before["hit02.flac"][d] for d in DESCRIPTORS]
    assert [after["hit01.wav"][d] for d in DESCRIPTORS] != [before["hit01.wav"][d] for d in DESCRIPTORS]
    sidecar = dict(reversed(line.split("  ", 1)) for line in hash_path(out).read_text().splitlines())
    assert sorted(Path(p).name for p in sidecar) == ["hit00.flac", "hit01.wav", "hit02.flac"]
    assert all(sidecar[r["path"]] == file_hash(tmp_path / "kit" / Path(r["path"]).name) for r in rows)


def test_missing_path_is_a_clear_error(tmp_path):
    res = drumtimbre("label", str(tmp_path / "nope"), "-o", str(tmp_path / "x.csv"))
    assert res.returncode == 2 and "nope: no such file or folder" in res.stderr
    make_kit(tmp_path / "kit", 1)
    (tmp_path / "taken").mkdir()
    res = drumtimbre("label", str(tmp_path / "kit"), "-o", str(tmp_path / "taken"), cwd=tmp_path)
    assert res.returncode == 2 and "taken: is a folder" in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kit", "taken"]  # no stray taken.tmp


def test_relative_paths_are_stored_relative_to_the_csv(tmp_path):
    make_kit(tmp_path / "audio" / "kit", 2)
    (tmp_path / "labels").mkdir()
    res = drumtimbre("label", "audio/kit", "-o", "labels/out.csv", "--no-progress", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert sorted(r["path"] for r in read_rows(tmp_path / "labels/out.csv")) == ["../audio/kit/hit00.flac",
                                                                                 "../audio/kit/hit01.wav"]
    shutil.move(tmp_path / "audio", tmp_path / "moved_audio")  # the CSV and its audio move together
    shutil.move(tmp_path / "labels", tmp_path / "moved_labels")
    (tmp_path / "moved_audio").rename(tmp_path / "audio")
    m = read_label_csv(tmp_path / "moved_labels/out.csv")
    assert all(Path(p).is_file() for p in m.paths())
    assert m.records[0].group == str(tmp_path / "audio" / "kit")


def test_rerun_with_resume_leaves_both_files_unchanged(tmp_path):
    """Rebuilding over the same files (as `build-data` does over committed labels) rewrites the CSV and
    its .sha256 sidecar byte for byte, with two workers, failures retried and two files of identical
    content: one sidecar line per labelled row, rows in a fixed order."""
    good = make_kit(tmp_path / "kit", 4)
    shutil.copy(good[0], tmp_path / "kit" / "same_as_first.flac")
    for name in ("bad_a.wav", "bad_b.wav", "bad_c.wav"):
        (tmp_path / "kit" / name).write_bytes(b"RIFF....WAVE")
    out = tmp_path / "labels.csv"
    args = ("label", str(tmp_path / "kit"), "-o", str(out), "--workers", "2", "--no-progress")
    assert drumtimbre(*args).returncode == 0
    assert drumtimbre(*args, "--resume").returncode == 0
    first = out.read_bytes(), hash_path(out).read_bytes()
    res = drumtimbre(*args, "--resume")
    assert res.returncode == 0 and "0 labelled, 5 already labelled, 3 failed" in res.stdout, res.stdout
    assert (out.read_bytes(), hash_path(out).read_bytes()) == first
    rows = read_rows(out)
    assert [Path(r["path"]).name for r in rows if r["error"]] == ["bad_a.wav", "bad_b.wav", "bad_c.wav"]
    sidecar = hash_path(out).read_text().splitlines()
    assert [line.split("  ", 1)[1] for line in sidecar] == [r["path"] for r in rows if not r["error"]]


def non_utf8_copy(src: Path, folder: Path) -> Path:
    """A copy of `src` in `folder` named caf<0xe9>.flac (Latin-1, not UTF-8: legal on Linux); skips where the
    file system refuses such a name."""
    if os.name == "nt":
        pytest.skip("file names are Unicode on Windows")
    dest = folder / os.fsdecode(b"caf\xe9.flac")
    try:
        os.rename(shutil.copy(src, folder / "tmp_copy.flac"), dest)
    except OSError as exc:
        pytest.skip(f"this file system refuses a name that is not UTF-8 ({exc})")
    return dest


def test_a_file_name_that_is_not_utf8_is_labelled_and_the_run_goes_on(tmp_path):
    """A name that is not valid UTF-8 (e.g. Latin-1 from an old zip) used to stop the run with a
    UnicodeEncodeError (soundfile could not open it, then the CSV could not hold its error row): the files
    after it were never labelled.  It is labelled like any other, its name kept as its bytes; --resume reads
    it back and training reads the CSV."""
    kit = tmp_path / "kit"
    kit.mkdir()
    sf.write(kit / "a_first.flac", kick(44100, 0.3), 44100)
    sf.write(kit / "z_last.wav", hat(44100, 0.3), 44100)
    odd = non_utf8_copy(kit / "a_first.flac", kit)
    out = tmp_path / "labels.csv"
    args = ("label", str(kit), "-o", str(out), "--workers", "1", "--no-progress")
    res = drumtimbre(*args)
    assert res.returncode == 0 and "3 labelled, 0 already labelled, 0 failed" in res.stdout, res.stdout + res.stderr
    assert os.fsencode(odd) in out.read_bytes() and os.fsencode(odd) in hash_path(out).read_bytes()
    res = drumtimbre(*args, "--resume")
    assert res.returncode == 0 and "0 labelled, 3 already labelled, 0 failed" in res.stdout, res.stdout + res.stderr
    m = read_label_csv(out)
    assert sorted(m.paths()) == sorted(map(str, [kit / "a_first.flac", odd, kit / "z_last.wav"]))
    first, copy = (m.labels()[m.paths().index(str(p))] for p in (kit / "a_first.flac", odd))
    assert first.tolist() == copy.tolist()


@pytest.fixture()
def fake_labeller(monkeypatch) -> list[str]:
    """label_to_csv with a stand-in for the (slow) reference labeller: labels derived from the file's bytes
    (same content, same labels); returns the list of files it was asked to label."""
    from encoder import label_run

    calls: list[str] = []

    def label_one(path: str):
        calls.append(path)
        v = int(file_hash(path)[:8], 16) % 90
        return path, tuple(float(v + i) for i in range(len(DESCRIPTORS))), ""

    monkeypatch.setattr(label_run, "label_one", label_one)
    return calls


def label(paths, out: Path, resume: bool = True):
    from encoder.label_run import label_to_csv

    return label_to_csv([Path(p) for p in paths], out, workers=1, resume=resume, progress=False)


def sidecar_of(out: Path) -> dict[str, str]:
    """path -> hash, from the .sha256 sidecar."""
    return {p: h for h, p in (line.split("  ", 1) for line in hash_path(out).read_text().splitlines())}


def test_resume_keeps_labelled_rows_the_sidecar_has_no_hash_for(tmp_path, fake_labeller):
    """Rows whose hash is missing from the sidecar (lost, or cut short) used to be deleted by --resume for
    good, even of files not given again; README promises --resume keeps what the CSV holds.  Such a row is
    kept: its file hashed now (and not labelled again), or, where the file is gone, kept without a hash -
    through later resumes too."""
    a, b, c = make_kit(tmp_path / "kit", 3)
    out = tmp_path / "labels.csv"
    label([a, c], out, resume=False)
    before = read_rows(out)
    hash_path(out).unlink()
    c.unlink()
    fake_labeller.clear()
    s = label([b, a], out)
    assert fake_labeller == [str(b)] and (s.labelled, s.reused) == (1, 1)
    rows = read_rows(out)
    assert rows[:2] == before and [r["path"] for r in rows] == [str(a), str(c), str(b)]
    assert sidecar_of(out) == {str(a): file_hash(a), str(b): file_hash(b)}  # (c: no hash to give)
    first = out.read_bytes(), hash_path(out).read_bytes()
    s = label([b], out)
    assert fake_labeller == [str(b)] and s.reused == 1
    assert (out.read_bytes(), hash_path(out).read_bytes()) == first  # c's row survives this resume too


def test_resume_knows_a_file_under_another_spelling_of_its_path(tmp_path, fake_labeller, monkeypatch):
    """A file given relative once and absolute the next time (or twice in one run) is one file: one row,
    under the name its row already has.  --resume used to add a second row for every file (relative names
    are stored relative to the CSV, absolute ones as given), which then leaked across train/test splits; a
    CSV with such second rows loses them on the next resume."""
    monkeypatch.chdir(tmp_path)
    a, b = make_kit(tmp_path / "kit", 2)
    out = tmp_path / "labels.csv"
    label([Path("kit/hit00.flac"), Path("kit/hit01.wav")], out, resume=False)
    first = out.read_bytes(), hash_path(out).read_bytes()
    assert [r["path"] for r in read_rows(out)] == ["kit/hit00.flac", "kit/hit01.wav"]
    s = label([a, b], out)  # the same files, absolute
    assert (s.labelled, s.reused) == (0, 2) and len(fake_labeller) == 2
    assert (out.read_bytes(), hash_path(out).read_bytes()) == first
    s = label([Path("kit/../kit/hit00.flac"), a, b], out)  # and given twice
    assert (s.labelled, s.reused) == (0, 3) and (out.read_bytes(), hash_path(out).read_bytes()) == first
    label([a, Path("kit/hit00.flac")], tmp_path / "fresh.csv", resume=False)  # twice in one run: labelled once
    assert [r["path"] for r in read_rows(tmp_path / "fresh.csv")] == [str(a)] and len(fake_labeller) == 3
    with open(out, "a", newline="") as f:  # a CSV with a second row of a file, as older versions wrote
        f.write(f"{a},{','.join(['1.0'] * len(DESCRIPTORS))},\n")
    with open(hash_path(out), "a") as f:
        f.write(f"{file_hash(a)}  {a}\n")
    label([a, b], out)
    assert (out.read_bytes(), hash_path(out).read_bytes()) == first and len(fake_labeller) == 3


def test_resume_after_moving_files_moves_their_rows(tmp_path, fake_labeller):
    """Files moved (their old paths gone) and labelled again with --resume take their rows under the new
    paths.  The old rows used to stay beside new ones, and train/evaluate then refused the CSV (missing
    audio).  A row of the same content whose file is still there stays (a copy has a row of its own), and
    so does a row whose file is gone and not found elsewhere."""
    kit = make_kit(tmp_path / "a", 3)
    other = tmp_path / "other" / "same_as_first.flac"
    other.parent.mkdir()
    shutil.copy(kit[0], other)
    lost = tmp_path / "lost" / "gone.wav"
    lost.parent.mkdir()
    sf.write(lost, snare(44100, 0.3, seed=5), 44100)
    out = tmp_path / "labels.csv"
    label([*kit, other, lost], out, resume=False)
    before, hashes = read_rows(out), sidecar_of(out)
    (tmp_path / "a").rename(tmp_path / "b")
    lost.unlink()
    fake_labeller.clear()
    s = label(sorted((tmp_path / "b").iterdir()), out)
    assert fake_labeller == [] and (s.labelled, s.reused) == (0, 3)
    rows = read_rows(out)
    moved = [str(tmp_path / "b" / p.name) for p in kit]
    assert [r["path"] for r in rows] == [*moved, str(other), str(lost)]  # (in their places)
    assert [{**r, "path": ""} for r in rows] == [{**r, "path": ""} for r in before]
    assert list(sidecar_of(out).items()) == [*((p, hashes[str(k)]) for p, k in zip(moved, kit)),
                                             (str(other), hashes[str(other)]), (str(lost), hashes[str(lost)])]
    first = out.read_bytes(), hash_path(out).read_bytes()
    assert label(sorted((tmp_path / "b").iterdir()), out).reused == 3
    assert (out.read_bytes(), hash_path(out).read_bytes()) == first
    lost.parent.rmdir()
    m = read_label_csv(out)
    assert [p for p in m.paths() if not Path(p).is_file()] == [str(lost)]


def test_resume_keeps_the_columns_a_csv_has_beyond_the_labels(tmp_path, fake_labeller):
    """A `group` column (README: label CSVs may name each file's kit) used to vanish on --resume, which rewrote
    the label columns only: build-data's rebuilds lost their variants' groups that way.  Kept rows keep their
    values; new rows leave them empty."""
    a, b = make_kit(tmp_path / "kit", 2)
    out = tmp_path / "labels.csv"
    label([a], out, resume=False)
    text = out.read_text().splitlines()
    out.write_text("\n".join([text[0] + ",group"] + [line + ",kit one" for line in text[1:]]) + "\n")
    label([a, b], out)
    rows = read_rows(out)
    assert [(r["path"], r["group"]) for r in rows] == [(str(a), "kit one"), (str(b), "")]
    assert fake_labeller == [str(a), str(b)]
