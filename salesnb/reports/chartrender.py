"""Offline rendering of salesnb charts: the theme, static SVG and a notebook renderer.

Executed notebooks and the HTML/PDF documents made from them must show charts with no
network. Two chart formats (:data:`CHART_FORMATS`):

* ``"svg"`` (the default): every chart output carries a static SVG made by vl-convert,
  beside the Vega-Lite spec that keeps JupyterLab interactive; documents need no JavaScript.
* ``"vega"``: chart outputs carry only the spec; review documents draw them in the
  browser with a Vega runtime inlined in the page (:mod:`salesnb.reports.vegabundle`), still with
  no network. No SVG conversion at all: about 0.1 s of CPU saved per chart.

The format is chosen by ``setup_charts(charts=...)``, else the ``SALESNB_CHARTS``
environment variable (what ``salesnb batch --charts`` sets for each document).

vl-convert runs a JavaScript runtime that owns threads; such a runtime does not survive
``fork`` once warmed (a forked child that inherits it hangs). So this module never imports
``vl_convert`` at import time, and the conversion is pluggable: a batch executor that forks
workers calls :func:`set_svg_converter` in each child with a function that sends the spec to
a long-lived converter process (:class:`ConverterProcess` is one).

Measured on the 2-core development machine (Python 3.11, altair 6.3, vl-convert 1.9): the
first conversion in a process (cold start of the runtime) takes about 0.9 s, later ones
0.05-0.15 s for the charts of :mod:`salesnb.reports.charts`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener
from typing import Any, Final, Self

import altair as alt
import pandas as pd

from salesnb.core.errors import RenderError
from salesnb.reports.chartformat import CHART_FORMATS, CHARTS_ENV, chart_format  # noqa: F401 -- their first home

THEME: Final = "salesnb"
RENDERER: Final = "salesnb-offline"
#: JupyterLab 4 renders Vega-Lite only up to this mimetype; altair 6's own
#: ``application/vnd.vegalite.v6.json`` is shown by no stock JupyterLab.
SPEC_MIMETYPE: Final = "application/vnd.vegalite.v5+json"
SVG_MIMETYPE: Final = "image/svg+xml"
#: Schema written into the embedded spec: the charts of salesnb.reports.charts compile with
#: Vega-Lite 5.8 and later (tests check it), the version JupyterLab 4 bundles.
V5_SCHEMA: Final = "https://vega.github.io/schema/vega-lite/v5.json"

#: Metric-compatible with Arial/Helvetica, so the layout vl-convert measures with
#: Liberation Sans (a Debian font) matches what a browser draws with Arial.
FONT: Final = "Liberation Sans, Arial, Helvetica, sans-serif"


SvgConverter = Callable[[dict], str]
_converter: SvgConverter | None = None
_STOP: Final = "salesnb-converter-stop"


@alt.theme.register(THEME, enable=False)
def salesnb_theme() -> alt.theme.ThemeConfig:
    """The one salesnb theme: readable type, quiet grid, no chart border.

    Colours that carry meaning (on/below target, forecast, peers) are set by each
    builder in :mod:`salesnb.reports.charts` on its own scales, so a chart keeps its meaning
    even when another theme is active.

    Examples
    --------
    >>> salesnb_theme()["config"]["font"]
    'Liberation Sans, Arial, Helvetica, sans-serif'
    """
    ink, muted = "#222222", "#555555"
    axis = {
        "labelFontSize": 12,
        "titleFontSize": 13,
        "titleFontWeight": "normal",
        "labelColor": muted,
        "titleColor": ink,
        "gridColor": "#e6e6e6",
        "domainColor": "#999999",
        "tickColor": "#999999",
    }
    return {
        "config": {
            "font": FONT,
            "background": "white",
            "view": {
                "stroke": None,
                "continuousWidth": 520,
                "continuousHeight": 300,
                "discreteWidth": {"step": 34},
                "discreteHeight": {"step": 26},
            },
            "title": {
                "fontSize": 16,
                "anchor": "start",
                "color": ink,
                "subtitleColor": muted,
                "subtitleFontSize": 12,
            },
            "axis": axis,
            "axisBand": {"grid": False, "labelAngle": 0, "labelLimit": 160},
            "legend": {
                "labelFontSize": 12,
                "titleFontSize": 12,
                "orient": "bottom",
                "titleColor": ink,
                "labelColor": muted,
            },
            "header": {"labelFontSize": 12, "titleFontSize": 13},
            "text": {"fontSize": 11, "color": ink},
            "bar": {"discreteBandSize": {"band": 0.7}},
            "line": {"strokeWidth": 2},
            "point": {"size": 60, "filled": True},
            "range": {
                "category": [
                    "#3b75af",
                    "#ef8636",
                    "#519e3e",
                    "#8d69b8",
                    "#c53a32",
                    "#84584e",
                    "#d57dbf",
                    "#7f7f7f",
                    "#bcbc35",
                    "#42b7ca",
                ]
            },
        }
    }


def enable_theme() -> None:
    """Make the salesnb theme the active Altair theme (process-wide).

    Examples
    --------
    >>> enable_theme()
    >>> alt.theme.active
    'salesnb'
    """
    alt.theme.enable(THEME)


def set_svg_converter(fn: SvgConverter | None) -> None:
    """Route spec-to-SVG conversion through ``fn`` (``None`` restores in-process vl-convert).

    Parameters
    ----------
    fn : callable or None
        Takes a Vega-Lite spec (a dict, as ``chart.to_dict()`` returns) and returns SVG
        text. A batch executor that forks workers sets one that talks to a converter
        process, because a warmed vl-convert does not survive ``fork``.

    Examples
    --------
    >>> set_svg_converter(lambda spec: "<svg/>")
    >>> svg_from_spec({})
    '<svg/>'
    >>> set_svg_converter(None)
    """
    if fn is not None and not callable(fn):
        msg = f"set_svg_converter needs a callable or None, got {fn!r}. Fix: pass a function."
        raise RenderError(msg)
    global _converter
    _converter = fn


def get_svg_converter() -> SvgConverter | None:
    """The converter set by :func:`set_svg_converter`, or ``None`` for the default."""
    return _converter


def vl_convert_svg(spec: dict) -> str:
    """Convert a Vega-Lite spec to SVG with vl-convert in this process (imported lazily).

    Examples
    --------
    >>> spec = alt.Chart(alt.Data(values=[{"x": 1}])).mark_point().encode(x="x:Q").to_dict()
    >>> vl_convert_svg(spec).startswith("<svg")
    True
    """
    import vl_convert as vlc  # lazy: importing salesnb must not start the JS runtime

    version = _vl_version(spec, vlc.get_vegalite_versions())
    try:
        return vlc.vegalite_to_svg(spec, vl_version=version)
    except ValueError as exc:  # vl-convert reports bad specs as ValueError
        title = spec.get("title") if isinstance(spec, dict) else None
        msg = (
            f"Could not draw the chart {title!r} as SVG: {exc}. Fix: check the chart's "
            "data and encodings (chart.to_dict() shows the spec)."
        )
        raise RenderError(msg) from exc


def svg_from_spec(spec: dict) -> str:
    """Static SVG for a Vega-Lite spec, through the converter in force.

    Raises :class:`~salesnb.core.errors.RenderError` when the converter returns something
    that is not a safe SVG document (no ``<svg`` root, or a ``<script`` element).

    Examples
    --------
    >>> spec = alt.Chart(alt.Data(values=[{"x": 1}])).mark_point().encode(x="x:Q").to_dict()
    >>> "<svg" in svg_from_spec(spec)
    True
    """
    svg = (_converter or vl_convert_svg)(spec)
    if not isinstance(svg, str) or not re.match(r"\s*(<\?xml[^>]*>\s*)?<svg\b", svg):
        msg = (
            f"The SVG converter returned {str(svg)[:60]!r}, not an SVG document. "
            "Fix: make the function given to set_svg_converter return SVG text."
        )
        raise RenderError(msg)
    # vl-convert escapes text; a pluggable converter might not, and documents are
    # opened in browsers, so refuse markup that could run.
    if re.search(r"<script\b|<foreignObject\b", svg, flags=re.IGNORECASE):
        msg = (
            "The chart's SVG holds a <script> or <foreignObject> element. "
            "Fix: use a converter that escapes text (vl-convert does)."
        )
        raise RenderError(msg)
    return svg


def offline_mimebundle(spec: dict, embed_spec: bool = True, *, svg: bool = True) -> dict[str, Any]:
    """The display bundle of one chart: static SVG when ``svg``, and the spec when ``embed_spec``.

    The spec goes under :data:`SPEC_MIMETYPE` with a Vega-Lite 5 ``$schema``, which
    JupyterLab 4 renders interactively; the review documents use the SVG when there is
    one (no JavaScript), else draw the spec with an inlined Vega runtime.

    Examples
    --------
    >>> spec = alt.Chart(alt.Data(values=[{"x": 1}])).mark_point().encode(x="x:Q").to_dict()
    >>> sorted(offline_mimebundle(spec))
    ['application/vnd.vegalite.v5+json', 'image/svg+xml', 'text/plain']
    >>> sorted(offline_mimebundle(spec, svg=False))
    ['application/vnd.vegalite.v5+json', 'text/plain']
    """
    title = spec.get("title")
    if isinstance(title, dict):
        title = title.get("text")
    bundle: dict[str, Any] = {
        "text/plain": f"<salesnb chart: {title}>" if title else "<salesnb chart>",
    }
    if svg:
        bundle[SVG_MIMETYPE] = svg_from_spec(spec)
    if embed_spec or not svg:
        bundle[SPEC_MIMETYPE] = {**spec, "$schema": V5_SCHEMA}
    return bundle


def enable_offline_renderer(embed_spec: bool = True, charts: str | None = None) -> None:
    """Register and enable the Altair renderer for offline documents.

    Call once at the top of a notebook. With the ``"svg"`` chart format every chart
    displayed afterwards carries an ``image/svg+xml`` output drawn without network or
    JavaScript; with ``"vega"`` it carries the spec only (see :func:`chart_format`).

    Parameters
    ----------
    embed_spec : bool
        Also embed the Vega-Lite spec so JupyterLab shows an interactive chart. Turn it
        off to keep executed notebooks small (the data is then stored once, in the SVG).
        The ``"vega"`` format always embeds it.
    charts : {"svg", "vega"}, optional
        The chart format; default ``$SALESNB_CHARTS``, else ``"svg"``.

    Examples
    --------
    >>> enable_offline_renderer(embed_spec=False)
    >>> alt.renderers.active
    'salesnb-offline'
    """
    svg = chart_format(charts) == "svg"

    def render(spec: dict, **metadata: Any) -> dict[str, Any]:
        embed = metadata.get("embed_spec", embed_spec)
        return offline_mimebundle(spec, embed_spec=embed, svg=svg)

    alt.renderers.register(RENDERER, render)
    alt.renderers.enable(RENDERER)


def setup_charts(embed_spec: bool = True, charts: str | None = None) -> None:
    """Enable the salesnb theme, the offline renderer and the chart-data transformer
    (:mod:`salesnb.reports.chartdata`), and show tables whole: the one call a notebook makes.

    ``charts`` picks the chart format (:func:`chart_format`): ``"svg"`` or ``"vega"``.

    Examples
    --------
    >>> setup_charts()
    >>> (alt.theme.active, alt.renderers.active)
    ('salesnb', 'salesnb-offline')
    """
    from salesnb.reports import chartdata

    enable_theme()
    enable_offline_renderer(embed_spec=embed_spec, charts=charts)
    chartdata.enable()
    # Tables are shown whole: pandas' defaults cut text at 50 characters ("close date
    # pushed 2 times (2026-08-17 → 2026-1...") and long tables to "67 rows x 9 columns".
    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.max_rows", 500)


def _vl_version(spec: dict, supported: list[str]) -> str | None:
    """vl-convert's name ('6.4') for the spec's Vega-Lite version, if it has that one."""
    found = re.search(r"/v(\d+)\.(\d+)", str(spec.get("$schema", "")))
    if found is None:
        return None
    version = f"{found.group(1)}.{found.group(2)}"
    return version if version in supported else None


class ConverterProcess:
    """A long-lived process that turns specs into SVG for forked workers.

    Start it before forking (it is a fresh ``spawn`` process, so nothing of the parent's
    state is shared), then in each forked child call
    ``set_svg_converter(proc.converter())``. Each conversion opens its own connection,
    so any number of children can use it at once; requests are served one at a time,
    which on a small machine is as fast as parallel ones and keeps one warm runtime.

    Examples
    --------
    >>> with ConverterProcess() as proc:  # doctest: +SKIP
    ...     set_svg_converter(proc.converter())
    """

    def __init__(self, timeout: float = 60.0) -> None:
        import multiprocessing as mp
        import secrets

        self._authkey = secrets.token_bytes(32)
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(child, self._authkey), daemon=True)
        self._process.start()
        if not parent.poll(timeout):
            self.close()
            msg = f"The chart converter process did not start within {timeout} s. Fix: retry."
            raise RenderError(msg)
        self.address = parent.recv()

    def converter(self) -> SvgConverter:
        """A picklable, fork-safe function that converts through this process."""
        return _RemoteConverter(self.address, self._authkey)

    def close(self) -> None:
        """Stop the converter process (politely, so it removes its socket file)."""
        if self._process.is_alive() and getattr(self, "address", None):
            with (
                contextlib.suppress(OSError, EOFError, AuthenticationError),
                Client(self.address, family="AF_UNIX", authkey=self._authkey) as conn,
            ):
                conn.send(_STOP)
            self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.terminate()
        self._process.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _RemoteConverter:
    def __init__(self, address: str, authkey: bytes) -> None:
        self.address, self.authkey = address, authkey

    def __call__(self, spec: dict) -> str:
        with Client(self.address, family="AF_UNIX", authkey=self.authkey) as conn:
            conn.send(spec)
            ok, result = conn.recv()
        if not ok:
            raise RenderError(result)
        return result


def _serve(ready: Any, authkey: bytes) -> None:
    """Converter process main loop: one request per connection, served in turn."""
    with Listener(family="AF_UNIX", authkey=authkey) as listener:
        ready.send(listener.address)
        while True:
            # A client that fails the handshake or goes away is dropped; the others are
            # still served.
            with (
                contextlib.suppress(OSError, EOFError, AuthenticationError),
                listener.accept() as conn,
            ):
                spec = conn.recv()
                if isinstance(spec, str) and spec == _STOP:
                    return
                conn.send(_convert_reply(spec))


def _convert_reply(spec: Any) -> tuple[bool, str]:
    try:
        return True, vl_convert_svg(spec)
    except RenderError as exc:
        return False, str(exc)
    except Exception as exc:  # noqa: BLE001 - report, never die: other workers rely on us
        return False, f"Chart conversion failed: {exc!r}. Fix: check the chart's spec."
