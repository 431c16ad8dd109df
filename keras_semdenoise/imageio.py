"""Image files at the package's edge: any common file -> float32 RGB [0, 1] (H, W, 3), and back to PNG."""

from __future__ import annotations

import io
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


class ImageTooLargeError(ImageReadError):
    """An image with more pixels than the reader was allowed to decode."""


@dataclass
class LoadedImage:
    """An image as the package sees it, plus what is needed to write a result back in the file's form.

    ``pixels`` is what the denoiser sees; ``gray``/``bits`` say how the file stored its colour,
    ``alpha`` is its alpha channel (float32 (H, W) in [0, 1], upright) or None, and ``icc_profile`` /
    ``exif`` are the file's colour profile and EXIF bytes (orientation reset to upright) or None.
    ``save_like`` writes a result with all of these.
    """

    pixels: np.ndarray  # (H, W, 3) float32 in [0, 1]
    notes: list[str] = field(default_factory=list)
    gray: bool = False
    bits: int = 8
    alpha: np.ndarray | None = None
    icc_profile: bytes | None = None
    exif: bytes | None = None


def is_image_path(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def list_image_files(folder: str) -> list[str]:
    """Sorted paths of the image files directly inside ``folder``."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"image folder not found: {folder}")
    return sorted(os.path.join(folder, name) for name in os.listdir(folder) if is_image_path(name))


def image_from_pil(image: Image.Image) -> LoadedImage:
    """Converts a Pillow image of any mode to float32 RGB in [0, 1], noting what changed."""
    notes = []
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        array = np.asarray(image, dtype=np.float64)
        scale = 65535.0 if array.max(initial=0) > 255 or mode.startswith("I;16") else 255.0
        bits = 16 if scale > 255 else 8
        notes.append(f"{mode} ({bits}-bit) grayscale: denoised as RGB, written back as {bits}-bit grayscale")
        gray = np.clip(array / scale, 0.0, 1.0).astype(np.float32)
        return LoadedImage(np.repeat(gray[..., None], 3, axis=-1), notes, gray=True, bits=bits)
    if mode == "F":
        array = np.asarray(image, dtype=np.float32)
        notes.append("float grayscale: values clipped to [0, 1], written back as 16-bit grayscale")
        gray = np.clip(array, 0.0, 1.0)
        return LoadedImage(np.repeat(gray[..., None], 3, axis=-1), notes, gray=True, bits=16)
    alpha = None
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in image.info)
    if has_alpha:
        alpha = np.asarray(image.convert("RGBA"), dtype=np.float32)[..., 3] / 255.0
        notes.append(f"{mode} image: colour denoised, alpha channel kept as it is")
    gray = mode in ("L", "1", "LA", "La")
    if gray:
        notes.append(f"grayscale ({mode}): denoised as RGB, written back as grayscale")
    elif mode not in ("RGB", "RGBA") and not has_alpha:
        notes.append(f"{mode} image converted to RGB")
    rgb = image.convert("RGBA").convert("RGB") if has_alpha else image.convert("RGB")
    return LoadedImage(np.asarray(rgb, dtype=np.float32) / 255.0, notes, gray=gray, alpha=alpha)


def load_image(path: str, max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """Reads ``path`` (PNG/JPEG/TIFF/...) as float32 RGB in [0, 1], shape (H, W, 3).

    16-bit grayscale PNG/TIFF are read at full precision (16-bit RGB at 8-bit precision:
    Pillow has no 16-bit RGB mode; far below any noise level this model removes);
    grayscale is repeated to RGB; alpha is dropped; an EXIF orientation is applied, so
    the result is upright as viewers show it. Raises ``ImageReadError`` (one-line
    message) for anything unreadable, ``ImageTooLargeError`` above ``max_pixels``
    (checked from the header, before decoding).
    """
    return _read(path, path, max_pixels)


def read_image_bytes(data: bytes, name: str, max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """``load_image`` for a file's contents held in memory (an upload); ``name`` labels the messages."""
    if not data:
        raise ImageReadError(f"{name}: the file is empty")
    return _read(io.BytesIO(data), name, max_pixels)


def _read(source, name: str, max_pixels: int) -> LoadedImage:
    try:
        with Image.open(source) as image:
            if image.width * image.height > max_pixels:
                raise ImageTooLargeError(f"{name}: {image.width}x{image.height} is larger than {max_pixels:,} pixels")
            image.load()
            if image.width < 1 or image.height < 1:
                raise ImageReadError(f"{name}: empty image")
            if getattr(image, "n_frames", 1) > 1:
                image.seek(0)
            orientation = image.getexif().get(ORIENTATION_TAG, 1)
            upright = ImageOps.exif_transpose(image) if orientation not in (0, 1) else image
            loaded = image_from_pil(upright)
            loaded.icc_profile = image.info.get("icc_profile") or None
            exif = image.getexif()
            if len(exif):
                exif[ORIENTATION_TAG] = 1  # the pixels are upright now
                loaded.exif = exif.tobytes()
            if upright is not image:
                loaded.notes.append(f"rotated upright as its EXIF orientation ({orientation}) says")
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(f"{name}: no such file") from None
    except Image.DecompressionBombError as error:  # Pillow's own guard, above ~179 Mpx
        raise ImageTooLargeError(f"{name}: {error}") from None
    except UnidentifiedImageError:
        raise ImageReadError(
            f"{name}: not an image file ({', '.join(IMAGE_EXTENSIONS)} and others Pillow reads)"
        ) from None
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageReadError(f"{name}: not a readable image ({type(error).__name__}: {error})") from None
    return loaded


def encode_like(image: np.ndarray, source: LoadedImage) -> bytes:
    """A result (H, W, 3) float in [0, 1] (clipped, rounded) as PNG bytes in the form ``source`` came in.

    Grayscale sources give grayscale PNGs (the mean of the three channels; 16-bit where the source was),
    an alpha channel is re-attached unchanged, and the ICC profile and EXIF are kept.
    """
    from keras_semdenoise.metrics import to_uint8

    clipped = np.clip(np.asarray(image, np.float64), 0.0, 1.0)
    if source.gray and source.bits == 16:
        picture = Image.fromarray(np.rint(clipped.mean(axis=-1) * 65535.0).astype(np.uint16))
    else:
        pixels = to_uint8(clipped.mean(axis=-1)) if source.gray else to_uint8(clipped)
        if source.alpha is not None:
            alpha = to_uint8(source.alpha)
            pixels = np.dstack([pixels, alpha])
            picture = Image.fromarray(pixels, "LA" if source.gray else "RGBA")
        else:
            picture = Image.fromarray(pixels, "L" if source.gray else "RGB")
    options = {}
    if source.icc_profile:
        options["icc_profile"] = source.icc_profile
    if source.exif:
        options["exif"] = source.exif
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def save_like(path: str, image: np.ndarray, source: LoadedImage) -> None:
    """Writes a result (H, W, 3) float in [0, 1] as a PNG in the form ``source`` came in (``encode_like``). Atomic."""
    from keras_semdenoise import atomic

    atomic.write_bytes(path, encode_like(image, source))


def save_png(path: str, image: np.ndarray) -> None:
    """Writes an (H, W, 3) float image in [0, 1] (clipped, rounded) or uint8 array as an 8-bit PNG. Atomic."""
    from keras_semdenoise import atomic
    from keras_semdenoise.metrics import to_uint8

    array = image if image.dtype == np.uint8 else to_uint8(image)
    atomic.write_with(path, lambda tmp: Image.fromarray(array).save(tmp, format="PNG"))
