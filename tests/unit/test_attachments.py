"""Attachments of progress notes (issue 14 item 5): what a file is comes from its bytes, and what is
kept of an image is its pixels: a photo with a GPS location in its EXIF comes back without any EXIF."""

from __future__ import annotations

import io

import pytest
from PIL import Image, PngImagePlugin

from cases import attachments
from cases.attachments import JPEG, PDF, PNG, WEBP, UnsupportedFile

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def gps_exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0131] = "Camera 1.0"  # Software
    if orientation:
        exif[ORIENTATION] = orientation
    gps = exif.get_ifd(GPS_IFD)
    gps[1] = "N"
    gps[2] = (32.0, 15.0, 30.0)  # 南漳 latitude
    gps[3] = "E"
    gps[4] = (111.0, 50.0, 20.0)
    return exif


def photo(fmt: str = "JPEG", size=(40, 20), **save) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format=fmt, **save)
    return out.getvalue()


def test_the_fixture_photo_does_carry_gps():
    with Image.open(io.BytesIO(photo(exif=gps_exif()))) as im:
        assert im.getexif().get_ifd(GPS_IFD)[1] == "N"


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (photo(), JPEG),
        (photo("PNG"), PNG),
        (photo("WEBP"), WEBP),
        (b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n", PDF),
        (b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 100, None),  # a Windows executable
        (b"GIF89a" + b"\x00" * 20, None),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", None),
        (b"RIFF\x00\x00\x00\x00WAVE", None),
        (b"", None),
    ],
)
def test_sniff_judges_by_content(data, kind):
    assert attachments.sniff(data) == kind


def test_a_jpeg_with_gps_exif_comes_back_without_any_exif():
    kept = attachments.clean(photo(exif=gps_exif()), "IMG_0001.jpg", "body.files[0]")
    assert kept.content_type == JPEG
    with Image.open(io.BytesIO(kept.data)) as im:
        exif = im.getexif()
        assert len(exif) == 0
        assert exif.get_ifd(GPS_IFD) == {}
        assert "exif" not in im.info and "icc_profile" not in im.info and "comment" not in im.info
        assert im.size == (40, 20)
    assert b"PhoneMaker" not in kept.data and b"Exif" not in kept.data


def test_the_orientation_is_applied_before_the_exif_goes():
    kept = attachments.clean(photo(exif=gps_exif(orientation=6)), "p.jpg", "body.files[0]")  # rotate 90° on display
    with Image.open(io.BytesIO(kept.data)) as im:
        assert im.size == (20, 40)
        assert len(im.getexif()) == 0


def test_icc_profile_and_comment_are_dropped():
    data = photo(icc_profile=b"\x00" * 128, comment=b"shot at home, 3 Zhonggu Rd")
    with Image.open(io.BytesIO(data)) as im:
        assert "comment" in im.info
    with Image.open(io.BytesIO(attachments.clean(data, "a.jpg", "f").data)) as im:
        assert "icc_profile" not in im.info and "comment" not in im.info


def test_png_text_chunks_and_exif_are_removed():
    info = PngImagePlugin.PngInfo()
    info.add_text("Location", "32.2583N 111.8389E")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>GPS</x:xmpmeta>")
    data = photo("PNG", pnginfo=info, exif=gps_exif())
    with Image.open(io.BytesIO(data)) as im:
        assert isinstance(im, PngImagePlugin.PngImageFile) and im.text["Location"]
    kept = attachments.clean(data, "map.png", "body.files[1]")
    assert kept.content_type == PNG
    with Image.open(io.BytesIO(kept.data)) as im:
        assert isinstance(im, PngImagePlugin.PngImageFile) and im.text == {}
        assert len(im.getexif()) == 0
    assert b"Location" not in kept.data and b"xmpmeta" not in kept.data


def test_webp_exif_is_removed():
    kept = attachments.clean(photo("WEBP", exif=gps_exif()), "w.webp", "body.files[0]")
    assert kept.content_type == WEBP
    with Image.open(io.BytesIO(kept.data)) as im:
        assert len(im.getexif()) == 0


def test_a_palette_png_keeps_its_look():
    out = io.BytesIO()
    Image.new("P", (8, 8), 3).save(out, format="PNG")
    with Image.open(io.BytesIO(attachments.clean(out.getvalue(), "p.png", "f").data)) as im:
        assert im.size == (8, 8)


def test_a_pdf_is_kept_as_sent_with_its_sha256():
    data = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"
    kept = attachments.clean(data, "../../etc/报告.pdf", "body.files[0]")
    assert (kept.content_type, kept.data, kept.filename) == (PDF, data, "报告.pdf")
    import hashlib

    assert kept.sha256 == hashlib.sha256(data).hexdigest()


def test_an_exe_named_jpg_is_refused_naming_the_part():
    with pytest.raises(UnsupportedFile) as e:
        attachments.clean(b"MZ\x90\x00" + b"\x00" * 200, "photo.jpg", "body.files[2]")
    assert e.value.field == "body.files[2]"


def test_a_truncated_image_is_refused():
    with pytest.raises(UnsupportedFile) as e:
        attachments.clean(photo()[:30], "cut.jpg", "body.files[0]")
    assert e.value.field == "body.files[0]"


def test_too_many_pixels_are_refused(monkeypatch):
    monkeypatch.setattr(attachments, "MAX_PIXELS", 100)
    with pytest.raises(UnsupportedFile):
        attachments.clean(photo(size=(20, 20)), "big.jpg", "body.files[0]")


@pytest.mark.parametrize(
    ("given", "kept"),
    [(None, "attachment.jpeg"), ("", "attachment.jpeg"), ("C:\\Users\\li\\a.jpg", "a.jpg"), ('x"<>\n.jpg', "x.jpg")],
)
def test_file_names_lose_directories_and_odd_characters(given, kept):
    assert attachments.safe_filename(given, JPEG) == kept
