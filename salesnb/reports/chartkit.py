"""The chart builders' shared kit: the colours and what each means, the money, percent and
count labels, input checks, titles, and charts marked as built (they skip Altair's
validation, see :class:`_AsBuilt`).

The builders themselves are in :mod:`salesnb.reports.charts` (and its family modules).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Sequence
from typing import Any, Final, ParamSpec, TypeVar

import altair as alt
import numpy as np
import pandas as pd

from salesnb.analytics.coaching_facts import currency_symbol as coaching_currency_symbol
from salesnb.analytics.coaching_facts import format_money as kit_format_money
from salesnb.core.errors import ParameterError

GOOD: Final = "#2a9d8f"
WARN: Final = "#e9a23b"
BAD: Final = "#d1495b"
NEUTRAL: Final = "#a0a4a8"
SUBJECT: Final = "#1f3b5a"
FORECAST: Final = "#3b75af"
BAND80: Final = "#9ec1e3"
BAND95: Final = "#d4e4f3"
TARGET: Final = "#222222"

ON_TARGET: Final = "On or above target"
BELOW_TARGET: Final = "Below target"
WELL_BELOW: Final = "Well below target"
NO_TARGET: Final = "No target"
TARGET_STATUS: Final = {ON_TARGET: GOOD, BELOW_TARGET: WARN, WELL_BELOW: BAD, NO_TARGET: NEUTRAL}

Chart = alt.Chart | alt.LayerChart | alt.VConcatChart


# --------------------------------------------------------------------------- as built

# Speed: Altair checks every chart against the Vega-Lite JSON schema, twice over: each channel
# object when it is made (its DEBUG_MODE) and the whole spec whenever it is displayed. For the
# four charts of a review document that is about 40 ms, a sixth of the whole document in a
# batch. The specs the chart builders make are checked instead by the test-suite (every builder,
# every branch, explicitly with ``to_dict(validate=True)``), so a chart exactly as a builder
# returned it skips both. Anything derived from it (``.properties()``, ``.encode()``,
# ``+``, ``alt.layer(...)``) or an attribute set on it is an ordinary Altair chart again, and
# checked as usual.
_UNSET: Final = object()
_P = ParamSpec("_P")
_R = TypeVar("_R")


class _AsBuilt:
    """A chart exactly as a chart builder returned it (see above)."""

    def to_dict(self, validate: object = _UNSET, **kwargs: object) -> dict:
        # only the default is skipped: an explicit validate=True still checks
        return super().to_dict(validate=False if validate is _UNSET else validate, **kwargs)  # type: ignore[misc]

    def copy(self, *args: object, **kwargs: object) -> object:
        deep = args[0] if args else kwargs.get("deep", True)
        if deep is False and isinstance(self, alt.LayerChart):
            # Altair's shallow copy of a layered chart builds it again, which deep-copies every
            # layer twice (to_dict makes one such copy per display): the top level alone
            # (the layers shared, as a shallow copy means) is the same chart.
            new = object.__new__(type(self))
            new.__dict__.update(self.__dict__)
            object.__setattr__(new, "_kwds", dict(self._kwds))
            return _plain(new)
        return _plain(super().copy(*args, **kwargs))  # type: ignore[misc]

    def __setattr__(self, name: str, value: object) -> None:
        setattr(_plain(self), name, value)


class _BuiltChart(_AsBuilt, alt.Chart):
    pass


class _BuiltLayerChart(_AsBuilt, alt.LayerChart):
    pass


class _BuiltVConcatChart(_AsBuilt, alt.VConcatChart):
    pass


_AS_BUILT: Final = {
    alt.Chart: _BuiltChart, alt.LayerChart: _BuiltLayerChart, alt.VConcatChart: _BuiltVConcatChart
}  # fmt: skip
_PLAIN: Final = {v: k for k, v in _AS_BUILT.items()}


def _plain(chart: object) -> object:
    if type(chart) in _PLAIN:
        object.__setattr__(chart, "__class__", _PLAIN[type(chart)])
    return chart


def _as_built(builder: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``builder`` without Altair's per-object checks and mark its chart as built."""

    @functools.wraps(builder)
    def build(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with alt.utils.schemapi.debug_mode(False):
            chart = builder(*args, **kwargs)
        if type(chart) in _AS_BUILT:
            object.__setattr__(chart, "__class__", _AS_BUILT[type(chart)])
        return chart

    return build


class _Fresh(alt.Chart):
    """A layer just made by a builder, handed to :func:`_layer` and used nowhere else."""

    def copy(self, deep: object = True, ignore: object = None) -> object:
        # Layering copies each layer twice over, deeply, so that it can set the copy's
        # top-level properties (data, params, width...) without touching the caller's layer:
        # a copy of the top level does that, and the caller drops its layers anyway.
        return super().copy(deep=False) if deep is True else super().copy(deep, ignore)  # type: ignore[arg-type]


def _layer(*layers: Any, **kwargs: Any) -> alt.LayerChart:
    """``alt.layer(*layers, **kwargs)`` for layers a builder made and drops afterwards.

    The spec is the same (tests compare every builder's with ``alt.layer``'s); layering
    skips its deep copies of each layer (about a third of building a review's charts).
    """
    fresh = [x for x in layers if type(x) is alt.Chart]
    for x in fresh:
        object.__setattr__(x, "__class__", _Fresh)
    try:
        chart = alt.layer(*layers, **kwargs)
    finally:
        for x in fresh:
            object.__setattr__(x, "__class__", alt.Chart)
    for x in chart.layer:  # the copies layering made: ordinary charts again
        if type(x) is _Fresh:
            object.__setattr__(x, "__class__", alt.Chart)
    return chart


# --------------------------------------------------------------------------- helpers


def currency_symbol(currency: str = "USD") -> str:
    """The prefix shown before money values for an ISO 4217 code.

    Codes without a well-known symbol are shown as the code and a space.

    Examples
    --------
    >>> currency_symbol("EUR"), currency_symbol("sek")
    ('€', 'SEK ')
    """
    code = str(currency).strip()
    if code == "deals" or re.fullmatch(r"[A-Za-z]{3}", code):  # the kit's one table
        return coaching_currency_symbol(code)
    if 0 < len(code) <= 3 and not code.isalnum():  # already a symbol such as "$"
        return code
    msg = (f"Unknown currency {currency!r}. Fix: give an ISO 4217 code such as 'USD' or 'EUR' "
           "(the `currency` key of salesnb.toml).")  # fmt: skip
    raise ParameterError(msg)


def format_money(
    values: pd.Series | Sequence[float],
    currency: str = "USD",
    compact: bool = False,
    signed: bool = False,
) -> pd.Series:
    """Money labels for chart data, one per value: the kit's one formatter
    (:func:`salesnb.analytics.coaching_facts.format_money`) on each, whole units by default;
    a missing (NaN) value reads "–" as the charts' other labels do.

    ``currency`` is checked as :func:`currency_symbol` checks it.

    Examples
    --------
    >>> format_money([1250000, -950, float("nan")], "EUR", compact=True).tolist()
    ['€1.2M', '-€950', '–']
    >>> format_money([1234.5], signed=True).tolist()
    ['+$1,234']
    """
    currency_symbol(currency)  # an unknown currency is an error here, as on the axes

    def one(v: float) -> str:
        if not np.isfinite(v):
            return "–"
        return kit_format_money(v, currency, compact=compact, signed=signed)

    return pd.Series(values, dtype="float64").map(one).astype(object)  # chart data: plain strings


def money_axis(currency: str, **kwargs: object) -> alt.Axis:
    """A money axis for any currency: labels like "$250K", "€1.5M", "-$5K" (d3's own "$" format
    knows only the dollar; billions read "B", not d3's "G").

    ``kwargs`` go to :class:`altair.Axis` (``title=...``). Labels keep three significant
    digits, so round ticks such as 1.25M stay apart from 1.2M.

    Examples
    --------
    >>> money_axis("EUR", title="Bookings").to_dict()["title"]
    'Bookings'
    """
    sym = json.dumps(currency_symbol(currency), ensure_ascii=False)
    expr = (
        f"(datum.value < 0 ? '-' : '') + {sym} + (abs(datum.value) >= 1000 ? "
        "replace(replace(format(abs(datum.value), '.3~s'), 'G', 'B'), 'k', 'K') : "
        "format(abs(datum.value), '~r'))"
    )
    return alt.Axis(labelExpr=expr, **kwargs)


def _pct(values: pd.Series) -> pd.Series:
    return values.map(lambda v: "–" if np.isnan(v) else f"{v:.0%}").astype(object)


def _num_text(v: float) -> str:
    """Counts and days: "1,234", "45", "2.5"; NaN gives "–"."""
    if np.isnan(v):
        return "–"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _frame(data: object, required: Sequence[str], builder: str, numeric: Sequence[str] = ()):
    """Check a builder's input: a DataFrame with the columns it needs, numbers as numbers."""
    if not isinstance(data, pd.DataFrame):
        msg = f"{builder} needs a pandas DataFrame, got {type(data).__name__}. Fix: pass one."
        raise ParameterError(msg)
    missing = [c for c in required if c not in data.columns]
    if missing:
        msg = (f"{builder}: the data has no column {', '.join(map(repr, missing))} "
               f"(it has {list(map(str, data.columns))}). Fix: pass a frame with columns "
               f"{list(required)}; see help({builder}).")  # fmt: skip
        raise ParameterError(msg)
    df = data.reset_index(drop=True).copy()
    for col in numeric:
        if col in df.columns:
            dtype = df[col].dtype
            if isinstance(dtype, np.dtype) and dtype.kind in "biuf":  # numbers already: no parsing
                if dtype != np.float64:
                    df[col] = df[col].astype("float64")
                continue
            num = pd.to_numeric(df[col], errors="coerce").astype("float64")
            bad = num.isna() & df[col].notna()
            if bad.any():
                msg = (f"{builder}: column {col!r} holds non-numbers, e.g. "
                       f"{df.loc[bad, col].iloc[0]!r}. Fix: convert it to numbers.")  # fmt: skip
                raise ParameterError(msg)
            df[col] = num
    return df


def _labels(df: pd.DataFrame, col: str, builder: str) -> pd.Series:
    """``df[col]`` as category labels for a Vega-Lite sort order, which takes one kind of
    value: labels of mixed kinds become text (in ``df``, the builder's own copy)."""
    values = df[col]
    missing = values.isna().to_numpy()
    if missing.any():
        msg = (f"{builder}: {col} is missing in row {int(np.flatnonzero(missing)[0])}. "
               f"Fix: give every row a {col}.")  # fmt: skip
        raise ParameterError(msg)
    kinds = {bool if isinstance(v, bool | np.bool_) else float if isinstance(v, int | float | np.number)
             else str if isinstance(v, str) else object for v in values}  # fmt: skip
    if len(kinds) > 1 or object in kinds:
        df[col] = values = values.map(str).astype(object)
    return values


def _unique(df: pd.DataFrame, col: str, builder: str) -> list:
    values = _labels(df, col, builder)
    if not values.is_unique:  # checked first: 20 times faster than finding the duplicate
        dup = values[values.duplicated()]
        msg = (f"{builder}: {col} {dup.iloc[0]!r} appears more than once. "
               f"Fix: pass one row per {col} (aggregate first).")  # fmt: skip
        raise ParameterError(msg)
    return values.tolist()


def _status_color(mapping: dict[str, str], title: str | None = None) -> alt.Color:
    """A colour encoding whose domain fixes the meaning of each colour."""
    # A copy of a cached one: Altair validates each new Scale and Legend (~1 ms), not copies.
    return _status_color_cached(tuple(mapping.items()), title).copy()


@functools.lru_cache(maxsize=32)
def _status_color_cached(items: tuple[tuple[str, str], ...], title: str | None) -> alt.Color:
    scale = alt.Scale(domain=[k for k, _ in items], range=[v for _, v in items])
    # one entry per line: side by side, labels measured in one font and drawn in another
    # ran into each other ("Better than peer median● Worse than peer median●")
    return alt.Color("status:N", scale=scale, legend=alt.Legend(title=title, columns=1))


def _attainment_status(ratio: pd.Series, warn_at: float) -> np.ndarray:
    return np.select(
        [ratio.isna(), ratio >= 1.0, ratio >= warn_at],
        [NO_TARGET, ON_TARGET, BELOW_TARGET],
        default=WELL_BELOW,
    )


def vega_text(text: str) -> str:
    r"""``text`` made safe for a Vega-Lite title: a backslash before a quote, or a line break,
    breaks the expression Vega-Lite builds from a tooltip or axis title (the whole chart then
    fails to render), so backslashes become U+29F5 and line breaks spaces.

    Examples
    --------
    >>> vega_text('Ann \\"+x+\\"')
    'Ann ⧵"+x+⧵"'
    """
    return re.sub(r"[\r\n\t]+", " ", str(text).replace("\\", "\u29f5"))


def _title(text: str, subtitle: str | list[str] | None = None) -> alt.Title:
    if isinstance(subtitle, list):  # one subtitle line per item (Vega does not wrap titles)
        return alt.Title(vega_text(text), subtitle=[vega_text(line) for line in subtitle])
    if subtitle:
        return alt.Title(vega_text(text), subtitle=vega_text(subtitle))
    return alt.Title(vega_text(text))


def _empty(title: str, message: str) -> alt.Chart:
    """A chart that says why it is empty instead of drawing bare axes."""
    data = pd.DataFrame({"message": [message]})
    return (
        alt.Chart(data, title=_title(title))
        .mark_text(fontSize=13, color=NEUTRAL)
        .encode(text=alt.Text("message:N"))
        .properties(width=400, height=60)
    )


def _cat_value(orient: str, cat: dict, val: dict) -> dict:
    if orient == "horizontal":
        return {"y": alt.Y(**cat), "x": alt.X(**val)}
    return {"x": alt.X(**cat), "y": alt.Y(**val)}
