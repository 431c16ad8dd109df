import numpy as np
import pytest
from PIL import Image, ImageCms

from keras_semdenoise import imageio


def test_tiff_16bit_and_grayscale_read_as_rgb(tmp_path):
    gray16 = np.arange(12 * 10, dtype=np.uint16).reshape(10, 12) * 500
    Image.fromarray(gray16).save(tmp_path / "g16.png")
    Image.fromarray(np.zeros((10, 12, 3), np.uint8) + 200).save(tmp_path / "rgb.tif")
    Image.fromarray(np.zeros((10, 12, 4), np.uint8) + 100, "RGBA").save(tmp_path / "rgba.png")
    loaded = imageio.load_image(str(tmp_path / "g16.png"))
    assert loaded.pixels.shape == (10, 12, 3) and loaded.notes
    np.testing.assert_allclose(loaded.pixels[..., 0], gray16 / 65535, atol=1e-6)
    assert imageio.load_image(str(tmp_path / "rgb.tif")).pixels.max() == pytest.approx(200 / 255)
    rgba = imageio.load_image(str(tmp_path / "rgba.png"))
    assert rgba.pixels.shape == (10, 12, 3) and "alpha" in rgba.notes[0]
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(imageio.ImageReadError):
        imageio.load_image(str(tmp_path / "bad.jpg"))


def test_exif_orientation_is_applied(tmp_path):
    # A phone portrait: pixels stored landscape (8 wide, 4 high) with orientation 6 (rotate 90 CW to view).
    stored = np.zeros((4, 8, 3), np.uint8)
    stored[:, :4] = 255  # left half white
    exif = Image.Exif()
    exif[imageio.ORIENTATION_TAG] = 6
    Image.fromarray(stored).save(tmp_path / "portrait.jpg", exif=exif, quality=100)
    loaded = imageio.load_image(str(tmp_path / "portrait.jpg"))
    assert loaded.pixels.shape == (8, 4, 3) and "EXIF orientation (6)" in loaded.notes[-1]
    # Rotated 90 degrees clockwise: the stored left half becomes the top half.
    assert loaded.pixels[:3].mean() > 0.9 and loaded.pixels[5:].mean() < 0.1
    Image.fromarray(stored).save(tmp_path / "plain.jpg", quality=100)
    assert imageio.load_image(str(tmp_path / "plain.jpg")).pixels.shape == (4, 8, 3)


def _roundtrip(tmp_path, picture, name, rotated=False, **save_options):
    path = tmp_path / name
    picture.save(path, **save_options)
    loaded = imageio.load_image(str(path))
    height, width = (picture.width, picture.height) if rotated else (picture.height, picture.width)
    assert loaded.pixels.shape == (height, width, 3) and loaded.pixels.dtype == np.float32
    out = tmp_path / f"out_{name}.png"
    imageio.save_like(str(out), loaded.pixels, loaded)  # the identity "denoiser": the file must come back
    return Image.open(out)


def test_grayscale_comes_back_grayscale_in_its_bit_depth(tmp_path):
    rng = np.random.default_rng(0)
    gray8 = Image.fromarray(rng.integers(0, 256, (9, 13), dtype=np.uint8), "L")
    back = _roundtrip(tmp_path, gray8, "g8.png")
    assert back.mode == "L" and np.array_equal(np.asarray(back), np.asarray(gray8))
    gray16 = Image.fromarray(rng.integers(0, 65536, (9, 13), dtype=np.uint16))
    back = _roundtrip(tmp_path, gray16, "g16.png")
    assert back.mode.startswith("I") and np.array_equal(
        np.asarray(back).astype(np.int64), np.asarray(gray16).astype(np.int64)
    )


def test_alpha_is_kept_and_reattached(tmp_path):
    rng = np.random.default_rng(1)
    rgba = Image.fromarray(rng.integers(0, 256, (8, 10, 4), dtype=np.uint8), "RGBA")
    back = _roundtrip(tmp_path, rgba, "rgba.png")
    assert back.mode == "RGBA" and np.array_equal(np.asarray(back), np.asarray(rgba))
    la = Image.fromarray(rng.integers(0, 256, (8, 10, 2), dtype=np.uint8), "LA")
    back = _roundtrip(tmp_path, la, "la.png")
    assert back.mode == "LA" and np.array_equal(np.asarray(back), np.asarray(la))


def test_icc_profile_and_exif_are_copied_with_upright_orientation(tmp_path):
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0110] = "TestCam 1"  # camera model
    exif[0x0112] = 6  # rotated: the loader turns the pixels upright
    picture = Image.fromarray(np.random.default_rng(2).integers(0, 256, (6, 9, 3), dtype=np.uint8))
    back = _roundtrip(
        tmp_path, picture, "tagged.jpg", rotated=True, icc_profile=profile, exif=exif.tobytes(), quality=95
    )
    assert back.size == (6, 9)  # 9 wide x 6 high, turned to 6 wide x 9 high
    assert back.info.get("icc_profile") == profile
    assert back.getexif()[0x0110] == "TestCam 1" and back.getexif()[0x0112] == 1
