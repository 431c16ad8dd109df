"""Image files at the package's edge: any common file -> float32 RGB [0, 1] (H, W, 3), and back to PNG."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
# Pillow refuses to open images above ~179 Mpx by default (decompression-bomb guard); keep a guard.
MAX_PIXELS = 400_000_000
ORIENTATION_TAG = 0x0112  # EXIF orientation: phones store portraits sideways and set this


class ImageReadError(ValueError):
    """A file that is not a readable image."""


@dataclass
class LoadedImage:
    """An image as the package sees it, plus notes on what was converted to get there."""

    pixels: np.ndarray  # (H, W, 3) float32 in [0, 1]
    notes: list[str] = field(default_factory=list)


def is_image_path(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def list_image_files(folder: str) -> list[str]:
    """Sorted paths of the image files directly inside ``folder``."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"image folder not found: {folder}")
    return sorted(
        os.path.join(folder, name) for name in os.listdir(folder) if is_image_path(name)
    )


def image_from_pil(image: Image.Image) -> LoadedImage:
    """Converts a Pillow image of any mode to float32 RGB in [0, 1], noting what changed."""
    notes = []
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        array = np.asarray(image, dtype=np.float64)
        scale = 65535.0 if array.max(initial=0) > 255 or mode.startswith("I;16") else 255.0
        notes.append(f"{mode} ({'16' if scale > 255 else '8'}-bit) grayscale converted to RGB")
        gray = np.clip(array / scale, 0.0, 1.0).astype(np.float32)
        return LoadedImage(np.repeat(gray[..., None], 3, axis=-1), notes)
    if mode == "F":
        array = np.asarray(image, dtype=np.float32)
        notes.append("float grayscale converted to RGB (values clipped to [0, 1])")
        gray = np.clip(array, 0.0, 1.0)
        return LoadedImage(np.repeat(gray[..., None], 3, axis=-1), notes)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        notes.append(f"{mode} image: alpha channel dropped")
    elif mode in ("L", "1"):
        notes.append(f"grayscale ({mode}) converted to RGB")
    elif mode != "RGB":
        notes.append(f"{mode} image converted to RGB")
    rgb = image.convert("RGB")
    return LoadedImage(np.asarray(rgb, dtype=np.float32) / 255.0, notes)


def load_image(path: str) -> LoadedImage:
    """Reads ``path`` (PNG/JPEG/TIFF/...) as float32 RGB in [0, 1], shape (H, W, 3).

    16-bit grayscale PNG/TIFF are read at full precision (16-bit RGB at 8-bit precision:
    Pillow has no 16-bit RGB mode; far below any noise level this model removes);
    grayscale is repeated to RGB; alpha is dropped; an EXIF orientation is applied, so
    the result is upright as viewers show it. Raises ``ImageReadError`` (one-line
    message) for anything unreadable.
    """
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                raise ImageReadError(f"{path}: {image.width}x{image.height} is larger than {MAX_PIXELS} pixels")
            image.load()
            if image.width < 1 or image.height < 1:
                raise ImageReadError(f"{path}: empty image")
            if getattr(image, "n_frames", 1) > 1:
                image.seek(0)
            orientation = image.getexif().get(ORIENTATION_TAG, 1)
            upright = ImageOps.exif_transpose(image) if orientation not in (0, 1) else image
            loaded = image_from_pil(upright)
            if upright is not image:
                loaded.notes.append(f"rotated upright as its EXIF orientation ({orientation}) says")
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise ImageReadError(f"{path}: not a readable image ({type(error).__name__}: {error})") from None
    return loaded


def save_png(path: str, image: np.ndarray) -> None:
    """Writes an (H, W, 3) float image in [0, 1] (clipped, rounded) or uint8 array as an 8-bit PNG."""
    from keras_semdenoise.metrics import to_uint8

    array = image if image.dtype == np.uint8 else to_uint8(image)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    Image.fromarray(array).save(path, format="PNG")
