"""The answer page as a phone shows it: headless Chromium opens a live answer link at 390x844 (a phone's
viewport), renders the task with 接受 and 婉拒, and the screenshot is a phone-sized picture with the page in
it, not a blank one. Opening the link changes nothing."""

from __future__ import annotations

import struct
import zlib
from collections import Counter

import httpx
import pytest

from tests.browser import Chromium, keep
from tests.integration.volunteers_process import (
    make_context,
    new_task,
    register,
    retire,
    service_token,
    volunteers_service,
)
from volunteers import service

GRID = "changping.liushuping.g01"
TITLE = "柳树坪村防疫宣传入户"
PHONE = (390, 844)
ACCEPT_GREEN = (0x15, 0x80, 0x3D)  # the accept button's background (api/answer_html.py)


@pytest.fixture(scope="module")
def live(stack):
    with volunteers_service(stack) as url:
        yield url


def png_pixels(data: bytes) -> tuple[int, int, list[bytes], int]:
    """(width, height, rows of raw pixel bytes, bytes per pixel) of an 8-bit RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    bpp = 3 if colour == 2 else 4
    raw, stride, rows = zlib.decompress(idat), width * bpp, []
    prev = bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, up_left = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else up_left)) & 0xFF
        rows.append(bytes(line))
        prev = bytes(line)
    return width, height, rows, bpp


async def test_headless_chromium_renders_the_answer_page_on_a_phone_screen(stack, live, tmp_path):
    browser = Chromium(tmp_path / "profile", "--hide-scrollbars", f"--window-size={PHONE[0]},{PHONE[1]}")
    ctx = await make_context(stack)
    vols = [await register(ctx, GRID, "浏览器测试")]
    try:
        async with ctx.pool.acquire() as con, con.transaction():
            task = await service.create_task(con, ctx, new_task(GRID, TITLE, urgent=True))
        assert task is not None
        offer = await ctx.pool.fetchrow("select * from offers where task_id = $1", task["id"])
        assert offer is not None, "offered to the grid's volunteer"
        r = httpx.post(
            live + "/internal/v1/contacts",
            json={"items": [{"volunteer_ref": ctx.vref(offer["volunteer_id"]), "task_id": str(task["id"])}]},
            headers={"authorization": f"Bearer {service_token(stack)}"},
            timeout=30,
        )
        url = r.json()["items"][0]["answer_url"]
        assert url, r.text

        dom = browser.run("--dump-dom", url)
        assert TITLE in dom.stdout and "接受</button>" in dom.stdout and "婉拒</button>" in dom.stdout, dom.stderr[
            -2000:
        ]
        assert "紧急" in dom.stdout and "柳树坪村第1网格" in dom.stdout

        shot = browser.screenshot(url, tmp_path / "answer-page.png")
        assert shot.exists(), "chromium wrote no screenshot"
        width, height, rows, bpp = png_pixels(shot.read_bytes())
        assert (width, height) == PHONE
        colours = Counter(row[i : i + 3] for row in rows[::4] for i in range(0, len(row), bpp * 2))
        assert len(colours) > 20, "a blank or one-colour screenshot"
        assert colours.most_common(1)[0][1] < 0.9 * sum(colours.values())
        assert bytes(ACCEPT_GREEN) in colours, "the accept button is not on the first screen"
        keep(shot, "answer-page.png")

        # opening the page, twice, answered nothing
        assert await ctx.pool.fetchval("select status from offers where id = $1", offer["id"]) == "pending"
        assert await ctx.pool.fetchval("select used_at from answer_links where offer_id = $1", offer["id"]) is None
    finally:
        await retire(ctx, [GRID], [v["id"] for v in vols])
        await ctx.pool.close()
