"""Turn raw (text) frames into typed canonical tables, collecting every problem at once.

:func:`validate` is the one entry point; the parsers (:func:`parse_dates`,
:func:`parse_numbers`) and checks are vectorised: they work on whole columns and
look at distinct bad values only to explain them, so a million-row file costs a
few column operations, not a million Python calls.

Every finding is a :class:`~salesnb.core.errors.Problem` naming the file, the file's
line numbers (header = line 1), the column as the user's file names it, and a fix.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from salesnb.core.errors import Problem
from salesnb.data.config import Config
from salesnb.data.model import as_of_dates, empty_table, far_future_cutoff, latest_date
from salesnb.data.profiles import Profile, ReadOptions, TableSpec
from salesnb.data.raw import LINE, SRC, RawTable
from salesnb.data.schema import TABLES, Column

_MAX_ROWS = 10_000
#: In-memory dtype of each column kind (as :func:`salesnb.data.model.empty_table` makes them).
_DTYPES = {"str": "str", "date": "datetime64[ns]", "float": "float64", "int": "int64"}
_NA_WORDS = {"nan", "na", "n/a", "null", "none", "#n/a", "-", "#value!"}
_CURRENCY = r"[$€£¥₹]|\b(?:USD|EUR|GBP|CAD|AUD|CHF|JPY|INR)\b"
_DATE_CANDIDATES = {
    "%Y-%m-%d": "YYYY-MM-DD",
    "%Y-%m-%d %H:%M:%S": "YYYY-MM-DD HH:MM:SS",
    "%Y-%m-%d %H:%M": "YYYY-MM-DD HH:MM",
    "%Y-%m-%dT%H:%M:%S": "YYYY-MM-DDTHH:MM:SS",
    "%m/%d/%Y": "MM/DD/YYYY",
    "%d/%m/%Y": "DD/MM/YYYY",
    "%m/%d/%y": "MM/DD/YY",
    "%d/%m/%y": "DD/MM/YY",
    "%d.%m.%Y": "DD.MM.YYYY",
    "%Y/%m/%d": "YYYY/MM/DD",
    "%d-%m-%Y": "DD-MM-YYYY",
    "%m-%d-%Y": "MM-DD-YYYY",
    "%d %b %Y": "D Mon YYYY",
    "%b %d, %Y": "Mon D, YYYY",
    "%Y%m%d": "YYYYMMDD",
    "%Y-%m": "YYYY-MM",
}
#: An ISO date with a time of day (and maybe fractions of a second and a UTC offset).
_ISO_TIME = (
    r"\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?"
    r"(?:\s?(?:Z|UTC|[+-]\d{2}(?::?\d{2})?))?"
)
_DAYFIRST = ("%d/%m/%Y", "%d/%m/%y", "%d.%m.%Y", "%d-%m-%Y")
_MONTHFIRST = ("%m/%d/%Y", "%m/%d/%y", "%m-%d-%Y")
_SWAPS = {"%m/%d/%Y": "%d/%m/%Y", "%m/%d/%y": "%d/%m/%y", "%m-%d-%Y": "%d-%m-%Y"}

# An issue found by a parser: (code, row mask, message, fix, severity).
Issue = tuple[str, np.ndarray, str, str, str]


def _label(fmt: str) -> str:
    return _DATE_CANDIDATES.get(fmt, fmt)


def _norm(name: str) -> str:
    return " ".join(str(name).replace("\ufeff", "").split()).casefold()


def _examples(values: pd.Series, n: int = 3) -> str:
    return ", ".join(repr(v) for v in pd.unique(values.dropna())[:n])


def _closest(value: str, options: list[str]) -> str:
    by_low = {o.lower(): o for o in options}
    hit = difflib.get_close_matches(str(value).lower(), list(by_low), n=1, cutoff=0.6)
    return f" Did you mean {by_low[hit[0]]!r}?" if hit else ""


# --------------------------------------------------------------------------- parsers


def parse_dates(
    values: pd.Series, opts: ReadOptions, canonical: bool = True, required: bool = False
) -> tuple[pd.Series, list[Issue]]:
    """Parse a text column into naive dates at midnight, explaining every value that fails.

    Accepts ``opts.date_formats`` (plus ISO ``YYYY-MM-DD``, which is never ambiguous);
    ``opts.dayfirst`` adds the usual day-first (or month-first) spellings. Excel serial
    numbers (e.g. ``'45321'``) are converted with a warning. Failures are classified:
    day-first, ambiguous day/month order, another known format, mixed formats, unparseable.
    Dates outside the range salesnb computes with (1677-09-22 to 2262-04-11) are refused,
    except the CRM placeholders for "no date" (9999-12-31, 0001-01-01): those are read as
    blank with a warning, or refused if the column is ``required``.

    Examples
    --------
    >>> d, issues = parse_dates(pd.Series(["2026-03-01", "25/03/2026"]), ReadOptions())
    >>> d.iloc[0], issues[0][0], issues[0][2][:40]
    (Timestamp('2026-03-01 00:00:00'), 'dayfirst-date', 'Mixed date formats: dates are written da')
    >>> d, issues = parse_dates(pd.Series(["2026-03-01", "9999-12-31"]), ReadOptions())
    >>> d.isna().tolist(), issues[0][0], issues[0][4]
    ([False, True], 'placeholder-date', 'warning')
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_localize(None)
        out = values.dt.normalize().astype("datetime64[us]")
        shown = out.dt.strftime("%Y-%m-%d")
        return _in_range(out, shown, required)
    txt = values.astype("str").str.strip()
    blank = (txt.isna() | (txt == "")).to_numpy()
    formats = list(opts.date_formats)
    if opts.dayfirst is True:
        formats += list(_DAYFIRST)
    elif opts.dayfirst is False:
        formats += list(_MONTHFIRST)
    formats += [f for f in ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S") if f not in formats]
    # Microseconds hold any year 1-9999, so that out-of-range dates are told apart below.
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us]")
    for fmt in formats:
        todo = ~blank & out.isna().to_numpy()
        if not todo.any():
            break
        if todo.all():
            out = _to_dates(txt, fmt).astype("datetime64[us]")
        else:
            out[todo] = _to_dates(txt[todo], fmt).astype("datetime64[us]")
    bad = ~blank & out.isna().to_numpy()
    if bad.any():
        # ISO date and time (1996-07-04 00:00:00.000, 2024-03-01T14:30:00Z): the day is kept.
        timed = bad & txt.str.fullmatch(_ISO_TIME, na=False).to_numpy()
        if timed.any():
            day = _to_dates(txt[timed].str.slice(0, 10), "%Y-%m-%d").astype("datetime64[us]")
            out[timed] = day
            bad = ~blank & out.isna().to_numpy()
    issues: list[Issue] = []
    if bad.any():
        issues = _explain_dates(txt, bad, out, formats, canonical, opts.date_formats)
    out, range_issues = _in_range(out.dt.normalize(), txt, required)
    return out, issues + range_issues


#: Dates CRMs and databases write for "no date": the ends of the calendar.
PLACEHOLDER_DATES = (pd.Timestamp("9999-12-31"), pd.Timestamp("0001-01-01"))


def _in_range(out: pd.Series, shown: pd.Series, required: bool) -> tuple[pd.Series, list[Issue]]:
    """``out`` (any datetime unit) as nanosecond dates; dates out of that range blanked and
    explained: one issue for placeholders, one for the other dates."""
    from salesnb.core.dates import FIRST_DAY, LAST_DAY

    far = (out.notna() & ((out < FIRST_DAY) | (out > LAST_DAY))).to_numpy()
    if not far.any():
        return out.astype("datetime64[ns]"), []
    issues: list[Issue] = []
    hold = out.isin(PLACEHOLDER_DATES).to_numpy() & far
    if hold.any():
        ex = _examples(shown[hold])
        what = "are placeholders" if shown[hold].nunique() > 1 else "is a placeholder"
        if required:
            msg = f"{ex} {what} for 'no date' (as CRMs write it), but this date is required."
            fix = "Enter the real date, or drop the row."
            issues.append(("placeholder-date", hold, msg, fix, "error"))
        else:
            msg = f"{ex} {what} for 'no date' (as CRMs write it): read as blank."
            fix = "Nothing to do if the date is not known; otherwise enter the real date."
            issues.append(("placeholder-date", hold, msg, fix, "warning"))
    other = far & ~hold
    if other.any():
        msg = (
            f"Dates out of range: {_examples(shown[other], 5)}; salesnb handles dates from "
            f"{FIRST_DAY:%Y-%m-%d} to {LAST_DAY:%Y-%m-%d}."
        )
        fix = "Correct these dates (a typo in the year?)" + (
            "." if required else ", or blank them if they are not known."
        )
        issues.append(("date-out-of-range", other, msg, fix, "error"))
    out = out.where(~far)
    return out.astype("datetime64[ns]"), issues


def _to_dates(txt: pd.Series, fmt: str) -> pd.Series:
    arr = _arrow(txt)
    if arr is not None and fmt == "%Y-%m-%d":
        import pyarrow as pa
        import pyarrow.compute as pc

        try:
            d = pc.strptime(arr, format=fmt, unit="s", error_is_null=True)
            # arrow rolls impossible days over (2024-02-30 -> 2024-03-01): a date is kept
            # only if its day is the day written (cheaper than formatting it back).
            written = pc.if_else(pc.is_valid(d), arr, "2000-01-01")
            day = pc.cast(pc.utf8_slice_codeunits(written, 8, 10), pa.int64())
            same = pc.fill_null(pc.equal(pc.day(d), day), False).to_numpy(zero_copy_only=False)
            vals = pc.cast(d, pa.timestamp("us")).to_numpy(zero_copy_only=False)
            # arrow's %Y accepts 1-digit months/days and years below 1000; keep to strict ISO.
            strict = (txt.str.len().to_numpy() == 10) & same
            return pd.Series(np.where(strict, vals, np.datetime64("NaT")), index=txt.index)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, TypeError):
            return pd.to_datetime(txt, format=fmt, errors="coerce")  # arrow differs: use pandas
    return pd.to_datetime(txt, format=fmt, errors="coerce")


def _explain_dates(
    txt: pd.Series,
    bad: np.ndarray,
    out: pd.Series,
    formats: list[str],
    canonical: bool,
    declared: tuple[str, ...] = (),
) -> list[Issue]:
    issues: list[Issue] = []
    bad_vals = txt[bad]
    num = pd.to_numeric(bad_vals, errors="coerce")
    serial = (num >= 20000) & (num <= 80000) & bad_vals.str.fullmatch(r"\d{5}(\.\d+)?")
    if serial.any():
        idx = serial[serial].index
        days = np.floor(num[idx].astype(float))
        out[idx] = pd.Timestamp("1899-12-30") + pd.to_timedelta(days, unit="D")
        first = bad_vals[idx].iloc[0]
        mask = txt.index.isin(idx)
        what = (
            "1 value is an Excel serial day number"
            if len(idx) == 1
            else f"{len(idx):,} values are Excel serial day numbers"
        )
        msg = f"{what} (e.g. {first!r}, read as {out[idx[0]].date().isoformat()})."
        fix = "Check the dates look right; format the column as dates in Excel before exporting."
        issues.append(("excel-serial-date", mask, msg, fix, "warning"))
        bad = bad & ~mask
        bad_vals = txt[bad]
    if not bad.any():
        return issues
    want = " or ".join(
        dict.fromkeys(
            _label(f) for f in formats if f not in _MONTHFIRST + _DAYFIRST or f in declared
        )
    )
    uniq = pd.Series(pd.unique(bad_vals)[:20_000])
    hits = {
        f: pd.to_datetime(uniq, format=f, errors="coerce").notna().to_numpy()
        for f in _DATE_CANDIDATES
        if f not in formats
    }
    dayfirst_only = np.zeros(len(uniq), bool)
    monthfirst_only = np.zeros(len(uniq), bool)
    both = np.zeros(len(uniq), bool)
    zeros = np.zeros(len(uniq), bool)
    for mf, df in _SWAPS.items():
        # A format already tried (e.g. the profile's month-first one) is absent from hits.
        mp, d = hits.get(mf, zeros), hits.get(df, zeros)
        dayfirst_only |= d & ~mp
        monthfirst_only |= mp & ~d
        both |= d & mp
    other = np.zeros(len(uniq), bool)
    other_fmt = {}
    for f, h in hits.items():
        if f in _SWAPS or f in _SWAPS.values():
            continue
        new = h & ~other & ~dayfirst_only & ~monthfirst_only & ~both
        for v in uniq[new]:
            other_fmt[v] = f
        other |= new
    none = ~(dayfirst_only | monthfirst_only | both | other)
    some_ok = bool(out.notna().any())
    prefix = "Mixed date formats: " if some_ok else ""
    code = "mixed-date-formats" if some_ok else "date-format"
    where_fix = (
        "or load the file through a profile"
        if canonical
        else "or change date_formats in the profile"
    )

    def rows(vals: pd.Series) -> np.ndarray:
        return bad & _isin(txt, vals)

    if dayfirst_only.any() or both.any():
        d_ex = _examples(uniq[dayfirst_only])
        if dayfirst_only.any() and monthfirst_only.any():
            m_ex = _examples(uniq[monthfirst_only])
            msg = f"{prefix}some dates are day-first ({d_ex}) and some month-first ({m_ex})."
            vals = uniq[dayfirst_only | monthfirst_only | both]
            fix = "Use one order in the whole column, best YYYY-MM-DD."
            issues.append(("mixed-date-formats", rows(vals), msg, fix, "error"))
        elif dayfirst_only.any():
            vals = uniq[dayfirst_only | both]
            msg = f"{prefix}dates are written day-first (DD/MM/YYYY, e.g. {d_ex}); expected {want}."
            fix = f"Write them as YYYY-MM-DD, {where_fix} with dayfirst = true."
            issues.append(("dayfirst-date", rows(vals), msg, fix, "error"))
        else:
            vals = uniq[both]
            msg = (
                f"{prefix}dates such as {_examples(vals)} could be day-first (DD/MM/YYYY) or "
                f"month-first (MM/DD/YYYY): no value has a day above 12 to tell; expected {want}."
            )
            fix = f"Write them as YYYY-MM-DD, {where_fix} with dayfirst = true or false."
            issues.append(("ambiguous-date", rows(vals), msg, fix, "error"))
    if monthfirst_only.any() and not dayfirst_only.any():
        vals = uniq[monthfirst_only]
        msg = f"{prefix}dates are written month-first (MM/DD/YYYY, e.g. {_examples(vals)}); expected {want}."
        fix = f"Write them as YYYY-MM-DD, {where_fix} with dayfirst = false."
        issues.append(("date-format", rows(vals), msg, fix, "error"))
    if other.any():
        vals = uniq[other]
        labels = sorted({_label(other_fmt[v]) for v in vals})
        msg = f"{prefix}dates are written as {' / '.join(labels)} (e.g. {_examples(vals)}); expected {want}."
        fix = f"Write them as YYYY-MM-DD, {where_fix} that lists their format in date_formats."
        issues.append((code, rows(vals), msg, fix, "error"))
    iso = none & uniq.str.fullmatch(r"\d{4}-\d{2}-\d{2}", na=False).to_numpy()
    if iso.any():
        vals = uniq[iso]
        msg = f"Impossible dates (no such day in the calendar): {_examples(vals, 5)}."
        fix = "Correct these dates (a date such as 2026-03-31); check the day exists in that month."
        issues.append(("bad-date", rows(vals), msg, fix, "error"))
        none &= ~iso
    if none.any():
        vals = uniq[none]
        msg = f"Unparseable dates: {_examples(vals, 5)}; expected {want}."
        fix = "Correct or blank these values (a date such as 2026-03-31), " + (
            "or load the file through a profile whose [read] date_formats lists their "
            "format (see docs/profiles.md)."
            if canonical
            else "or, if they are dates in a format of their own, add it to date_formats "
            'in the profile\'s [read] (strftime, e.g. "%d.%m.%Y %H:%M").'
        )
        issues.append(("bad-date", rows(vals), msg, fix, "error"))
    return issues


def parse_numbers(
    values: pd.Series, opts: ReadOptions, sep: str = ","
) -> tuple[pd.Series, np.ndarray, list[Issue]]:
    """Parse a text column into float64, explaining symbols and separators it cannot accept.

    Returns ``(numbers, na_word_mask, issues)``; blanks and words such as ``'NaN'`` or
    ``'N/A'`` become NaN (the mask marks the words so that a required column can quote
    them). Currency symbols and thousands separators are accepted only when ``opts``
    says so; ``decimal = "auto"`` reads decimal commas in a ``;``-separated file.

    Examples
    --------
    >>> n, _, issues = parse_numbers(pd.Series(["1,200.50", "$3"]), ReadOptions(thousands=",",
    ...     currency_symbols=True))
    >>> n.tolist(), issues
    ([1200.5, 3.0], [])
    """
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype("float64"), np.zeros(len(values), bool), []
    # A plain cast reads '12.500' as 12.5: not when '.' groups thousands or ',' is the decimal,
    # nor in a file whose separator is not ',' (a European export) until that is ruled out.
    european = (
        opts.thousands == "." or opts.decimal == "," or (opts.decimal == "auto" and sep != ",")
    )
    fast = None if european else _arrow_floats(values)
    if fast is not None:
        return fast, np.zeros(len(values), bool), []
    txt = values.astype("str").str.strip()
    blank = (txt.isna() | (txt == "")).to_numpy()
    na_word = txt.str.lower().isin(_NA_WORDS).to_numpy()
    decimal, thousands = opts.decimal, opts.thousands
    issues: list[Issue] = []
    unsure = np.zeros(len(txt), bool)
    if decimal == "auto":
        comma = sep != "," and bool(txt.str.contains(r"^-?[\d.\s]*\d,\d+$", na=False).any())
        decimal = "," if comma else "."
        if comma and thousands is None:
            thousands = "."
        elif sep != "," and thousands is None:
            # '12.000' in a ';' file with no decimal comma anywhere: 12000 or 12.0?
            dotted = txt.str.contains(".", regex=False, na=False).to_numpy()
            grouped3 = txt.str.fullmatch(r"-?\d{1,3}(?:\.\d{3})+", na=False).to_numpy()
            if grouped3.any() and not (dotted & ~grouped3).any():
                unsure = grouped3
    body = txt
    if opts.currency_symbols:
        body = body.str.replace(_CURRENCY, "", regex=True).str.strip()
        neg = body.str.fullmatch(r"\(.*\)", na=False)
        if neg.any():
            body = body.where(~neg, "-" + body.str.strip("()"))
    clean = body
    if thousands:
        # Only between groups of three digits: stripping ',' anywhere reads the European
        # '12.500,00' as 12.5 and '12,5' as 125.
        grouped = clean.str.fullmatch(_grouped(thousands, decimal), na=False)
        if grouped.any():
            clean = clean.where(~grouped, clean.str.replace(thousands, "", regex=False))
    if decimal == ",":
        # A '.' left over is neither the decimal comma nor a thousands group: refuse it.
        point = clean.str.contains(".", regex=False, na=False)
        clean = clean.str.replace(",", ".", regex=False).where(~point)
    nums = pd.to_numeric(clean.where(~(blank | na_word)), errors="coerce").astype("float64")
    bad = ~blank & ~na_word & (nums.isna().to_numpy() | ~np.isfinite(nums.fillna(0).to_numpy()))
    if bad.any():
        nums[bad] = np.nan
        issues += _explain_numbers(txt, body, bad, opts, decimal, thousands)
    if unsure.any():
        nums[unsure] = np.nan
        first = str(txt[unsure].iloc[0])
        msg = (
            f"Amounts such as {_examples(txt[unsure])} could use '.' to group thousands or as "
            f"the decimal point ({first!r} is {first.replace('.', '')} or {float(first):g}): "
            f"no value in this {sep!r}-separated file has a decimal comma or another decimal "
            "to tell."
        )
        fix = (
            "Say which in the [read] options of a profile: decimal = ',' and thousands = '.' "
            "(a European export), or decimal = '.'."
        )
        issues.append(("ambiguous-number", unsure, msg, fix, "error"))
    return nums, na_word, issues


#: Thousands-separator / decimal-mark pairs that exports use, as _explain_numbers tells them.
_GROUPINGS = (
    (",", "."), (".", ","), (" ", "."), (" ", ","), ("\u00a0", "."), ("\u00a0", ","), ("'", "."),
)  # fmt: skip


def _grouped(thousands: str, decimal: str) -> str:
    """Regex of a number grouped in thousands, e.g. ``12,500.00`` for (``','``, ``'.'``)."""
    t, d = re.escape(thousands), re.escape(decimal)
    return rf"-?\d{{1,3}}(?:{t}\d{{3}})+(?:{d}\d+)?"


def _arrow(values: pd.Series):
    arr = getattr(values.array, "_pa_array", None)
    return arr if getattr(values.dtype, "storage", None) == "pyarrow" else None


def _arrow_floats(values: pd.Series) -> pd.Series | None:
    """Plain numbers in a pyarrow-backed column, cast in one C call; None if any is not plain."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = _arrow(values)
    if arr is None:
        return None
    try:
        nums = pc.cast(arr, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    out = pd.Series(nums.to_numpy(zero_copy_only=False), index=values.index, dtype="float64")
    if (np.isnan(out.to_numpy()) != values.isna().to_numpy()).any() or np.isinf(out).any():
        return None  # "NaN" or "inf" written out: the slow path quotes them
    return out


def _explain_numbers(
    txt: pd.Series,
    body: pd.Series,
    bad: np.ndarray,
    opts: ReadOptions,
    decimal: str,
    thousands: str | None,
) -> list[Issue]:
    """Classify unreadable numbers; ``txt`` is quoted, ``body`` (symbols removed when the
    profile allows them) is classified."""
    issues: list[Issue] = []
    cur = txt.where(bad).str.contains(_CURRENCY, na=False).to_numpy() & bad
    rest = bad
    if cur.any() and not opts.currency_symbols:
        msg = f"Amounts carry currency symbols (e.g. {_examples(txt[cur])})."
        fix = (
            "Remove the symbols and keep the number, or use a profile with currency_symbols = true."
        )
        issues.append(("currency-symbol", cur, msg, fix, "error"))
        rest = bad & ~cur
    vals = body.where(rest)
    for sep, dec in _GROUPINGS:
        thou = vals.str.fullmatch(_grouped(sep, dec), na=False).to_numpy() & rest
        if not thou.any():
            continue
        ex = _examples(txt[thou])
        if thousands:
            msg = (
                f"Amounts group thousands with {sep!r} and mark decimals with {dec!r} "
                f"(e.g. {ex}), but they are read with {thousands!r} as thousands separator "
                f"and {decimal!r} as decimal mark."
            )
            fix = (
                f"Set decimal = {dec!r} and thousands = {sep!r} in the [read] options of a "
                "profile (a copy of the one used), or export plain numbers (1200.50)."
            )
        else:
            msg = f"Amounts use thousands separators (e.g. {ex})."
            fix = (
                f"Write plain numbers (1200.50), or set thousands = {sep!r} "
                f"(and decimal = {dec!r}) in a profile."
            )
        issues.append(("thousands-separator", thou, msg, fix, "error"))
        rest = rest & ~thou
        vals = vals.where(rest)
    dec = vals.str.fullmatch(r"-?\d+,\d+", na=False).to_numpy() & rest
    if dec.any() and decimal != ",":
        msg = f"Amounts use a decimal comma (e.g. {_examples(txt[dec])})."
        fix = "Use '.' as the decimal point, or set decimal = ',' in a profile."
        issues.append(("decimal-comma", dec, msg, fix, "error"))
        rest &= ~dec
    point = vals.str.fullmatch(r"-?\d*\.\d+", na=False).to_numpy() & rest
    if point.any() and decimal == ",":
        msg = (
            f"Amounts use a decimal point (e.g. {_examples(txt[point])}), but decimals are "
            "read with a decimal comma here."
        )
        fix = (
            "Write decimals as the rest of the file does (1200,50), or set decimal = '.' "
            "in a profile if the file uses decimal points."
        )
        issues.append(("decimal-point", point, msg, fix, "error"))
        rest &= ~point
    inf = rest & np.isinf(pd.to_numeric(body.where(rest), errors="coerce").to_numpy(float))
    if inf.any():
        msg = f"Not a finite number (infinite, or too large to hold): {_examples(txt[inf], 5)}."
        fix = "Write the real value, a number such as 1200.50."
        issues.append(("not-finite", inf, msg, fix, "error"))
        rest = rest & ~inf
    if rest.any():
        msg = f"Not a number: {_examples(txt[rest], 5)}."
        fix = "Write a number such as 1200.50 (no text, no units)."
        issues.append(("not-a-number", rest, msg, fix, "error"))
    return issues


# --------------------------------------------------------------------------- one table


class _Table:
    """Typing state of one table: typed columns, the user's column names, and problems."""

    def __init__(self, raw: RawTable, profile: Profile, problems: list[Problem]):
        self.raw, self.name, self.spec = raw, raw.table, raw.spec
        self.frame = raw.frame
        self.lines = raw.frame[LINE].to_numpy()
        self.srcs = (
            raw.frame[SRC].to_numpy() if SRC in raw.frame else np.zeros(len(self.lines), int)
        )
        self.profile, self.problems = profile, problems
        self.src: dict[str, str] = {}
        self.out: dict[str, pd.Series] = {}
        self.bad: dict[str, np.ndarray] = {}  # rows whose value could not be read, per column
        # id(problem) -> positions of the rows it is about (see _attribute)
        self.spans: dict[int, np.ndarray] = {}

    def col_name(self, canonical: str) -> str:
        return self.src.get(canonical, canonical)

    def emit(self, mask: Any, column: str | None, code: str, msg: str, fix: str,
             severity: str = "error", values: tuple[str, ...] = ()) -> None:  # fmt: skip
        mask = np.asarray(mask, bool)
        name = self.col_name(column) if column else None
        for i, f in enumerate(self.raw.files):
            sel = mask & (self.srcs == i) if len(self.raw.files) > 1 else mask
            if sel.any():
                rows = tuple(int(x) for x in self.lines[sel][:_MAX_ROWS])
                n = int(sel.sum())
                text = msg if n == 1 else f"{msg} ({n:,} rows)"
                problem = Problem(text, fix, f, rows, name, severity, code, values=values)
                self.problems.append(problem)
                self.spans[id(problem)] = np.flatnonzero(sel)

    def file_problem(self, code: str, msg: str, fix: str, column: str | None = None,
                     severity: str = "error") -> None:  # fmt: skip
        rows = (self.raw.header_line,)
        self.problems.append(Problem(msg, fix, self.raw.files[0], rows, column, severity, code))


def _derivable(table: str, col: str, spec: TableSpec) -> bool:
    if table == "opportunities" and col in ("outcome", "furthest_stage"):
        return True
    if table == "reps" and col == "team":
        return True
    if col in spec.generate:
        return True
    return any(f.column == col and f.when != "zero" and not f.stages for f in spec.fills)


def _map_columns(t: _Table) -> bool:
    headers = [c for c in t.frame.columns if c not in (SRC, LINE)]
    by_norm = {_norm(h): h for h in headers}
    used: set[str] = set()
    missing: list[tuple[str, str]] = []
    for col in TABLES[t.name]:
        names = t.spec.source_names(col.name)
        hit = next((by_norm[_norm(n)] for n in names if _norm(n) in by_norm), None)
        if hit is not None:
            t.src[col.name] = hit
            used.add(hit)
        elif col.required and not _derivable(t.name, col.name, t.spec):
            missing.append((col.name, names[0]))
    unused = [h for h in headers if h not in used]
    suggested: set[str] = set()
    for canonical, expected in missing:
        near = _closest(expected, unused)
        if near:
            suggested.add(near.split("'")[1])
        else:
            near = _other_sheet_hint(t, expected)
        msg = f"Required column {expected!r} is missing." + (
            f" It holds {canonical} (see docs/data-model.md)." if expected != canonical else ""
        )
        fix = (
            f"{near.strip()} Rename the column, or add it."
            if near
            else (f"Add a column {expected!r}; the file has {headers!r}.")
        )
        t.file_problem("missing-column", msg, fix, expected)
    # Names of the columns not found: a column read under another name (e.g. 'region'
    # when the profile reads 'ShipRegion' as the region) is no misspelling of anything.
    known = {n for c in TABLES[t.name] if c.name not in t.src for n in t.spec.source_names(c.name)}
    keys = {_norm(f.lookup["key"]) for f in t.spec.fills if f.lookup}
    for h in unused:
        if h in suggested or _norm(h) in keys:  # a lookup's key column is used
            continue
        others = [_norm(k) for k in known if _norm(k) != _norm(h)]
        near = difflib.get_close_matches(_norm(h), others, n=1, cutoff=0.8)
        if near:
            real = next(k for k in known if _norm(k) == near[0])
            msg = f"Column {h!r} is not used; it looks like a misspelling of {real!r}."
            t.file_problem("extra-column", msg, f"Rename it to {real!r} if that is what it holds.",
                           h, "warning")  # fmt: skip
    return not missing


def _other_sheet_hint(t: _Table, expected: str) -> str:
    if not t.raw.sheets:
        return ""
    names = list(t.raw.sheets)
    for sheet, cols in t.raw.sheets.items():
        if sheet != (t.raw.sheet or names[0]) and _norm(expected) in {_norm(c) for c in cols}:
            return (
                f"The columns are on sheet {sheet!r}, not on the first sheet {names[0]!r} "
                f"(sheets: {names!r}): set sheet = {sheet!r} in the profile, or move that sheet first."
            )
    return f"The sheet read was {names[0]!r}; the workbook's sheets are {names!r}."


def _blank_words(t: _Table, col: Column, raw: pd.Series) -> pd.Series:
    """``raw`` with the cells that read as one of ``[read] blank_values`` (``NULL``, ``N/A``,
    ``-`` ...) blank; the rows are remembered to say which word a required value was."""
    words = t.spec.read.blank_values
    if not words or not (pd.api.types.is_string_dtype(raw) or raw.dtype == object):
        return raw
    arr = _arrow(raw)
    if arr is not None:  # one C pass over a pyarrow column (a million rows: 50 ms, not 300)
        import pyarrow as pa
        import pyarrow.compute as pc

        found = pc.is_in(pc.utf8_trim_whitespace(arr), value_set=pa.array(list(words)))
        hit = pc.fill_null(found, False).to_numpy(zero_copy_only=False)
    else:
        hit = _isin(raw.astype("str").str.strip(), list(words)) & raw.notna().to_numpy()
    if not hit.any():
        return raw
    t.out[f"__naword__{col.name}"] = pd.Series(hit, index=raw.index)
    return raw.where(~hit)


def _type_columns(t: _Table) -> None:
    opts, canonical = t.spec.read, t.profile.is_canonical
    # A column feeding two fields (e.g. one date read as created and close date) is
    # explained once: its problems are reported with the first field only.
    reported: set[tuple[str, str]] = set()
    for col in TABLES[t.name]:
        if col.name not in t.src:
            continue
        raw = _strip_bom(t, col, t.frame[t.src[col.name]])
        if col.kind in ("str", "date"):
            raw = _blank_words(t, col, raw)
        if col.kind == "date":
            required = col.required and not _derivable(t.name, col.name, t.spec)
            vals, issues = parse_dates(raw, opts, canonical, required)
        elif col.kind in ("float", "int"):
            vals, na_word, issues = parse_numbers(raw, opts, t.raw.sep)
            if na_word.any():
                t.out[f"__naword__{col.name}"] = pd.Series(na_word, index=raw.index)
        else:
            vals, issues = _text(t, col, raw), []
        if col.kind in ("float", "int"):
            issues += _implausible(t, col, raw, vals)
        bad = np.zeros(len(raw), bool)
        once = (t.src[col.name], col.kind)
        seen = once in reported
        reported.add(once)
        for code, mask, msg, fix, sev in issues:
            if not seen:
                t.emit(mask, col.name, code, msg, fix, sev)
            if sev == "error":
                bad |= mask
            elif code == "placeholder-date":
                t.out[f"__placeholder__{col.name}"] = pd.Series(mask, index=raw.index)
        t.bad[col.name] = bad
        t.out[col.name] = vals


def _strip_bom(t: _Table, col: Column, raw: pd.Series) -> pd.Series:
    """``raw`` without byte-order marks (U+FEFF): one inside the file, where files were joined
    or text pasted, would stay in an id unseen. A warning names the lines."""
    if not (pd.api.types.is_string_dtype(raw) or raw.dtype == object):
        return raw
    mark = raw.astype("str").str.contains("\ufeff", regex=False, na=False).to_numpy()
    if not mark.any():
        return raw
    msg = "An invisible byte-order mark (U+FEFF) was removed from a value."
    fix = (
        "Nothing to do; it comes from joining files that each begin with one, or from pasted "
        "text: save the data again as one UTF-8 file to be clean."
    )
    t.emit(mark, col.name, "bom-in-value", msg, fix, "warning")
    return raw.astype("str").str.replace("\ufeff", "", regex=False)


#: The largest amount (any currency) and activity count a row may hold: beyond them a value
#: is a typo or a placeholder (1e308, 9.99e99), and a count would overflow when converted.
MAX_AMOUNT = 1e15
MAX_COUNT = 1e9


def _implausible(t: _Table, col: Column, raw: pd.Series, vals: pd.Series) -> list[Issue]:
    """One error for the values of a number column beyond ±:data:`MAX_AMOUNT` (amounts) or
    ±:data:`MAX_COUNT` (counts); they are blanked, so that nothing downstream sees them."""
    bound, what = (MAX_COUNT, "a count") if col.kind == "int" else (MAX_AMOUNT, "an amount")
    big = (vals.abs() > bound).to_numpy()
    if not big.any():
        return []
    vals[big] = np.nan
    msg = f"Implausible {col.name}: {_examples(raw[big], 5)} (beyond ±{bound:,.0f})."
    fix = (
        f"Correct the value (a typo or a placeholder?): {what} is a number from 0 to {bound:,.0f}."
    )
    return [("implausible-number", big, msg, fix, "error")]


def _text(t: _Table, col: Column, raw: pd.Series) -> pd.Series:
    s = raw.astype("str").str.strip()
    s = s.where(s != "")
    quoted = s.str.startswith("'", na=False)
    if quoted.any():  # undo write()'s guard against spreadsheet formulas
        s = s.where(~quoted, s.str.replace(r"^'(?='*[=+\-@\t\r])", "", regex=True))
    for mapping, report in ((t.spec.values.get(col.name), False),
                            (t.spec.corrections.get(col.name), True)):  # fmt: skip
        if not mapping:
            continue
        hit = s.isin(list(mapping)).to_numpy()
        if hit.any():
            if report:
                for old, new in mapping.items():
                    m = (s == old).fillna(False).to_numpy()
                    if m.any():
                        msg = f"{old!r} was read as {new!r}."
                        fix = "Correct the spelling in the CRM; the profile corrects it meanwhile."
                        t.emit(m, col.name, "corrected-value", msg, fix, "warning",
                               (str(old), str(new)))  # fmt: skip
            s = s.where(~hit, s.map(mapping)).replace("", np.nan)
    if col.choices:
        s = _choices(t, col, s)
    return s.astype("str")


def _isin(s: pd.Series, values: Any) -> np.ndarray:
    """``s.isin(values)`` through a hash index: pandas' own isin on arrow strings converts
    every value of a large ``values`` one by one."""
    index = pd.Index(pd.unique(pd.Series(values).dropna().astype("str")))
    return index.get_indexer(s.astype("str")) >= 0


def _map_unique(s: pd.Series, func) -> pd.Series:
    """Apply a Python function to each distinct value only, then spread the results."""
    codes, uniques = pd.factorize(s)
    mapped = np.array([func(u) for u in uniques] + [None], dtype=object)
    return pd.Series(mapped[codes], index=s.index, dtype="str")


def _choices(t: _Table, col: Column, s: pd.Series) -> pd.Series:
    norm = _map_unique(s, lambda v: re.sub(r"[\s\-]+", "_", v.strip().lower()))
    bad = (norm.notna() & ~norm.isin(col.choices)).to_numpy()
    if bad.any():
        for v in pd.unique(s[bad])[:20]:
            m = (s == v).fillna(False).to_numpy()
            msg = f"Unknown {col.name} {v!r}.{_closest(v, list(col.choices))}"
            fix = f"Use one of {list(col.choices)!r}" + (
                "." if t.profile.is_canonical else ", or map it under [values] in the profile."
            )
            t.emit(m, col.name, "unknown-value", msg, fix)
    return norm.where(~bad)


def _required(t: _Table, skip: set[str] = frozenset()) -> None:
    for col in TABLES[t.name]:
        if not col.required or col.name not in t.out or col.name in skip:
            continue
        if col.name not in t.src:  # derived: a failure is reported where it comes from
            continue
        v = t.out[col.name]
        blank = v.isna().to_numpy() & ~t.bad.get(col.name, False)
        if blank.any():
            words = t.out.get(f"__naword__{col.name}")
            if words is not None and (words.to_numpy() & blank).any():
                wm = words.to_numpy() & blank
                msg = f"No {col.name}: the value is {_examples(t.frame.loc[wm, t.src[col.name]])}."
                t.emit(wm, col.name, "nan-value", msg, f"Enter the {col.name}; it is required.")
                blank &= ~wm
            if blank.any():
                msg = f"Required value missing (blank {col.name})."
                t.emit(blank, col.name, "blank", msg, f"Fill in the {col.name}, or drop the row.")


def _duplicates(t: _Table, keys: list[str], what: str, column: str | None = None) -> None:
    if not all(k in t.out for k in keys):
        return
    if len(keys) == 1:
        df = t.out[keys[0]].to_frame()
        dup = (df.iloc[:, 0].duplicated(keep=False) & df.iloc[:, 0].notna()).to_numpy()
    else:
        df = pd.DataFrame({k: t.out[k] for k in keys})
        dup = df.duplicated(keep=False).to_numpy() & df.notna().all(axis=1).to_numpy()
    if dup.any():
        vals = df.loc[dup, keys[0]]
        ex = _examples(vals)
        verb = "appears" if vals.nunique() == 1 else "appear"
        msg = f"Duplicate {what}: {ex} {verb} more than once."
        fix = f"Keep one row per {what} (delete or merge the repeats)."
        t.emit(dup, column or keys[0], "duplicate-id", msg, fix)


def _non_negative(t: _Table, col: str) -> None:
    if col in t.out:
        neg = (t.out[col] < 0).to_numpy()
        if neg.any():
            ex = _examples(t.frame.loc[neg, t.src[col]])
            msg = f"Negative {col}: {ex}."
            fix = f"Enter the {col} as a positive number (refunds and credits do not belong here)."
            t.emit(neg, col, "negative", msg, fix)


def _unknown_ref(t: _Table, col: str, known: pd.Series, what: str, table: str, sev="error") -> None:
    if col not in t.out or known is None:
        return
    v = t.out[col]
    bad = v.notna().to_numpy() & ~_isin(v, known)
    if not bad.any():
        return
    options = sorted(set(known.dropna()))
    for val in pd.unique(v[bad])[:20]:
        m = (v == val).fillna(False).to_numpy()
        msg = f"Unknown {what} {val!r}: it is not in {table}.{_closest(val, options)}"
        fix = f"Add {val!r} to {table}, or correct the value."
        t.emit(m, col, f"unknown-{what.replace(' ', '-')}", msg, fix, sev)
    if len(pd.unique(v[bad])) > 20:
        t.emit(bad, col, "unknown-ref", f"More unknown {what} values.", "See above.", sev)


def _finish(t: _Table) -> pd.DataFrame:
    n = len(t.frame)
    data = {}
    for col in TABLES[t.name]:
        v = t.out.get(col.name)
        if v is None:
            v = pd.Series(np.nan, index=range(n), dtype=_DTYPES[col.kind])
        v = v.reset_index(drop=True)
        if col.kind == "int":
            v = v.fillna(0).round().astype("int64")
        elif v.dtype != _DTYPES[col.kind]:
            v = v.astype(_DTYPES[col.kind])
        data[col.name] = v
    # The columns are this function's own fresh Series: no need to copy them again.
    return pd.DataFrame(data, copy=False)


# --------------------------------------------------------------------------- table rules


def _stages(t: _Table, col: str, config: Config) -> None:
    if col not in t.out:
        return
    s = t.out[col]
    names = config.stages.names
    lookup = {k.casefold(): v for k, v in t.profile.stage_map.items()}
    lookup.update({n.casefold(): n for n in names})
    mapped = _map_unique(s, lambda v: lookup.get(v.casefold()))
    bad = (s.notna() & mapped.isna()).to_numpy()
    if bad.any():
        for v in pd.unique(s[bad])[:20]:
            m = (s == v).fillna(False).to_numpy()
            msg = f"Unknown stage {v!r}.{_closest(v, names + list(t.profile.stage_map))}"
            fix = (
                f"Use one of {names!r}, or map it in [stage_map] of a profile / add it to "
                "[[stages]] in salesnb.toml."
            )
            t.emit(m, col, "unknown-stage", msg, fix)
    t.out[col] = mapped.where(~pd.Series(bad, index=s.index), s).astype("str")


def _opportunities(t: _Table, config: Config) -> None:
    if "opp_id" not in t.src and t.spec.generate.get("opp_id") == "line":
        names = np.array([f.rsplit("/", 1)[-1] for f in t.raw.files])
        ids = pd.Series(names[t.srcs], dtype="str") + ":" + pd.Series(t.lines).astype("str")
        t.out["opp_id"] = ids.set_axis(t.frame.index)
        msg = "The export has no opportunity id column: ids were made from the file and line."
        fix = "Add 'Opportunity ID' (or the profile's id column) to the export for stable ids."
        t.file_problem("generated-id", msg, fix, severity="warning")
    _stages(t, "stage", config)
    kind = t.out["stage"].map(config.stages.kind_of()) if "stage" in t.out else None
    if "outcome" in t.out and kind is not None:
        clash = (t.out["outcome"].notna() & kind.notna() & (t.out["outcome"] != kind)).to_numpy()
        if clash.any():
            ex = t.frame.loc[clash, [t.src["stage"], t.src["outcome"]]].drop_duplicates().head(3)
            pairs = ", ".join(f"{a!r} with {b!r}" for a, b in ex.itertuples(index=False))
            msg = f"Outcome contradicts the stage: {pairs}."
            fix = "Make the outcome match the stage's kind (open/won/lost), or leave outcome blank."
            t.emit(clash, "outcome", "outcome-stage", msg, fix)
        t.out["outcome"] = t.out["outcome"].fillna(kind).astype("str")
    elif kind is not None:
        t.out["outcome"] = kind.astype("str")
    if kind is not None:
        # Defaults: an open deal is at its furthest stage; a won deal passed every open
        # stage; a lost deal's furthest stage is unknown unless the data says.
        default = (
            t.out["stage"].where(kind == "open").mask(kind == "won", config.stages.open_names[-1])
        )
        if "furthest_stage" in t.out:
            _stages(t, "furthest_stage", config)
            default = t.out["furthest_stage"].fillna(default)
        t.out["furthest_stage"] = default.astype("str")


def _check_opportunities(t: _Table) -> None:
    _duplicates(t, ["opp_id"], "opportunity id")
    _non_negative(t, "amount")
    o = t.out
    if "created_date" in o and "close_date" in o:
        before = (o["close_date"] < o["created_date"]).to_numpy()
        if before.any():
            cols = [t.src["created_date"], t.src["close_date"]]
            ex = t.frame.loc[before, cols].head(1).itertuples(index=False)
            a, b = next(ex)
            msg = f"Close date is before the created date (e.g. closed {b!r}, created {a!r})."
            fix = "Correct either date; a deal cannot close before it was created."
            t.emit(before, "close_date", "close-before-created", msg, fix)
    if "close_date" in o and "outcome" in o:
        no_close = (o["outcome"].isin(["won", "lost"]) & o["close_date"].isna()).to_numpy()
        no_close = no_close & ~t.bad.get("close_date", False)
        held = o.get("__placeholder__close_date")
        if held is not None and (no_close & held.to_numpy()).any():
            m = no_close & held.to_numpy()
            ex = _examples(t.frame.loc[m, t.src["close_date"]])
            msg = f"A won or lost deal has the placeholder close date {ex} ('no date')."
            t.emit(m, "close_date", "blank", msg, "Enter the date the deal closed.")
            no_close &= ~m
        if no_close.any():
            msg = "A won or lost deal has no close date."
            t.emit(no_close, "close_date", "blank", msg, "Enter the date the deal closed.")


def _targets(t: _Table, reps: pd.DataFrame | None) -> None:
    o = t.out
    rep = o.get("rep_id", pd.Series(np.nan, index=t.frame.index, dtype="str"))
    reg = o.get("region", pd.Series(np.nan, index=t.frame.index, dtype="str"))
    both, neither = (rep.notna() & reg.notna()).to_numpy(), (rep.isna() & reg.isna()).to_numpy()
    for m, what in ((both, "both a rep_id and a region"), (neither, "neither rep_id nor region")):
        if m.any():
            fix = "Give each target row exactly one of rep_id (a rep target) or region."
            t.emit(m, "rep_id", "target-owner", f"A target row has {what}.", fix)
    if "month" in o:
        month = o["month"]
        off = (month.notna() & (month.dt.day != 1)).to_numpy()
        if off.any():
            msg = "A target month is not the first day of a month; it was moved to the 1st."
            fix = "Write months as YYYY-MM or the month's first day (YYYY-MM-01)."
            t.emit(off, "month", "month-start", msg, fix, "warning")
        o["month"] = month.dt.to_period("M").dt.to_timestamp()
    _non_negative(t, "amount")
    if reps is not None:
        _unknown_ref(t, "rep_id", reps["rep_id"], "rep", "reps")
        _unknown_ref(t, "region", reps["region"], "region", "reps (column region)")
    key = pd.Series(rep.fillna("") + "|" + reg.fillna(""), index=t.frame.index)
    o["__key__"] = key
    _duplicates(t, ["__key__", "month"], "target (same rep or region and month)", "month")


def _activities(t: _Table) -> None:
    _non_negative(t, "count")
    if "count" in t.out:
        c = t.out["count"]
        frac = (c.notna() & (c != np.floor(c))).to_numpy()
        if frac.any():
            msg = f"Activity counts must be whole numbers: {_examples(t.frame.loc[frac, t.src['count']])}."
            t.emit(frac, "count", "not-integer", msg, "Write counts as 0, 1, 2 ...")


# --------------------------------------------------------------------------- validate


def validate(
    raws: dict[str, RawTable],
    profile: Profile,
    config: Config,
    *,
    lookups: dict[str, RawTable] | None = None,
    source: str = "",
) -> tuple[dict[str, pd.DataFrame], Config, list[Problem]]:
    """Type and check every raw table; derive what the profile says to derive.

    Parameters
    ----------
    raws : dict of RawTable
        Tables as read by :func:`salesnb.data.io.read_tables` (absent tables omitted).
    profile : Profile
        Column, stage and value mappings, fills and derivations.
    config : Config
        Stage catalogue and as-of date; the profile's ``as_of = "latest"`` fills it in.
    lookups : dict of RawTable, optional
        Side files the profile's fills look values up in.

    Returns
    -------
    tables, config, problems
        Typed canonical tables (absent ones empty), the config with ``as_of`` resolved,
        and every problem (errors and warnings) found.

    Examples
    --------
    >>> tables, cfg, problems = validate(raws, load_profile("canonical"), cfg)  # doctest: +SKIP
    """
    from salesnb.data.profiles import (
        EARLY_FILLS,
        apply_fills,
        derive_reps,
        derive_targets,
        warn_blanks,
    )

    problems: list[Problem] = []
    typed: dict[str, _Table] = {}
    for name in ("reps", "opportunities", "targets", "activities", "snapshots"):
        raw = raws.get(name)
        if raw is None:
            continue
        t = _Table(raw, profile, problems)
        if _map_columns(t):
            _type_columns(t)
            typed[name] = t
    opp = typed.get("opportunities")
    for t in typed.values():  # a filled stage derives the outcome as a read one does
        apply_fills(t, lookups or {}, None, columns=EARLY_FILLS)
    if opp is not None:
        _opportunities(opp, config)
    as_of = config.as_of
    if as_of is None and profile.as_of in (None, "", "latest"):
        _warn_far_future(typed)  # the as-of date is inferred from the data
    if as_of is None and profile.as_of:
        as_of = _latest(typed) if profile.as_of == "latest" else pd.Timestamp(profile.as_of)
        config = replace(config, as_of=as_of)
    fill_as_of = as_of if as_of is not None else _latest(typed)
    for name, t in typed.items():
        if name == "snapshots":
            _stages(t, "stage", config)  # before fills restricted to stages
        apply_fills(t, lookups or {}, fill_as_of, skip=EARLY_FILLS)
    if opp is not None:
        warn_blanks(opp)
        _required(opp)
        _check_opportunities(opp)
    tables = {name: _finish(t) for name, t in typed.items() if name != "targets"}
    reps_t = typed.get("reps")
    if reps_t is not None:
        _required(reps_t, {"team"})
        _duplicates(reps_t, ["rep_id"], "rep id")
        tables["reps"] = _finish(reps_t)
        tables["reps"]["team"] = tables["reps"]["team"].fillna(tables["reps"]["region"])
    elif opp is not None and profile.tables["reps"].derive == "owners":
        tables["reps"] = derive_reps(
            tables["opportunities"], profile.tables["reps"], opp, problems, lookups, fill_as_of
        )
    reps = tables.get("reps")
    if opp is not None and reps is not None:
        _unknown_ref(opp, "rep_id", reps["rep_id"], "rep", "reps")
    for name, t in typed.items():
        if name == "targets":
            _targets(t, reps)
            _required(t)
            tables["targets"] = _finish(t)
        elif name == "activities":
            _required(t)
            _activities(t)
            if reps is not None:
                _unknown_ref(t, "rep_id", reps["rep_id"], "rep", "reps")
            _duplicates(t, ["rep_id", "date", "type"], "activity (same rep, date and type)")
            tables["activities"] = _finish(t)
        elif name == "snapshots":
            _required(t)
            _non_negative(t, "amount")
            _duplicates(t, ["opp_id", "as_of"], "snapshot (same opportunity and as_of)")
            if opp is not None:
                known = tables["opportunities"]["opp_id"]
                _unknown_ref(t, "opp_id", known, "opportunity", "opportunities", "warning")
            tables["snapshots"] = _finish(t)
    if opp is not None:
        from salesnb.data.stagehistory import derive_furthest

        derive_furthest(tables, opp, raws.get("stage_history"), profile, config, problems)
    if (
        "targets" not in raws
        and profile.tables["targets"].derive == "history"
        and "opportunities" in tables
        and reps is not None
    ):
        tables["targets"] = derive_targets(
            tables["opportunities"], reps, profile.tables["targets"], config,
            as_of if as_of is not None else _latest(typed), problems,
        )  # fmt: skip
    for name in TABLES:
        if name not in tables:
            tables[name] = empty_table(name)
    if reps is not None and "opportunities" in typed:
        _reps_without_data(tables, reps_t or opp, problems)
    if reps is not None and "targets" in typed:
        _reps_without_target(tables, reps_t, typed["targets"], problems)
    _attribute(problems, typed, tables)
    return tables, config, problems


def _latest(typed: dict[str, _Table]) -> pd.Timestamp:
    """The latest date the data holds (deals created, deals closed, snapshots, activities),
    dates far in the future of all the others left out (:func:`_warn_far_future`)."""
    return latest_date([d for _, _, d in _as_of_dates(typed)])


def _as_of_dates(typed: dict[str, _Table]) -> list:
    outs = {name: t.out for name, t in typed.items()}
    return as_of_dates(outs.get("opportunities"), outs.get("activities"), outs.get("snapshots"))


def _warn_far_future(typed: dict[str, _Table]) -> None:
    """Warn about dates far in the future of the rest of the data (a typo such as 2099 for
    2024): they are left out when the as-of date is inferred, or every deal would be past due."""
    dates = _as_of_dates(typed)
    cutoff = far_future_cutoff([d for _, _, d in dates])
    if cutoff is None:
        return
    as_of = latest_date([d for _, _, d in dates])
    for table, col, d in dates:
        far = (d >= cutoff).to_numpy()
        if far.any():
            t = typed[table]
            ex = _examples(t.frame.loc[far, t.src[col]])
            msg = (
                f"A date far in the future of the rest of the data ({ex}: more than a year "
                f"after every other date) was left out of the data's as-of date, "
                f"{as_of:%Y-%m-%d}."
            )
            fix = (
                "Correct the date if it is a typo; if the data does reach that far, set its "
                "as-of date (as_of = YYYY-MM-DD in salesnb.toml)."
            )
            t.emit(far, col, "far-future-date", msg, fix, "warning")


def _reps_without_data(tables: dict[str, pd.DataFrame], t: _Table, problems: list[Problem]) -> None:
    reps = tables["reps"]
    active = set(tables["opportunities"]["rep_id"].unique())
    active |= set(tables["activities"]["rep_id"].unique())
    idle = reps.loc[~reps["rep_id"].isin(active), "rep_id"]
    if len(idle):
        rows = ()
        file = None
        if t is not None and t.name == "reps":
            pos = np.flatnonzero(~reps["rep_id"].isin(active).to_numpy())
            rows, file = tuple(int(x) for x in t.lines[pos]), t.raw.files[0]
        who = "1 rep has" if len(idle) == 1 else f"{len(idle)} reps have"
        msg = f"{who} no opportunities and no activities: {list(idle)!r}."
        fix = "Nothing to do if they are new or have left; otherwise check their deals' rep_id."
        problems.append(Problem(msg, fix, file, rows, None, "warning", "rep-without-data",
                                tuple(idle)))  # fmt: skip


def _reps_without_target(
    tables: dict[str, pd.DataFrame], reps_t: _Table | None, targets: _Table, problems: list[Problem]
) -> None:
    """Warn about reps that a targets file leaves out: no row of theirs, none for their region.

    Their attainment would otherwise be blank without a word. Nothing is said when there
    is no targets file at all (a team without targets), when targets were derived, or
    for reps with no data at all (see :func:`_reps_without_data`).
    """
    reps, t = tables["reps"], tables["targets"]
    covered = reps["rep_id"].isin(t["rep_id"].dropna().unique()) | reps["region"].isin(
        t.loc[t["rep_id"].isna(), "region"].dropna().unique()
    )
    # A rep with no deals and no activities is already reported (rep-without-data).
    active = reps["rep_id"].isin(tables["opportunities"]["rep_id"].unique()) | reps["rep_id"].isin(
        tables["activities"]["rep_id"].unique()
    )
    missing = (~covered & active).to_numpy()
    if not missing.any():
        return
    ids = reps.loc[missing, "rep_id"].tolist()
    rows: tuple[int, ...] = ()
    file = None
    if reps_t is not None and len(reps_t.lines) == len(reps):
        rows, file = tuple(int(x) for x in reps_t.lines[missing]), reps_t.raw.files[0]
    target_file = Path(targets.raw.files[0]).name
    shown = ids[:20] + (["..."] if len(ids) > 20 else [])
    who = "1 rep has" if len(ids) == 1 else f"{len(ids):,} reps have"
    msg = (
        f"{who} no target in {target_file} (no row of their own, none for their region): "
        f"{shown!r}; their attainment is left blank."
    )
    fix = (
        f"Add a row for each of them (or for their region) to {target_file}; nothing to do "
        "if they are not meant to have a target."
    )
    problems.append(Problem(msg, fix, file, rows, None, "warning", "rep-without-target",
                            tuple(ids)))  # fmt: skip


def _attribute(
    problems: list[Problem], typed: dict[str, _Table], tables: dict[str, pd.DataFrame]
) -> None:
    """Set each row problem's ``reps``: the rep ids of the rows it is about (privacy).

    A rep's document shows other reps' problems only as a count, so a message quoting
    another rep's value (an account as the export wrote it, say) never reaches it.
    Unknown owners are kept as written, blank ones as ``""``.
    """
    owners: dict[str, np.ndarray] = {}
    opp_rep = None
    if "opportunities" in tables:
        o = tables["opportunities"]
        opp_rep = pd.Series(o["rep_id"].to_numpy(), index=o["opp_id"].to_numpy())
        opp_rep = opp_rep[~opp_rep.index.duplicated()]
    for name, t in typed.items():
        if not t.spans or name not in tables or "rep_id" not in tables[name]:
            continue
        rep = tables[name]["rep_id"]
        if name == "snapshots" and opp_rep is not None:
            rep = rep.fillna(tables[name]["opp_id"].map(opp_rep))
        if len(rep) == len(t.lines):
            owners[name] = rep.fillna("").astype("str").to_numpy(dtype=object)
    for i, p in enumerate(problems):
        for name, t in typed.items():
            pos = t.spans.get(id(p))
            if pos is not None and name in owners:
                problems[i] = replace(p, reps=tuple(sorted(set(owners[name][pos]))))
                break
