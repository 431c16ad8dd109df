import json
import os

import pytest

from keras_semdenoise import atomic


def test_atomic_writers_replace_whole_files_and_keep_keras_suffixes(tmp_path):
    assert atomic.temporary_path("a/m.keras") == "a/m.tmp.keras"
    assert atomic.temporary_path("a/m.weights.h5") == "a/m.tmp.weights.h5"
    assert atomic.temporary_path("a/r.json") == "a/r.json.tmp"
    path = str(tmp_path / "deep" / "r.json")
    atomic.write_json(path, {"a": 1})
    atomic.write_json(path, {"b": 2})
    assert json.load(open(path)) == {"b": 2} and sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["r.json"]
    atomic.copy_file(path, str(tmp_path / "copy" / "r.json"))
    assert open(tmp_path / "copy" / "r.json").read() == open(path).read()


def test_a_failed_write_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "out.png"

    def fails(tmp):
        with open(tmp, "wb") as handle:
            handle.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        atomic.write_with(str(target), fails)
    assert os.listdir(tmp_path) == []
