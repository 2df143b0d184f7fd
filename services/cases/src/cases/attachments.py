"""Files attached to a case's progress notes: what they are (by their bytes, never the client's
Content-Type or file name) and what is kept of them (images re-encoded without EXIF, XMP, ICC
profiles or comments, so a photo's GPS location never survives; PDFs as they came)."""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from gov_contracts.errors import InvalidInput

JPEG, PNG, WEBP, PDF = "image/jpeg", "image/png", "image/webp", "application/pdf"
IMAGES = (JPEG, PNG, WEBP)
ACCEPTED = (*IMAGES, PDF)
_PIL_FORMAT = {JPEG: "JPEG", PNG: "PNG", WEBP: "WEBP"}
# an image's pixels decoded to check and re-encode it; Pillow's own bomb guard is twice this
MAX_PIXELS = 40_000_000


class UnsupportedFile(InvalidInput):
    """Neither a JPEG, PNG, WebP image nor a PDF, or an image Pillow cannot read (422, naming the part)."""

    title = "Unsupported attachment"


@dataclass(frozen=True)
class CleanFile:
    filename: str
    content_type: str
    data: bytes
    sha256: str


def sniff(data: bytes) -> str | None:
    """The accepted type these bytes are, by their magic number; None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data.startswith(b"%PDF-"):
        return PDF
    return None


def strip_image(data: bytes, content_type: str) -> bytes:
    """The image re-encoded in its own format from its pixels alone, its EXIF orientation applied:
    no EXIF (so no GPS IFD), XMP, ICC profile, comments or text chunks."""
    with Image.open(io.BytesIO(data)) as im:
        if im.width * im.height > MAX_PIXELS:
            raise ValueError(f"{im.width}×{im.height} pixels is more than {MAX_PIXELS}")
        im.load()
        upright = ImageOps.exif_transpose(im)
    if upright.mode not in ("1", "L", "LA", "RGB", "RGBA", "I", "I;16"):
        upright = upright.convert("RGBA" if upright.has_transparency_data else "RGB")
    if content_type == JPEG and upright.mode not in ("1", "L", "RGB"):
        upright = upright.convert("RGB")
    if content_type == WEBP and upright.mode not in ("RGB", "RGBA"):
        upright = upright.convert("RGBA" if upright.has_transparency_data else "RGB")
    # a new image from the pixels: nothing of the original's info (exif, xmp, icc_profile, comment, text) comes along
    bare = Image.frombytes(upright.mode, upright.size, upright.tobytes())
    out = io.BytesIO()
    options: dict[str, object] = {"quality": 90} if content_type in (JPEG, WEBP) else {}
    bare.save(out, format=_PIL_FORMAT[content_type], **options)
    return out.getvalue()


def safe_filename(name: str | None, content_type: str) -> str:
    """The client's file name without directories or control characters, at most 200 characters."""
    base = os.path.basename((name or "").replace("\\", "/"))
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>').strip()
    return base[:200] or f"attachment.{content_type.rsplit('/', 1)[1]}"


def clean(data: bytes, filename: str | None, field: str) -> CleanFile:
    """The file as it is kept, or UnsupportedFile naming `field` (e.g. `body.files[2]`)."""
    content_type = sniff(data)
    if content_type is None:
        raise UnsupportedFile(field, "not a JPEG, PNG or WebP image or a PDF (judged by its content)")
    if content_type != PDF:
        try:
            data = strip_image(data, content_type)
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
            raise UnsupportedFile(field, f"not a readable {content_type} image: {e}") from None
    return CleanFile(safe_filename(filename, content_type), content_type, data, hashlib.sha256(data).hexdigest())
