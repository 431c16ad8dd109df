import pytest

from keras_semdenoise.data import splits


def test_names_and_slices_select_positions_of_the_fixed_order():
    assert splits.parse("val") == ("val", None)
    assert splits.parse("train[-5000:]") == ("train", ("-5000", ""))
    assert list(splits.indices("val", 4)) == [0, 1, 2, 3]
    assert splits.indices("train[:-5000]", 50000) == range(0, 45000)
    assert splits.indices("train[-5000:]", 50000) == range(45000, 50000)
    assert splits.indices("train[10:20]", 50) == range(10, 20)
    assert splits.indices("train[:]", 7) == range(0, 7)
    # Percentages round to the nearest image (tfds): 90% of 15 is 13.5 -> 14.
    assert splits.indices("train[:90%]", 15) == range(0, 14)
    assert splits.indices("train[90%:]", 15) == range(14, 15)
    assert splits.indices("train[-10%:]", 15) == range(13, 15)  # 1.5 -> 2 from the end
    assert splits.indices("train[10:-10%]", 100) == range(10, 90)
    assert splits.base_name("train[:90%]") == "train"


@pytest.mark.parametrize(
    "name, message",
    [
        ("train[5]", "malformed"),
        ("train[a:b]", "malformed"),
        ("train[1:2:3]", "malformed"),
        ("[1:2]", "malformed"),
        ("train[:5]x", "malformed"),
        ("train[1.5:]", "malformed"),
        ("train[5:5]", "selects no images"),
        ("train[8:2]", "selects no images"),
        ("train[-2:-3]", "selects no images"),
        ("train[:0%]", "selects no images"),
        ("train{}", "malformed"),
        ("train{!}", "malformed"),
        ("train{a,,b}", "malformed"),
        ("train[:2]{a}", "malformed"),
        ("train{a}{b}", "malformed"),
        ("train[:11]", r"beyond 10 \(the split has 10 images\)"),
        ("train[-11:]", "beyond 10"),
        ("train[:101%]", "beyond 100%"),
    ],
)
def test_malformed_out_of_range_or_empty_slices_are_refused(name, message):
    with pytest.raises(ValueError, match=message):
        splits.indices(name, 10)


def test_unions_name_their_parts_and_overlaps_are_found_across_them():
    assert splits.union_parts("val") == ["val"]
    assert splits.union_parts("train+val") == ["train", "val"]
    assert splits.union_parts(" train[:-30] + val ") == ["train[:-30]", "val"]
    for name, message in (
        ("train+", "empty part"),
        ("train++val", "empty part"),
        ("train+val+train", "twice"),
        ("train+va[l", "malformed"),
    ):
        with pytest.raises(ValueError, match=message):
            splits.union_parts(name)
    assert splits.overlap("train+val", "val") and splits.overlap("train", "train[-5:]")
    assert not splits.overlap("train[:-5]", "train[-5:]")  # slices of one split are taken apart by choice
    assert not splits.overlap("train[:-5]+val", "train[-5:]") and splits.overlap("train[:-5]+val", "val[:2]")
    assert not splits.overlap("train", "val")
    splits.check_validation("train", None)
    splits.check_validation("train", "")  # an empty --val_split: none
    splits.check_validation("train[:-5]+val", "train[-5:]")
    for train, val, message in (
        ("train", "test", "test split"),
        ("train", "val+test[:2]", "test split"),
        ("train+val", "val[-2:]", "share images"),
    ):
        with pytest.raises(ValueError, match=message):
            splits.check_validation(train, val)


def test_name_filters_keep_or_drop_file_name_prefixes_and_keep_held_out_sequences_apart():
    assert splits.parse("train{!0006R0}[:-5]") == ("train", ("", "-5")) and splits.base_name("train{0006R0}") == "train"
    assert splits.name_filter("train{!0006R0}") == (True, ("0006R0",))
    assert splits.name_filter("val{0016E5, 0001TP}") == (False, ("0016E5", "0001TP"))
    assert splits.name_filter("train[:5]") is None
    names = ["0006R0_1.png", "0016E5_2.png", "0006R0_3.png", "0001TP_4.png"]
    assert splits.kept("train", names) == [0, 1, 2, 3]
    assert splits.kept("train{0006R0}", names) == [0, 2] and splits.kept("train{!0006R0}", names) == [1, 3]
    assert splits.kept("train{0016E5,0001TP}", names) == [1, 3]
    with pytest.raises(ValueError, match="keeps none"):
        splits.kept("train{Seq05VD}", names)
    # A held-out sequence validates a run trained on the others; the checks see that they are apart.
    assert not splits.overlap("train{!0006R0}", "train{0006R0}")
    assert not splits.overlap("train{0006R0}", "train{0016E5}") and not splits.overlap("train{!00}", "train{0006R0}")
    assert splits.overlap("train", "train{0006R0}") and splits.overlap("train{!0006R0}", "train{!0016E5}")
    assert splits.overlap("train{0006}", "train{0006R0}") and splits.overlap("train{!0006R0}", "train{0006}")
    assert splits.overlap("train{0006R0}[:5]", "train[5:]")  # slices of different orders are not apart
    assert not splits.overlap("train{0006R0}[:5]", "train{0006R0}[5:]")
    splits.check_validation("train{!0006R0}", "train{0006R0}")
    with pytest.raises(ValueError, match="share images"):
        splits.check_validation("train{!0016E5}", "train{0006R0}")  # training keeps 0006R0 too
