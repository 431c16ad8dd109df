import json

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
