"""Parse the text cells of a CRM export: dates and numbers, with every problem explained.

:func:`parse_dates` and :func:`parse_numbers` find the one format a column is written in
(day-first or month-first dates, thousands and decimal marks, currency symbols) and say, for
the cells that do not fit, what they hold and how to fix them. Used by validation, import
profiles and stage history alike.
"""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # profiles uses these parsers for its fills
    from salesnb.data.profiles import ReadOptions

MAX_ROWS = 10_000


#: In-memory dtype of each column kind (as :func:`salesnb.data.model.empty_table` makes them).
DTYPES = {"str": "str", "date": "datetime64[ns]", "float": "float64", "int": "int64"}


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


def norm_name(name: str) -> str:
    return " ".join(str(name).replace("\ufeff", "").split()).casefold()


def examples(values: pd.Series, n: int = 3) -> str:
    return ", ".join(repr(v) for v in pd.unique(values.dropna())[:n])


def closest(value: str, options: list[str]) -> str:
    by_low = {o.lower(): o for o in options}
    hit = difflib.get_close_matches(str(value).lower(), list(by_low), n=1, cutoff=0.6)
    return f" Did you mean {by_low[hit[0]]!r}?" if hit else ""


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
    >>> from salesnb.data.profiles import ReadOptions
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
        ex = examples(shown[hold])
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
            f"Dates out of range: {examples(shown[other], 5)}; salesnb handles dates from "
            f"{FIRST_DAY:%Y-%m-%d} to {LAST_DAY:%Y-%m-%d}."
        )
        fix = "Correct these dates (a typo in the year?)" + (
            "." if required else ", or blank them if they are not known."
        )
        issues.append(("date-out-of-range", other, msg, fix, "error"))
    out = out.where(~far)
    return out.astype("datetime64[ns]"), issues


def _to_dates(txt: pd.Series, fmt: str) -> pd.Series:
    arr = arrow_array(txt)
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
        return bad & isin_values(txt, vals)

    if dayfirst_only.any() or both.any():
        d_ex = examples(uniq[dayfirst_only])
        if dayfirst_only.any() and monthfirst_only.any():
            m_ex = examples(uniq[monthfirst_only])
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
                f"{prefix}dates such as {examples(vals)} could be day-first (DD/MM/YYYY) or "
                f"month-first (MM/DD/YYYY): no value has a day above 12 to tell; expected {want}."
            )
            fix = f"Write them as YYYY-MM-DD, {where_fix} with dayfirst = true or false."
            issues.append(("ambiguous-date", rows(vals), msg, fix, "error"))
    if monthfirst_only.any() and not dayfirst_only.any():
        vals = uniq[monthfirst_only]
        msg = f"{prefix}dates are written month-first (MM/DD/YYYY, e.g. {examples(vals)}); expected {want}."
        fix = f"Write them as YYYY-MM-DD, {where_fix} with dayfirst = false."
        issues.append(("date-format", rows(vals), msg, fix, "error"))
    if other.any():
        vals = uniq[other]
        labels = sorted({_label(other_fmt[v]) for v in vals})
        msg = f"{prefix}dates are written as {' / '.join(labels)} (e.g. {examples(vals)}); expected {want}."
        fix = f"Write them as YYYY-MM-DD, {where_fix} that lists their format in date_formats."
        issues.append((code, rows(vals), msg, fix, "error"))
    iso = none & uniq.str.fullmatch(r"\d{4}-\d{2}-\d{2}", na=False).to_numpy()
    if iso.any():
        vals = uniq[iso]
        msg = f"Impossible dates (no such day in the calendar): {examples(vals, 5)}."
        fix = "Correct these dates (a date such as 2026-03-31); check the day exists in that month."
        issues.append(("bad-date", rows(vals), msg, fix, "error"))
        none &= ~iso
    if none.any():
        vals = uniq[none]
        msg = f"Unparseable dates: {examples(vals, 5)}; expected {want}."
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
    >>> from salesnb.data.profiles import ReadOptions
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
            f"Amounts such as {examples(txt[unsure])} could use '.' to group thousands or as "
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


def arrow_array(values: pd.Series):
    arr = getattr(values.array, "_pa_array", None)
    return arr if getattr(values.dtype, "storage", None) == "pyarrow" else None


def _arrow_floats(values: pd.Series) -> pd.Series | None:
    """Plain numbers in a pyarrow-backed column, cast in one C call; None if any is not plain."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = arrow_array(values)
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
        msg = f"Amounts carry currency symbols (e.g. {examples(txt[cur])})."
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
        ex = examples(txt[thou])
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
        msg = f"Amounts use a decimal comma (e.g. {examples(txt[dec])})."
        fix = "Use '.' as the decimal point, or set decimal = ',' in a profile."
        issues.append(("decimal-comma", dec, msg, fix, "error"))
        rest &= ~dec
    point = vals.str.fullmatch(r"-?\d*\.\d+", na=False).to_numpy() & rest
    if point.any() and decimal == ",":
        msg = (
            f"Amounts use a decimal point (e.g. {examples(txt[point])}), but decimals are "
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
        msg = f"Not a finite number (infinite, or too large to hold): {examples(txt[inf], 5)}."
        fix = "Write the real value, a number such as 1200.50."
        issues.append(("not-finite", inf, msg, fix, "error"))
        rest = rest & ~inf
    if rest.any():
        msg = f"Not a number: {examples(txt[rest], 5)}."
        fix = "Write a number such as 1200.50 (no text, no units)."
        issues.append(("not-a-number", rest, msg, fix, "error"))
    return issues


def isin_values(s: pd.Series, values: Any) -> np.ndarray:
    """``s.isin(values)`` through a hash index: pandas' own isin on arrow strings converts
    every value of a large ``values`` one by one."""
    index = pd.Index(pd.unique(pd.Series(values).dropna().astype("str")))
    return index.get_indexer(s.astype("str")) >= 0
