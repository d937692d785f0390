"""A photo a resident sends: checked, and made safe to keep and pass on.

The type is read from the file's first bytes (what it is named or declared as proves
nothing), and the picture is decoded and encoded again: whatever else the file carried
goes, and so does its camera data (EXIF: the device, its serial number, the time), except
the place it was taken when the resident chose to share it on the web form. A HEIC photo
(iPhones') becomes a JPEG, which every officer's Telegram and mail client shows.

The web form refuses a file that is not a photo it can read (`clean_photo`). Telegram,
email and MMS cannot ask the resident again, so their pictures are cleaned where they can
be read and otherwise passed on as they came (`without_camera_data`): the resident was
never asked to share the place, so it goes with the rest.
"""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import PurePosixPath

import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError
from PIL.ExifTags import IFD

from channels.base import Attachment, Location

pillow_heif.register_heif_opener()

log = logging.getLogger(__name__)

# More pixels than a phone's photo has (48 megapixels at most, from the largest sensors'
# own modes): a file claiming more is refused before it is decoded, as a decompression bomb
# would be (50 megapixels decode to 150 MB).
MAX_PIXELS = 50_000_000
# HEIC's ISO base media file brands (ISO/IEC 23008-12), after `ftyp` at byte 4.
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})
_JPEG_QUALITY = 90


class PhotoKind(StrEnum):
    JPEG = "JPEG"
    PNG = "PNG"
    WEBP = "WEBP"
    HEIC = "HEIF"  # Pillow's name for the format pillow-heif opens


class PhotoProblem(StrEnum):
    """Why a photo was refused: the form's sentence `form_photo_<value>` says it."""

    TOO_LARGE = "too_large"
    WRONG_TYPE = "wrong_type"
    UNREADABLE = "unreadable"


class PhotoRefused(Exception):
    def __init__(self, problem: PhotoProblem) -> None:
        super().__init__(f"photo refused: {problem.value}")
        self.problem = problem


@dataclass(frozen=True, slots=True)
class CleanPhoto:
    attachment: Attachment
    # Where the photo says it was taken, when the resident shared it and it says so.
    location: Location | None


# What each kind is stored as: its media type and file name.
_STORED = {
    PhotoKind.JPEG: ("JPEG", "image/jpeg", "foto.jpg"),
    PhotoKind.HEIC: ("JPEG", "image/jpeg", "foto.jpg"),
    PhotoKind.PNG: ("PNG", "image/png", "foto.png"),
    PhotoKind.WEBP: ("WEBP", "image/webp", "foto.webp"),
}


def photo_kind(data: bytes) -> PhotoKind | None:
    """The kind of picture `data` starts as, by its magic bytes; None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return PhotoKind.JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PhotoKind.PNG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return PhotoKind.WEBP
    if data[4:8] == b"ftyp" and data[8:12] in _HEIC_BRANDS:
        return PhotoKind.HEIC
    return None


def clean_photo(data: bytes, *, max_bytes: int, share_location: bool) -> CleanPhoto:
    """The photo re-encoded without its camera data (its location kept only when shared);
    PhotoRefused saying why when it is too large, not a photo, or damaged. CPU-bound: run it
    off the event loop."""
    if len(data) > max_bytes:
        raise PhotoRefused(PhotoProblem.TOO_LARGE)
    kind = photo_kind(data)
    if kind is None:
        raise PhotoRefused(PhotoProblem.WRONG_TYPE)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if opened.format != kind.value:  # the bytes start as one thing and are another
                raise PhotoRefused(PhotoProblem.WRONG_TYPE)
            if opened.width * opened.height > MAX_PIXELS:
                raise PhotoRefused(PhotoProblem.TOO_LARGE)
            gps = opened.getexif().get_ifd(IFD.GPSInfo) if share_location else {}
            # Turned upright as the camera meant it, since the orientation tag goes too.
            picture = ImageOps.exif_transpose(opened)
            picture.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise PhotoRefused(PhotoProblem.UNREADABLE) from None
    encoding, content_type, filename = _STORED[kind]
    if encoding == "JPEG" and picture.mode not in ("RGB", "L"):
        picture = picture.convert("RGB")
    # Pillow writes some of what it read back by default (XMP, which phones also put the
    # place in): of the file's metadata only the colour profile stays, for true colours.
    options: dict[str, object] = {k: v for k, v in picture.info.items() if k == "icc_profile"}
    picture.info.clear()
    if encoding != "PNG":
        options["quality"] = _JPEG_QUALITY
    if gps:
        exif = Image.Exif()
        exif[IFD.GPSInfo] = gps
        options["exif"] = exif.tobytes()
    out = io.BytesIO()
    picture.save(out, encoding, **options)
    return CleanPhoto(Attachment(filename, content_type, out.getvalue()), _location(gps))


async def without_camera_data(attachment: Attachment) -> Attachment:
    """`attachment` without the camera data, place included, if it is a photo that can be
    read; otherwise as it came. Its name is kept, with the extension of what it became."""
    if photo_kind(attachment.content) is None:
        return attachment
    try:
        cleaned = await asyncio.to_thread(
            clean_photo, attachment.content, max_bytes=len(attachment.content), share_location=False
        )
    except PhotoRefused as refused:
        log.warning(
            "a picture could not be cleaned of its camera data; kept as it came",
            extra={"file": attachment.filename, "problem": refused.problem.value},
        )
        return attachment
    photo = cleaned.attachment
    stem = PurePosixPath(attachment.filename).stem or PurePosixPath(photo.filename).stem
    extension = PurePosixPath(photo.filename).suffix
    return replace(photo, filename=f"{stem}{extension}")


def _location(gps: dict[int, object]) -> Location | None:
    """The decimal latitude and longitude a GPS IFD gives, if it gives both."""
    try:
        latitude = _degrees(gps[2], gps.get(1))
        longitude = _degrees(gps[4], gps.get(3))
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    return Location(latitude=round(latitude, 6), longitude=round(longitude, 6))


def _degrees(value: object, reference: object) -> float:
    if not isinstance(value, tuple) or len(value) != 3:
        raise ValueError("not degrees, minutes, seconds")
    degrees, minutes, seconds = (float(part) for part in value)
    decimal = degrees + minutes / 60 + seconds / 3600
    return -decimal if reference in ("S", "W") else decimal
