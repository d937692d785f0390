"""Posting the web form as a browser does: the form's page first (its cookie and token);
photos as phones take them."""

from __future__ import annotations

import io
import re

import httpx
from PIL import Image
from PIL.ExifTags import GPS, IFD
from PIL.ExifTags import Base as ExifBase

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


async def post_form(
    client: httpx.AsyncClient,
    data: dict[str, str],
    path: str = "/filed",
    files: dict[str, tuple[str, bytes, str]] | None = None,
) -> httpx.Response:
    """`data` (and `files`) posted from the form page at /, with the token that page carries
    (the client keeps the cookie it is bound to)."""
    page = await client.get("/")
    token = _TOKEN.search(page.text)
    posted = {**data, **({"csrf_token": token[1]} if token else {})}
    return await client.post(path, data=posted, files=files)


# Where the test photos say they were taken: Tugu Yogyakarta, as a camera writes it.
PHOTO_LATITUDE, PHOTO_LONGITUDE = -7.782889, 110.367083
_GPS = {
    GPS.GPSLatitudeRef: "S",
    GPS.GPSLatitude: (7.0, 46.0, 58.4),
    GPS.GPSLongitudeRef: "E",
    GPS.GPSLongitude: (110.0, 22.0, 1.5),
}


# Where the photo was taken, as phones also write it in XMP.
_XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
    b'22-rdf-syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" '
    b'exif:GPSLatitude="7,46.973S" exif:GPSLongitude="110,22.025E"/></rdf:RDF></x:xmpmeta>'
)


def photo_with_location(kind: str = "JPEG", size: tuple[int, int] = (64, 48)) -> bytes:
    """A photo as a phone takes one: its camera, its serial number and where it was taken
    in its EXIF data (and, in a JPEG, the place in XMP too)."""
    picture = Image.new("RGB", size, (180, 120, 40))
    exif = Image.Exif()
    exif[ExifBase.Make] = "PhoneMaker"
    exif[ExifBase.BodySerialNumber] = "SN-0042-SECRET"
    exif[IFD.GPSInfo] = _GPS
    out = io.BytesIO()
    extra = {"xmp": _XMP} if kind == "JPEG" else {}
    picture.save(out, kind, exif=exif.tobytes(), **extra)
    return out.getvalue()


def gps_of(photo: bytes) -> dict[int, object]:
    """The GPS data a photo carries (empty when none)."""
    with Image.open(io.BytesIO(photo)) as opened:
        return dict(opened.getexif().get_ifd(IFD.GPSInfo))


def camera_traces(photo: bytes) -> list[str]:
    """What of `photo_with_location`'s camera data is still in `photo` (empty when none)."""
    traces = [
        name
        for name, mark in (("serial", b"SN-0042-SECRET"), ("make", b"PhoneMaker"))
        if mark in photo
    ]
    if b"exif:GPSLatitude" in photo:
        traces.append("place in XMP")
    if gps_of(photo):
        traces.append("place in EXIF")
    return traces
