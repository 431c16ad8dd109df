"""Receiving one image upload over HTTP (``semdenoise serve``): the form read into memory within limits
checked while it arrives, its noise-level fields parsed, and the one-line errors the page shows."""

from __future__ import annotations

import math
from dataclasses import dataclass

from keras_semdenoise import noise

# Room for the multipart boundaries and the small fields around the file.
_FORM_OVERHEAD_BYTES = 64 * 1024


class RequestError(ValueError):
    """An upload the server will not denoise; ``message`` is what the page shows."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Limits:
    """What one upload may be: ``max_upload_bytes`` of file, ``max_pixels`` of image."""

    max_pixels: int
    max_upload_bytes: int

    @classmethod
    def from_options(cls, max_megapixels: float, max_upload_mb: float) -> Limits:
        """From the command's units (10^6 pixels, 10^6 bytes); raises ``ValueError`` for a non-positive limit."""
        for flag, value in (("--max-megapixels", max_megapixels), ("--max-upload-mb", max_upload_mb)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{flag} must be a positive number, got {value:g}")
        return cls(max_pixels=int(max_megapixels * 1e6), max_upload_bytes=int(max_upload_mb * 1e6))


_FIELD_NAMES = {"sigma": "noise level", "add_noise": "added noise"}


def parse_noise_level(fields: dict, field: str) -> float | None:
    """The noise level (0..255 scale) in form field ``sigma`` or ``add_noise``; None when absent or empty, or
    ``auto`` for ``sigma``. Raises ``RequestError`` 400 with the field's name for anything else."""
    text = (fields.get(field) or "").strip()
    if not text or (field == "sigma" and text.lower() == "auto"):
        return None
    try:
        return noise.check_sigma(text)
    except ValueError as error:
        raise RequestError(400, f"{_FIELD_NAMES[field]}: {error}") from None


def parse_flag(fields: dict, field: str) -> bool:
    """An on/off form field (a checkbox): absent, empty, ``0``, ``false`` or ``off`` is off; ``1``, ``true``
    or ``on`` is on. Raises ``RequestError`` 400 with the field's name for anything else."""
    text = (fields.get(field) or "").strip().lower()
    if text in ("", "0", "false", "off"):
        return False
    if text in ("1", "true", "on"):
        return True
    raise RequestError(400, f"{field}: expected on or off, got {text!r}")


def _too_many_bytes(what: str, limits: Limits) -> RequestError:
    return RequestError(
        413, f"{what}; this server takes at most {limits.max_upload_bytes / 1e6:g} MB (--max-upload-mb)"
    )


async def _limited(stream, limits: Limits):
    """The request body's chunks, stopping with a 413 once it is clearly more than the file limit."""
    received = 0
    async for chunk in stream:
        received += len(chunk)
        if received > limits.max_upload_bytes + _FORM_OVERHEAD_BYTES:
            raise _too_many_bytes("the upload is too large", limits)
        yield chunk


async def read_upload(request, limits: Limits) -> tuple[bytes, str, dict]:
    """``(file bytes, file name, other fields)`` of a ``POST /api/denoise`` form, the file held in memory.

    Raises:
        RequestError: 400 no file or a malformed form, 413 too large, 415 not a multipart form.
    """
    from starlette.formparsers import MultiPartException, MultiPartParser

    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise RequestError(415, "send the image as a multipart/form-data form with the file in the field 'image'")
    body_limit = limits.max_upload_bytes + _FORM_OVERHEAD_BYTES
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > body_limit:
        raise _too_many_bytes(f"the upload is {int(declared) / 1e6:.1f} MB", limits)
    parser = MultiPartParser(request.headers, _limited(request.stream(), limits), max_files=1, max_fields=8)
    parser.spool_max_size = body_limit  # the file stays in memory: never spooled to a temporary file
    try:
        form = await parser.parse()
    except MultiPartException as error:
        raise RequestError(400, f"malformed upload: {error.message}") from None
    try:
        upload = form.get("image")
        if upload is None or isinstance(upload, str):
            raise RequestError(400, "no image in the upload: send the file in the form field 'image'")
        data = await upload.read()
        if len(data) > limits.max_upload_bytes:
            raise _too_many_bytes(f"{upload.filename} is {len(data) / 1e6:.1f} MB", limits)
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        return data, upload.filename or "upload", fields
    finally:
        await form.close()
