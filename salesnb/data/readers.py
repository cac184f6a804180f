"""Read one CRM export file (CSV, text, Excel, Parquet) into a :class:`~salesnb.data.raw.RawTable`.

Encoding and separator detection, a title row above the header, truncated or ragged lines
and formula-guarded cells: each problem is reported once with file, line and fix.
"""

from __future__ import annotations

import csv
import re
import warnings
import zipfile
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from salesnb.core.errors import (
    Problem,
)
from salesnb.data.profiles import ReadOptions, TableSpec
from salesnb.data.raw import LINE, problem
from salesnb.data.schema import TABLES

_SEPARATORS = (",", ";", "\t", "|")


SUFFIXES = (".csv", ".txt", ".tsv", ".parquet", ".xlsx", ".xlsm")


_NA = [""]


#: Column :func:`_extra_fields` reads a field beyond the header's into.
_EXTRA = "__extra__"


_SKIP_RE = re.compile(r"Skipping line (\d+): expected (\d+) fields, saw (\d+)")


_SEP_HINT = re.compile(r'^\ufeff?"?sep=(.)"?\s*$', re.IGNORECASE)


#: How many lines below line 1 :func:`_find_header` looks for a header a title pushed down.
_HEADER_SCAN = 20


#: Every canonical column name, normalised: what a header row is recognised by.
_KNOWN = frozenset(c.name for cols in TABLES.values() for c in cols)


def _detect_encoding(path: Path, head: bytes, wanted: str) -> tuple[str, list[Problem]]:
    if wanted != "auto":
        return wanted, []
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig", []
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16", []
    bom_less = _utf16_without_bom(head)
    if bom_less:
        return bom_less, []
    try:
        head.decode("utf-8")
        return "utf-8", []
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the sample's end is not an encoding problem.
        if exc.start >= len(head) - 3 and exc.reason == "unexpected end of data":
            return "utf-8", []
    return _fallback_encoding(path, head)


def _fallback_encoding(path: Path, head: bytes) -> tuple[str, list[Problem]]:
    try:
        head.decode("cp1252")
        enc, label = "cp1252", "Windows-1252 (Latin-1)"
    except UnicodeDecodeError:
        enc, label = "latin-1", "Latin-1 (ISO-8859-1)"
    msg = f"The file is not UTF-8; it was read as {label}."
    fix = "Check accented names (e.g. 'José') look right; save the file as UTF-8 to be sure."
    return enc, [problem(msg, fix, path, "encoding", severity="warning")]


def _utf16_without_bom(head: bytes) -> str | None:
    """``"utf-16-le"``/``"utf-16-be"`` for UTF-16 text without a byte-order mark, else None.

    Text in a Latin script written as UTF-16 has a NUL in every other byte.
    """
    sample = head[:4096]
    if b"\x00" not in sample or len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) >= 0.6 * len(odd) and even.count(0) == 0:
        return "utf-16-le"
    if even.count(0) >= 0.6 * len(even) and odd.count(0) == 0:
        return "utf-16-be"
    return None


def _binary_problem(path: Path, head: bytes, encoding: str) -> Problem | None:
    """One ``format`` problem for a file that is not text (a workbook, Parquet, a ZIP archive).

    Read as CSV such a file gives dozens of errors about garbage; its first bytes say what
    it really is, and the fix is to give it its real suffix.
    """
    stem = path.stem
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError):
            names = []
        if any(n.startswith("xl/") for n in names):
            what = "an Excel workbook (.xlsx) saved under a text-file name"
            fix = f"Rename it to {stem + '.xlsx'!r} (salesnb reads .xlsx), or save it as CSV in Excel."
        else:
            what = "a ZIP archive, not a CSV text file"
            fix = "Unzip it and load the CSV file inside."
    elif head.startswith(b"PAR1"):
        what = "a Parquet file saved under a text-file name"
        fix = f"Rename it to {stem + '.parquet'!r} (salesnb reads Parquet)."
    elif head.startswith(b"\xd0\xcf\x11\xe0"):
        what = "an old-style Excel workbook (.xls) saved under a text-file name"
        fix = "Open it in Excel and save it as .xlsx (Excel Workbook) or as CSV."
    elif head.startswith(b"\x1f\x8b"):
        what = "gzip-compressed, not a plain text file"
        fix = "Decompress it (gunzip) and load the file inside."
    elif (
        b"\x00" in head[:4096]
        and not encoding.lower().replace("_", "-").startswith(("utf-16", "utf-32"))
        and not head.startswith((b"\xff\xfe", b"\xfe\xff"))
        and _utf16_without_bom(head) is None
    ):
        what = "binary data (it contains NUL bytes), not a CSV text file"
        fix = "Check it is the right file; export the table again as CSV, .xlsx or Parquet."
    else:
        return None
    return problem(f"The file is {what}.", fix, path, "format")


def _sniff_sep(header: str) -> str:
    counts = {s: len(re.sub(r'"[^"]*"', "", header).split(s)) - 1 for s in _SEPARATORS}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else ","


def _line_numbers(n: int, skipped: list[int], skip: int = 0) -> np.ndarray:
    """File line of each of ``n`` rows read below a header on line ``skip + 1``, with the
    (absolute) lines the reader ``skipped`` as bad."""
    lines = np.arange(n, dtype=np.int64) + 2 + skip
    for s in sorted(skipped):  # one pass per bad line, never per row
        lines[lines >= s] += 1
    return lines


def _truncated_tail(path: Path, enc: str, sep: str, n_header: int) -> Problem | None:
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fh.seek(max(0, size - 65536))
        tail = fh.read()
    if tail.endswith((b"\n", b"\r")):
        return None
    text = tail.decode(enc if enc != "utf-8-sig" else "utf-8", errors="replace")
    last = text.splitlines()[-1] if text.splitlines() else ""
    fields = next(csv.reader([last], delimiter=sep), [])
    if len(fields) >= n_header:
        return None
    with open(path, "rb") as fh:
        line_no = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b"")) + 1
    msg = (
        f"The last line is cut short: it has {len(fields)} of {n_header} fields and the file "
        f"ends mid-line ({last[-40:]!r})."
    )
    fix = "The file was truncated (an interrupted download or copy): export or copy it again."
    return problem(msg, fix, path, "truncated", rows=(line_no,))


def _norm(name: str) -> str:
    return " ".join(str(name).replace("\ufeff", "").split()).casefold()


def _header_hits(fields: list[str], known: frozenset[str]) -> int:
    return len({_norm(f) for f in fields} & known)


def _find_header(lines: list[str], sep: str, known: frozenset[str]) -> tuple[int, str] | None:
    """``(index, sep)`` of the first of ``lines`` below the first that reads as the table's
    header, when the first line does not: a report's title lines sit above it."""
    s0 = _sniff_sep(lines[0]) if sep == "auto" else sep
    base = _header_hits(next(csv.reader(lines[:1], delimiter=s0), []), known)
    if base >= 2:
        return None
    for i, line in enumerate(lines[1 : _HEADER_SCAN + 1], start=1):
        s = _sniff_sep(line) if sep == "auto" else sep
        if _header_hits(next(csv.reader([line], delimiter=s), []), known) >= max(2, base + 1):
            return i, s
    return None


def _leading_blank(lines: list[str]) -> int:
    return next((i for i, line in enumerate(lines) if line.strip()), len(lines))


def _title_problem(path: Path, lines: list[str], index: int, skip: int) -> Problem:
    above = [repr(x.strip()[:40]) for x in lines[:index] if x.strip()][:2]
    n_above = skip + index
    line = n_above + 1
    span, verb = ("line 1", "looks") if n_above == 1 else (f"lines 1-{n_above}", "look")
    msg = (
        f"The header is on line {line}, not line 1: {span} above it ({', '.join(above)}) "
        f"{verb} like a report title, not part of the table."
    )
    fix = (
        "Export the report without its title (e.g. Salesforce 'Details Only'), or delete "
        f"{span} above the header, or set skip_rows = {n_above} in the [read] options of a "
        "profile."
    )
    return problem(msg, fix, path, "header-not-first", rows=(line,))


def _read_text(
    path: Path, opts: ReadOptions, known: frozenset[str] = _KNOWN
) -> tuple[pd.DataFrame | None, dict[str, Any], list[Problem]]:
    """Read a CSV/TSV file as text cells; ``info`` holds ``sep`` and ``header_line``.

    ``known`` are normalised column names by which a header row is recognised (to tell
    a header pushed down by title lines).
    """
    info: dict[str, Any] = {"sep": ",", "header_line": 1}
    with open(path, "rb") as fh:
        head = fh.read(1 << 20)
    if not head.strip():
        msg = "The file is empty (no header, no rows)."
        fix = "Export the data again, or delete the file if the table is not needed."
        return None, info, [problem(msg, fix, path, "empty-file")]
    binary = _binary_problem(path, head, opts.encoding)
    if binary is not None:
        return None, info, [binary]
    enc, problems = _detect_encoding(path, head, opts.encoding)
    # The first lines are enough to find the header (64 KB: never cuts a UTF-16 unit).
    text = head[: 1 << 16].decode(enc, errors="replace").lstrip("\ufeff")
    lines = text.splitlines()[: _HEADER_SCAN + 2]
    skip = max(0, int(opts.skip_rows))
    lines = lines[skip:]
    sep = opts.sep
    blank = _leading_blank(lines)  # blank lines above the header say nothing: skip them
    skip, lines = skip + blank, lines[blank:]
    hint = _SEP_HINT.match(lines[0]) if lines else None
    if hint:  # Excel's "sep=;" line names the separator and is not part of the table
        sep = hint.group(1) if sep == "auto" else sep
        blank = 1 + _leading_blank(lines[1:])
        skip, lines = skip + blank, lines[blank:]
    found = _find_header(lines, sep, known) if lines and known else None
    if found is not None:
        return None, info, problems + [_title_problem(path, lines, found[0], skip)]
    header_line = lines[0] if lines else ""
    sep = sep if sep != "auto" else _sniff_sep(header_line)
    info.update(sep=sep, header_line=skip + 1)
    header = next(csv.reader([header_line], delimiter=sep), [])
    dupes = sorted({h for h in header if header.count(h) > 1 and h.strip()})
    if dupes:
        msg = f"Column {dupes[0]!r} appears more than once in the header."
        fix = "Rename or delete the repeated column so that every column name is unique."
        problems.append(
            problem(msg, fix, path, "duplicate-column", rows=(skip + 1,), column=dupes[0])
        )
        return None, info, problems
    frame, skipped = None, []
    if _fast_ok(path, opts, enc):
        frame = _read_fast(path, sep, enc, skip)
    for attempt in (enc, "cp1252") if frame is None else ():
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                frame = pd.read_csv(
                    path, sep=sep, dtype=str, keep_default_na=False, na_values=_NA,
                    encoding=attempt, skip_blank_lines=False, on_bad_lines="warn", engine="c",
                    skiprows=skip,
                )  # fmt: skip
            if not isinstance(frame.index, pd.RangeIndex):
                # The first data line has one field more than the header, and pandas took
                # the first column for an index: every value would sit one column off.
                # Read it again with a column for the extra field (its lines are refused).
                names = list(frame.columns)
                frame, skipped = _extra_fields(path, sep, attempt, skip, names, problems)
                if frame is None:
                    return None, info, problems
            else:
                skipped = _bad_lines(caught, path, sep, problems)
            break
        except UnicodeDecodeError:
            if attempt == "cp1252":
                raise
            problems += _fallback_encoding(path, b"")[1]
        except pd.errors.EmptyDataError:
            msg = "The file is empty (no header, no rows)."
            return None, info, [problem(msg, "Export the data again.", path, "empty-file")]
        except pd.errors.ParserError as exc:
            return None, info, problems + [_parser_problem(path, exc)]
    assert frame is not None
    frame.columns = [str(c).strip() for c in frame.columns]
    if LINE not in frame:
        frame[LINE] = _line_numbers(len(frame), skipped, skip)
    blank = frame.drop(columns=LINE).isna().all(axis=1)
    if blank.any():
        frame = frame.loc[~blank]
    tail = _truncated_tail(path, enc, sep, len(header)) if len(frame) else None
    if tail is not None:
        problems.append(tail)
    return frame.reset_index(drop=True), info, problems


def _extra_fields(
    path: Path, sep: str, enc: str, skip: int, names: list[str], problems: list[Problem]
) -> tuple[pd.DataFrame | None, list[int]]:
    """Read a file whose first data line has one field more than its header (pandas would
    take its first column for an index: every value one column off).

    Lines with that field too many are refused, one ``bad-line`` problem naming them all:
    an empty extra field may as well be a value split in two (``Acme, Corp``) as a separator
    ending the line, unless every line ends with one (then it is harmless and dropped).
    None when every line has a non-empty field too many: the header, not the lines, is short.
    The frame returned has its file lines in ``__line__``.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = pd.read_csv(
            path, sep=sep, dtype=str, keep_default_na=False, na_values=_NA, encoding=enc,
            skip_blank_lines=False, on_bad_lines="warn", engine="c", skiprows=skip + 1,
            header=None, names=[*names, _EXTRA], index_col=False,
        )  # fmt: skip
    skipped = _bad_lines(caught, path, sep, problems, header=len(names))
    n = len(names)
    # Which lines have n + 1 fields (the frame cannot tell an empty extra field from none).
    wide: list[int] = []
    with open(path, encoding=enc, newline="") as fh:
        for i, rec in enumerate(csv.reader(fh, delimiter=sep)):
            if i > skip and len(rec) == n + 1:
                wide.append(i + 1)
    frame[LINE] = _line_numbers(len(frame), skipped, skip)
    extra = frame.pop(_EXTRA)
    data = frame.drop(columns=LINE).notna().any(axis=1).to_numpy()
    refuse = frame[LINE].isin(wide).to_numpy()
    if refuse.sum() == data.sum() and not extra[refuse].notna().any():
        return frame, skipped  # a separator ends every line: nothing is lost
    if not refuse.any():
        return frame, skipped
    lines = frame[LINE].to_numpy()[refuse]
    if refuse.sum() == data.sum():
        msg = (
            f"Every line has {n + 1} fields but the header has {n}: the header lacks a "
            "column name, or each line ends with a value too many."
        )
        fix = "Name the last column in the header, or remove the extra separator."
    else:
        what, it = ("This line has", "it") if len(lines) == 1 else ("These lines have", "them")
        msg = f"{what} {n + 1} fields but the header has {n}: nothing was read from {it}."
        fix = (
            f"A value probably contains the separator {sep!r}: put it in double quotes, "
            "or remove the extra separator."
        )
    rows = tuple(int(x) for x in lines[:10_000])
    problems.append(problem(msg, fix, path, "bad-line", rows=rows))
    if refuse.sum() == data.sum():
        return None, skipped
    return frame.loc[~refuse], skipped


def _fast_ok(path: Path, opts: ReadOptions, enc: str) -> bool:
    """Whether the multi-threaded pyarrow reader keeps line numbers right: no blank lines."""
    if enc not in ("utf-8", "utf-8-sig") or path.stat().st_size < (1 << 20):
        return False
    prev = b""
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 23), b""):
            block = prev + chunk
            # Any blank line (even a trailing one) sends the file to the exact reader.
            if b"\n\n" in block or b"\n\r\n" in block:
                return False
            prev = chunk[-2:]
    return True


def _read_fast(path: Path, sep: str, enc: str, skip: int = 0) -> pd.DataFrame | None:
    """pyarrow's reader (several times faster); None on any trouble, so that the C reader
    runs instead and explains the problem line by line."""
    try:
        frame = pd.read_csv(
            path, sep=sep, dtype=str, keep_default_na=False, na_values=_NA,
            encoding="utf-8" if enc == "utf-8-sig" else enc, engine="pyarrow", skiprows=skip,
        )  # fmt: skip
    except Exception:  # noqa: BLE001 - any failure: the exact reader below reports it
        return None
    # A first data line with a field more than the header makes its first column an index.
    return frame if isinstance(frame.index, pd.RangeIndex) else None


def _bad_lines(
    caught, path: Path, sep: str, problems: list[Problem], header: int | None = None
) -> list[int]:
    """Lines pandas skipped for having too many fields: one ``bad-line`` problem per field
    count (one cause), with the number of lines, their line numbers and the fix."""
    skipped: list[int] = []
    by_count: dict[tuple[int, int], list[int]] = {}
    for w in caught:
        for m in _SKIP_RE.finditer(str(w.message)):
            line, want, saw = (int(g) for g in m.groups())
            want = want if header is None else header
            skipped.append(line)
            by_count.setdefault((saw, want), []).append(line)
    for (saw, want), lines in by_count.items():
        if len(lines) == 1:
            msg = f"This line has {saw} fields but the header has {want}: nothing was read from it."
        else:
            msg = (
                f"{len(lines):,} lines have {saw} fields but the header has {want}: "
                "nothing was read from them."
            )
        other = ";" if sep == "," else ","
        fix = (
            f"A value probably contains the separator {sep!r} (e.g. an address or a name "
            f"written with it): put it in double quotes, or remove the extra separator, or "
            f"export with another separator (e.g. {other!r})."
        )
        problems.append(problem(msg, fix, path, "bad-line", rows=tuple(lines[:10_000])))
    return skipped


def _parser_problem(path: Path, exc: Exception) -> Problem:
    text = str(exc)
    m = re.search(r"row (\d+)", text)
    rows = (int(m.group(1)) + 1,) if m else ()
    if "EOF inside string" in text:
        msg = "A quoted value starts here and is never closed, up to the end of the file."
        fix = 'Close the quote (") or, if the file was cut short, export or copy it again.'
    else:
        msg = f"The file cannot be parsed as CSV ({text.split('. ')[-1]})."
        fix = "Open it in a text editor to check the separator and the quotes."
    return problem(msg, fix, path, "unparseable-file", rows=rows)


def _read_parquet(path: Path) -> tuple[pd.DataFrame | None, list[Problem]]:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types; none may escape
        msg = f"The file cannot be read as Parquet ({type(exc).__name__}: {exc})."
        return None, [
            problem(msg, "Write it again, or export the table as CSV.", path, "unreadable")
        ]
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = frame.reset_index(drop=True)
    frame[LINE] = np.arange(len(frame), dtype=np.int64) + 2
    return frame, []


def _cell(v: Any) -> Any:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, np.datetime64):
        v = v.astype("datetime64[us]").item()  # any year 1-9999, unlike a pd.Timestamp
    if isinstance(v, datetime):  # formatted by itself: 9999-12-31 is out of pandas' range
        day = v.date().isoformat()
        return day if v.time() == time() else f"{day} {v.time().isoformat('seconds')}"
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip() or None


def excel_sheets(path: Path) -> dict[str, list[str]]:
    """The header row of every sheet of an ``.xlsx`` file (sheet name -> column names)."""
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        return {
            ws.title: [
                str(c).strip() for c in next(ws.iter_rows(max_row=1, values_only=True), ()) if c
            ]
            for ws in book.worksheets
        }
    finally:
        book.close()


def _read_excel(
    path: Path, sheet: str | int | None
) -> tuple[pd.DataFrame | None, dict, list[Problem]]:
    try:
        sheets = excel_sheets(path)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        msg = f"The file cannot be read as an Excel workbook ({type(exc).__name__}: {exc})."
        fix = "Open and save it as .xlsx in Excel, or export the sheet as CSV."
        return None, {}, [problem(msg, fix, path, "unreadable")]
    names = list(sheets)
    if isinstance(sheet, str) and sheet not in sheets:
        msg = f"The workbook has no sheet {sheet!r}; its sheets are {names!r}."
        return (
            None,
            sheets,
            [problem(msg, "Set sheet = ... in the profile to one of them.", path, "sheet")],
        )
    if isinstance(sheet, int) and not 0 <= sheet < len(names):
        msg = f"The workbook has no sheet number {sheet}; its sheets are {names!r}."
        return (
            None,
            sheets,
            [problem(msg, "Set sheet = ... in the profile to one of them.", path, "sheet")],
        )
    try:
        raw = pd.read_excel(path, sheet_name=sheet if sheet is not None else 0, dtype=object)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types; none may escape
        msg = f"The sheet cannot be read ({type(exc).__name__}: {exc})."
        return (
            None,
            sheets,
            [problem(msg, "Export the sheet as CSV and load that.", path, "unreadable")],
        )
    frame = pd.DataFrame(
        {str(c).strip(): pd.Series(raw[c].map(_cell), dtype="str") for c in raw.columns}
    )
    frame[LINE] = np.arange(len(frame), dtype=np.int64) + 2
    blank = frame.drop(columns=LINE).isna().all(axis=1)
    return frame.loc[~blank].reset_index(drop=True), sheets, []


def read_file(
    path: Path, spec: TableSpec
) -> tuple[pd.DataFrame | None, dict[str, Any], list[Problem]]:
    """Read one file as a raw frame: text cells for CSV and Excel, typed columns for Parquet.

    Returns ``(frame or None, info, problems)``; ``info`` holds ``sep``, ``kind``, ``sheets``
    and ``header_line`` (the file line of the header: 1 unless lines above were skipped).
    No exception escapes for a bad file: it becomes a problem naming the file.

    Examples
    --------
    >>> frame, info, problems = read_file(Path("data/sample/reps.csv"), TableSpec())  # doctest: +SKIP
    """
    suffix = path.suffix.lower()
    info: dict[str, Any] = {"sep": ",", "kind": "csv", "sheets": {}, "header_line": 1}
    try:
        if suffix == ".parquet":
            info["kind"] = "parquet"
            frame, problems = _read_parquet(path)
        elif suffix in (".xlsx", ".xlsm"):
            info["kind"] = "excel"
            frame, info["sheets"], problems = _read_excel(path, spec.sheet)
        elif suffix == ".xls":
            msg = "Old-style .xls workbooks are not supported."
            return (
                None,
                info,
                [problem(msg, "Save it as .xlsx (or CSV) and load that.", path, "format")],
            )
        else:
            known = _KNOWN | {_norm(c) for c in spec.columns}
            frame, text_info, problems = _read_text(path, spec.read, known)
            info.update(text_info)
    except PermissionError:
        msg = "The file cannot be opened: permission denied."
        fix = "Give your user read access to the file (or copy it somewhere you can read)."
        return None, info, [problem(msg, fix, path, "unreadable")]
    except (OSError, UnicodeError, LookupError) as exc:
        msg = f"The file cannot be read ({type(exc).__name__}: {exc})."
        fix = (
            "Check the file is a CSV, Parquet or .xlsx file; set encoding in the profile if needed."
        )
        return None, info, [problem(msg, fix, path, "unreadable")]
    return frame, info, problems
