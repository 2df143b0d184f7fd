"""Redaction of phone and ID numbers from text the public reads (Open311).

Residents write their own or a neighbour's number into a description
("联系电话13812341234"); the public feed must not repeat it. Digits may be
half- or full-width (\\d matches both), with spaces or hyphens between groups.
A number inside a longer run of digits is left alone, so that an 18-digit ID
is not cut into a phone number and a remainder.
"""

from __future__ import annotations

import re

PHONE_MARK = "〔电话已隐去〕"
ID_MARK = "〔身份证号已隐去〕"

_SEP = r"[ \-－]?"
_ONE, _ZERO, _NOT_ZERO = "[1１]", "[0０]", "[1-9１-９]"
# resident ID: 18 characters (the last may be X) or the old 15 digits
_ID = re.compile(r"(?<!\d)(?:\d{6}" + _SEP + r"\d{8}" + _SEP + r"\d{3}[\dXxＸｘ]|\d{15})(?![\dXxＸｘ])")
# mainland mobile: 1[3-9]x xxxx xxxx, optionally after +86 / 0086 / 86
_MOBILE = re.compile(
    r"(?<!\d)(?:(?:\+|＋|00)?86" + _SEP + r")?" + _ONE + "[3-9３-９]" + r"\d" + _SEP + r"\d{4}" + _SEP + r"\d{4}(?!\d)"
)
# landline with its area code: 0xx(x) then 7 or 8 digits, the code perhaps in brackets
_LANDLINE = re.compile(
    r"(?<!\d)(?:[(（]" + _ZERO + r"\d{2,3}[)）]|" + _ZERO + r"\d{2,3})" + _SEP + _NOT_ZERO + r"\d{6,7}(?!\d)"
)


def redact(text: str | None) -> str | None:
    if not text:
        return text
    text = _ID.sub(ID_MARK, text)
    text = _MOBILE.sub(PHONE_MARK, text)
    return _LANDLINE.sub(PHONE_MARK, text)
