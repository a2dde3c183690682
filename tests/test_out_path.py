"""Outputs checked before the work: never a folder, never one of the run's own inputs."""
import os

import pytest

from encoder.out_path import check_writable, same_file


def test_same_file_follows_relative_paths_and_links(tmp_path, monkeypatch):
    a = tmp_path / "take.wav"
    a.write_bytes(b"RIFF")
    monkeypatch.chdir(tmp_path)
    assert same_file("take.wav", a) and same_file("./sub/../take.wav", a)
    os.symlink(a, tmp_path / "link.wav")
    assert same_file(tmp_path / "link.wav", a)
    assert not same_file(tmp_path / "other.wav", a)
    assert same_file(tmp_path / "new.csv", "new.csv")  # neither there yet: by path
    os.symlink(tmp_path / "loop_b", tmp_path / "loop_a")  # a link loop: no error (Path.resolve raised one)
    os.symlink(tmp_path / "loop_a", tmp_path / "loop_b")
    assert not same_file(tmp_path / "loop_a", a)
    check_writable(tmp_path / "out.csv", (("input file", tmp_path / "loop_a"),))


def test_an_output_that_is_an_input_is_refused_and_left_as_it_was(tmp_path):
    take = tmp_path / "take.wav"
    take.write_bytes(b"RIFF audio")
    with pytest.raises(OSError, match=r"take\.wav: is also the input file"):
        check_writable(take, (("input file", take),))
    assert take.read_bytes() == b"RIFF audio"
    check_writable(tmp_path / "hits.csv", (("input file", take), ("config file", None)))  # another name: fine
    assert not (tmp_path / "hits.csv").exists()
