"""Reading an uploaded volunteer list (批量导入): which format it is, and its header and rows.

- CSV: UTF-8 (with or without BOM) or, when the bytes are not strictly UTF-8, GB18030 (a superset of GBK and
  GB2312: what Excel on a Chinese Windows saves as "CSV").
- XLSX: the first sheet of the workbook, read with openpyxl in read-only mode; rows are numbered as the sheet
  numbers them.

The format comes from the magic bytes first (an XLSX is a ZIP file: PK\\x03\\x04; an Excel 97-2003 .xls is an
OLE2 file and is refused), then the content type, then the file name. The header is the first row that names a
known column among the first few non-blank ones (a title row above it, as offices like to put, is skipped).
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, time
from enum import StrEnum
from typing import Literal

import openpyxl

from volunteers import import_labels

Lang = Literal["en", "zh"]
Records = Iterator[tuple[int, list[str]]]

MAX_BYTES = 2 * 1024 * 1024
MAX_UNZIPPED = 32 * 1024 * 1024  # an XLSX of 2 MiB unpacks to far less; more is a ZIP bomb
MAX_COLUMNS = 40  # of a sheet's rows; the header has at most a dozen
MAX_DATA_ROWS = 5000  # registry_import.MAX_ROWS: one more is read, so that the parser can refuse the file
HEADER_SEARCH = 5  # non-blank rows looked at for the header

XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# what browsers and clients call a CSV file (a Windows browser with Excel installed says application/vnd.ms-excel)
CSV_MEDIA = ("text/csv", "text/plain", "application/csv", "application/vnd.ms-excel")
GENERIC_MEDIA = ("", "application/octet-stream")
CHARSETS = ("utf-8", "utf8", "gbk", "gb2312", "gb18030")
ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class Format(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


class FileError(Exception):
    """The file as a whole is refused (too large, not readable, bad header); `status` is the HTTP status the
    import route answers (api/import_routes.py), `zh` the message in Chinese."""

    def __init__(self, status: int, field: str, message: str, zh: str = ""):
        super().__init__(f"{field}: {message}")
        self.status, self.field, self.message, self.zh = status, field, message, zh or message
        self.lang: Lang | None = None  # the language of the file's headers, once known

    def text(self, lang: Lang) -> str:
        return self.zh if lang == "zh" else self.message


def detect(content_type: str, filename: str | None, head: bytes) -> Format:
    """The upload's format from its first bytes, its media type (parameters allowed) and its file name."""
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    name = (filename or "").lower()
    if head.startswith(ZIP_MAGIC):
        return Format.XLSX
    if head.startswith(OLE2_MAGIC) or name.endswith(".xls"):
        raise FileError(
            415,
            "file",
            f"{filename or 'the upload'} is an Excel 97-2003 workbook (.xls); save it as .xlsx or as CSV",
            f"{filename or '上传的文件'}是 Excel 97-2003 格式（.xls），请另存为 .xlsx 或 CSV 后再导入",
        )
    if media == XLSX_MEDIA or (media in GENERIC_MEDIA and name.endswith(".xlsx")):
        return Format.XLSX
    if media in CSV_MEDIA or (media in GENERIC_MEDIA and (not name or name.endswith((".csv", ".txt")))):
        for param in params.split(";"):
            key, _, value = param.partition("=")
            charset = value.strip().strip('"').lower()
            if key.strip().lower() == "charset" and charset not in CHARSETS:
                raise FileError(
                    415,
                    "content-type",
                    f"charset {charset} is not supported; send UTF-8 or GBK (GB18030)",
                    f"不支持 {charset} 编码；请用 UTF-8 或 GBK（GB18030）",
                )
        return Format.CSV
    raise FileError(
        415,
        "content-type",
        f"send Content-Type: text/csv (UTF-8 or GBK) or {XLSX_MEDIA}, not {content_type or 'nothing'}",
        f"请上传 CSV（text/csv，UTF-8 或 GBK 编码）或 Excel（.xlsx）文件，而不是 {content_type or '未知类型'}",
    )


def decode(data: bytes) -> str:
    """The text of a CSV file: UTF-8 (a BOM is dropped) if it is strictly UTF-8, else GB18030."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileError(
            422,
            "body",
            "UTF-16 text; save the file as CSV (UTF-8) or CSV (GBK)",
            "文件是 UTF-16 编码；请另存为“CSV UTF-8（逗号分隔）”或“CSV（逗号分隔）”",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as e:
        raise FileError(
            422,
            "body",
            f"not UTF-8 or GB18030 (GBK) text (byte {e.start})",
            f"既不是 UTF-8 也不是 GBK（GB18030）编码的文本（第 {e.start} 字节）",
        ) from None


def _trimmed(cells: list[str]) -> list[str]:
    end = len(cells)
    while end and not cells[end - 1].strip():
        end -= 1
    return cells[:end]


def _split_header(rows: Records) -> tuple[list[str], Records]:
    """The header row (the first naming a known column among the first non-blank rows, else the first
    non-blank row) and the rows after it."""
    seen: list[tuple[int, list[str]]] = []
    for line, cells in rows:
        if not any(c.strip() for c in cells):
            continue
        seen.append((line, cells))
        if any(import_labels.column_of(c) for c in cells) or len(seen) == HEADER_SEARCH:
            break
    if not seen:
        return [], iter(())
    at = next((i for i, (_, cells) in enumerate(seen) if any(import_labels.column_of(c) for c in cells)), 0)

    def rest() -> Records:
        yield from seen[at + 1 :]
        yield from rows

    return _trimmed(seen[at][1]), rest()


def read_csv(text: str) -> tuple[list[str], Records]:
    """The header and the data rows of CSV text, each with its physical line number (blank lines and quoted
    line breaks count)."""
    reader = csv.reader(io.StringIO(text, newline=""))

    def rows() -> Records:
        try:
            while True:
                line = reader.line_num + 1
                cells = next(reader, None)
                if cells is None:
                    return
                yield line, cells
        except csv.Error as e:
            raise FileError(
                422,
                "body",
                f"line {reader.line_num}: not valid CSV ({e})",
                f"第 {reader.line_num} 行不是有效的 CSV（{e}）",
            ) from None

    return _split_header(rows())


def cell_text(value: object) -> str:
    """A cell's value as the text a CSV file would hold: 13912345678.0 -> "13912345678", a time -> "08:00"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _broken(filename: str | None, e: BaseException) -> FileError:
    name = filename or "the upload"
    return FileError(
        422,
        "file",
        f"{name} is not a readable XLSX workbook ({type(e).__name__}); open it in Excel or WPS and save it "
        "again as .xlsx",
        f"{filename or '上传的文件'}不是可以读取的 XLSX 工作簿（{type(e).__name__}）；"
        "请用 Excel 或 WPS 打开后另存为 .xlsx",
    )


def read_xlsx(data: bytes, filename: str | None = None) -> tuple[list[str], Records]:
    """The header and the data rows of the workbook's first sheet, each with its row number; raises FileError
    (422, naming the file) for anything that is not a readable workbook."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unzipped = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise _broken(filename, e) from None
    if unzipped > MAX_UNZIPPED:
        raise FileError(
            413,
            "file",
            f"{filename or 'the upload'} unpacks to {unzipped} bytes; at most {MAX_UNZIPPED}",
            f"{filename or '上传的文件'}解压后有 {unzipped} 字节，最多 {MAX_UNZIPPED} 字节",
        )
    rows: list[tuple[int, list[str]]] = []
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            if not book.worksheets:
                raise ValueError("no worksheet")
            sheet = book.worksheets[0]
            sheet.reset_dimensions()  # some writers record wrong dimensions; read what is there
            data_rows = 0
            for number, values in enumerate(sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True), start=1):
                cells = _trimmed([cell_text(v) for v in values])
                if not cells:
                    continue
                rows.append((number, cells))
                data_rows += 1
                if data_rows > MAX_DATA_ROWS + HEADER_SEARCH:  # enough for the parser to refuse the file
                    break
        finally:
            book.close()
    except FileError:
        raise
    except Exception as e:  # openpyxl raises whatever its ZIP and XML readers raise on a damaged file
        raise _broken(filename, e) from None
    return _split_header(iter(rows))


def read_table(data: bytes, kind: Format, filename: str | None = None) -> tuple[list[str], Records]:
    """The header and data rows of an upload of the given format; raises FileError for the file."""
    if len(data) > MAX_BYTES:
        raise FileError(
            413,
            "body",
            f"{len(data)} bytes; at most {MAX_BYTES} (2 MiB) per file",
            f"文件有 {len(data)} 字节，每个文件最多 {MAX_BYTES} 字节（2 MiB）",
        )
    if kind is Format.XLSX:
        return read_xlsx(data, filename)
    return read_csv(decode(data))
