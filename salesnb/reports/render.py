"""Review documents from executed notebooks: offline HTML, and PDF through headless Chromium.

A review document shows the notebook's prose and results, never its code: no
code cells, no injected-parameters cell, no stderr or warnings, no error
tracebacks. It opens with a title block (subject, period, as-of date, data
fingerprint, kit version) and references nothing outside itself: charts are
inline SVG, styles are inline, there is no script. The nbconvert template is
``templates/review``; the batch index template is ``templates/batch_index.html.j2``.
"""

from __future__ import annotations

import copy
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from salesnb.core.errors import RenderError
from salesnb.core.resources import kit_folder
from salesnb.reports.offlinecheck import external_references
from salesnb.reports.periodspan import keep_periods_whole
from salesnb.reports.record import MIMETYPES, collect
from salesnb.reports.tablealign import align_text_columns

TEMPLATES = Path(os.environ.get("SALESNB_TEMPLATES") or kit_folder("templates"))

#: A chart's Vega-Lite spec (chartrender.SPEC_MIMETYPE, spelled here to keep Altair out of
#: processes that only render).
_SPEC = "application/vnd.vegalite.v5+json"
#: Output mimetypes a document shows, best first. SVG beats the Vega-Lite spec of a chart
#: (drawn by the inlined Vega runtime, which needs scripts); HTML tables beat plain text.
DISPLAY_PRIORITY = (
    "image/svg+xml",
    "image/png",
    "image/jpeg",
    _SPEC,
    "text/html",
    "text/markdown",
    "text/latex",
    "text/plain",
)
#: Cell tags whose cell (or output) documents drop.
REMOVE_CELL_TAGS = {"injected-parameters", "parameters", "remove-cell", "remove_cell", "hide"}
REMOVE_OUTPUT_TAGS = {"remove-output", "remove_output", "hide-output"}
#: Elements a notebook's markup may bring into a document (an allowlist: everything else is
#: dropped, its text kept). Prose as markdown renders it, pandas tables, and the static SVG
#: that vl-convert draws charts with. No script, style, form, frame, embedding, animation,
#: ``<use>``/``<image>``/``<foreignObject>`` (which can load or run anything) or MathML.
_HTML_TAGS: Final = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd",
    "del", "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s",
    "samp", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot",
    "th", "thead", "time", "tr", "u", "ul", "var", "wbr",
})  # fmt: skip
_SVG_TAGS: Final = frozenset({
    "svg", "g", "path", "rect", "circle", "ellipse", "line", "polyline", "polygon", "text",
    "tspan", "defs", "clipPath", "linearGradient", "radialGradient", "stop",
})  # fmt: skip
#: Elements dropped with everything inside them (their text is code, CSS, or markup that a
#: browser parses differently from the sanitiser: the mutation-XSS classics).
_DROP_WITH_CONTENT: Final = frozenset({
    "script", "style", "template", "noscript", "iframe", "frame", "frameset", "object",
    "applet", "noembed", "noframes", "xmp", "plaintext", "textarea", "title", "select",
    "option", "math", "foreignObject", "desc", "head",
})  # fmt: skip
#: SVG's geometry and presentation attributes (meaningless on HTML elements, harmless there).
#: A presentation attribute's value is CSS: it gets a style attribute's checks.
_SVG_ATTRS: Final = frozenset({
    "viewBox", "version", "preserveAspectRatio", "transform", "d", "x", "y", "x1", "y1", "x2",
    "y2", "cx", "cy", "r", "rx", "ry", "dx", "dy", "fx", "fy", "points", "pathLength",
    "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-opacity",
    "stroke-dasharray", "stroke-dashoffset", "stroke-linecap", "stroke-linejoin",
    "stroke-miterlimit", "opacity", "clip-path", "clip-rule", "clipPathUnits", "display",
    "visibility", "pointer-events", "text-anchor", "dominant-baseline", "alignment-baseline",
    "baseline-shift", "font-family", "font-size", "font-weight", "font-style",
    "font-variant", "letter-spacing", "word-spacing", "text-decoration", "textLength",
    "lengthAdjust", "shape-rendering", "text-rendering", "paint-order", "vector-effect",
    "gradientUnits", "gradientTransform", "spreadMethod", "offset", "stop-color",
    "stop-opacity",
})  # fmt: skip
#: Attributes allowed on any allowed element (``aria-*`` too).
_ANY_ATTRS: Final = frozenset({
    "class", "id", "title", "lang", "role", "style", "width", "height", "align", "valign",
}) | _SVG_ATTRS  # fmt: skip
_TAG_ATTRS: Final = {
    "a": {"href"},
    "img": {"src", "alt"},
    "table": {"border"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "col": {"span"},
    "colgroup": {"span"},
    "ol": {"start", "reversed"},
    "li": {"value"},
    "time": {"datetime"},
    "details": {"open"},
}
#: CSS properties a ``style`` attribute may set (an allowlist too: none of them takes a URL).
_STYLE_PROPERTIES: Final = frozenset({
    "color", "background-color", "opacity", "font-weight", "font-style", "font-size",
    "font-family", "font-variant", "font-variant-numeric", "text-align", "vertical-align",
    "text-decoration", "text-transform", "white-space", "word-break", "overflow-wrap",
    "letter-spacing", "line-height", "width", "min-width", "max-width", "height",
    "min-height", "max-height", "margin", "margin-top", "margin-right", "margin-bottom",
    "margin-left", "padding", "padding-top", "padding-right", "padding-bottom",
    "padding-left", "border", "border-top", "border-right", "border-bottom", "border-left",
    "border-color", "border-style", "border-width", "border-collapse", "border-spacing",
    "border-radius", "text-anchor", "fill", "fill-opacity", "stroke", "stroke-width",
    "stroke-opacity", "stroke-dasharray", "display", "visibility",
})  # fmt: skip
#: Schemes a link or image may use; the attribute filter narrows them further (see _attribute).
_URL_SCHEMES: Final = frozenset({"http", "https", "mailto", "data"})
#: The only data: URLs kept: raster images in ``<img src>`` (an image cannot run script).
_DATA_IMAGE = re.compile(
    r"data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*\Z", re.IGNORECASE
)
#: ``url(...)`` anywhere in a value; only references into the page (``url(#clip1)``) are kept.
_CSS_URL = re.compile(r"url\s*\(\s*(['\"]?)\s*([^)'\"]*)", re.IGNORECASE)
#: What a style attribute may never hold, whatever the property: CSS escapes and comments
#: (they can spell or split any of the rest), old IE's expression() and behaviours, Mozilla's
#: bindings, at-rules, markup, script schemes.
_CSS_FORBIDDEN = re.compile(
    r"\\|/\*|expression|behavior|-moz-binding|@|<|javascript|vbscript|image-set|element\(",
    re.IGNORECASE,
)


#: Anything either check above could object to (a quick first test).
_CSS_SUSPECT = re.compile(_CSS_FORBIDDEN.pattern + r"|url", re.IGNORECASE)
_URL_NOISE = re.compile("[\x00-\x20\x7f\ufffd]+")
_SCHEME = re.compile(r"([a-z][a-z0-9+.\-]*):")


def _attribute(tag: str, name: str, value: str) -> str | None:
    """nh3's attribute filter: ``value`` to keep it, None to drop the attribute.

    Runs after the attribute allowlists (no other attribute reaches it) and
    after nh3 has checked ``href``/``src`` schemes against :data:`_URL_SCHEMES`.
    """
    if name == "style" or name in _SVG_ATTRS:  # CSS
        if _CSS_SUSPECT.search(value) is None:  # nearly every value: one search, kept
            return value
        if _CSS_FORBIDDEN.search(value):
            return None
        for _quote, target in _CSS_URL.findall(value):
            if not target.startswith("#"):  # url(#id) only: never a file or the network
                return None
        return value
    if name in ("href", "src"):
        # as a browser reads a scheme, and more: without controls, spaces and the U+FFFD a
        # control became (nh3 has checked the scheme already; this is the second lock)
        flat = _URL_NOISE.sub("", value).lower()
        scheme = _SCHEME.match(flat)
        # "//host/x" or "\\host\\x" in a page opened from disk is file://host/x: a network
        # share, which Windows opens with the reader's credentials
        if flat.startswith(("//", "\\", "/\\")):
            return None
        if name == "href":  # links may leave the page (a reader clicks them) but not run
            ok = scheme is None or scheme.group(1) in ("http", "https", "mailto")
            return value if ok else None
        # an image: documents open offline, so an embedded raster image or a relative file
        if _DATA_IMAGE.match(value.strip()):
            return value
        return value if scheme is None else None
    return value


@lru_cache(maxsize=1)
def _cleaner() -> Any:
    import nh3

    attributes = {"*": set(_ANY_ATTRS), **{t: set(a) for t, a in _TAG_ATTRS.items()}}
    return nh3.Cleaner(
        tags=set(_HTML_TAGS | _SVG_TAGS),
        clean_content_tags=set(_DROP_WITH_CONTENT),
        attributes=attributes,
        generic_attribute_prefixes={"aria-"},
        # the SVG namespace declaration, exactly; nothing else in xmlns
        tag_attribute_values={"svg": {"xmlns": {"http://www.w3.org/2000/svg"}}},
        attribute_filter=_attribute,
        url_schemes=set(_URL_SCHEMES),
        filter_style_properties=set(_STYLE_PROPERTIES),
        strip_comments=True,
        link_rel=None,  # no target attribute is allowed, so no link can reach window.opener
    )


#: Controls neutralised in every document's text (see :func:`neutralise_controls`): C0
#: controls but tab, line feed, form feed and carriage return; DEL and the C1 controls; the
#: bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), which
#: can make text read in another order than it is stored ("Trojan Source").
_CONTROLS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
#: What each becomes: the replacement character, visible, one character in every context
#: (text, attribute, JSON string), as browsers already show a NUL.
CONTROL_REPLACEMENT: Final = "\ufffd"


def neutralise_controls(text: str) -> str:
    """``text`` with control and bidi override characters replaced by U+FFFD (visible).

    Keeps tab, line feed, form feed, carriage return and the left-to-right and
    right-to-left marks (U+200E, U+200F, U+061C), which right-to-left names legitimately
    hold and which cannot reorder a run of text.

    Examples
    --------
    >>> neutralise_controls("Acme\\u202eexe.pdf\\x00") == "Acme\\ufffdexe.pdf\\ufffd"
    True
    """
    if _CONTROLS.search(text) is None:  # nearly always: no copy
        return text
    return _CONTROLS.sub(CONTROL_REPLACEMENT, text)


def document_notebook(nb: Mapping[str, Any]) -> Any:
    """A copy of ``nb`` holding only what a review document shows.

    Drops code sources, the parameters and injected-parameters cells, papermill's
    error banners, stderr streams, errors, widget and script outputs and the
    salesnb record outputs; reduces each rich output to its one best mimetype
    (:data:`DISPLAY_PRIORITY`).

    Examples
    --------
    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1/0")])
    >>> nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stderr", text="warn")]
    >>> document_notebook(nb).cells[0].outputs
    []
    """
    # copies only what is kept: the code, the dropped cells and outputs are most of a notebook
    out = {k: copy.deepcopy(v) for k, v in nb.items() if k != "cells"}
    cells = []
    for cell in nb["cells"]:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & REMOVE_CELL_TAGS or "papermill-error-cell-tag" in tags:
            continue
        if cell["cell_type"] != "code":
            cells.append(copy.deepcopy(cell))
            continue
        kept = []
        for o in [] if tags & REMOVE_OUTPUT_TAGS else cell.get("outputs", []):
            if o["output_type"] == "stream":
                if o.get("name") == "stdout" and o.get("text"):
                    kept.append(copy.deepcopy(o))
            elif o["output_type"] in ("display_data", "execute_result"):
                data = o.get("data", {})
                if any(m in data for m in MIMETYPES):
                    continue
                best = next((m for m in DISPLAY_PRIORITY if m in data), None)
                if best is not None:
                    one = {k: copy.deepcopy(v) for k, v in o.items() if k != "data"}
                    one["data"] = {best: copy.deepcopy(data[best])}
                    kept.append(one)
        if kept:
            rest = {k: copy.deepcopy(v) for k, v in cell.items() if k not in ("source", "outputs")}
            cells.append({**rest, "source": "", "outputs": kept})
    out["cells"] = cells
    import nbformat

    return nbformat.from_dict(out)


def _owned(nb: Any) -> Any:
    """``nb`` (a private copy already) as a node that deep-copies to itself.

    nbconvert deep-copies the notebook it exports, and normalising it copies it again: for
    a copy made for this one export, both were waste (about 4 ms a document).
    """
    from nbformat import NotebookNode

    class _Owned(NotebookNode):
        def __deepcopy__(self, memo: dict) -> Any:
            return self

    return _Owned(nb)


def _draws_specs(doc: Mapping[str, Any]) -> bool:
    return any(
        _SPEC in o.get("data", {})
        for cell in doc["cells"]
        for o in cell.get("outputs", [])
    )  # fmt: skip


def script_json(value: Any) -> str:
    """JSON text safe inside ``<script type="application/json">``: ``<``, ``>``, ``&`` and the
    JavaScript line separators are written as escapes, so no data can close the element.

    Examples
    --------
    >>> script_json({"name": "</script><b>"})
    '{"name": "\\u003c/script\\u003e\\u003cb\\u003e"}'
    """
    import json
    import math

    def finite(v: Any) -> Any:  # JSON has no NaN/Infinity: the browser's parser would refuse
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: finite(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [finite(x) for x in v]
        return v

    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, default=str)
    except ValueError:
        text = json.dumps(finite(value), ensure_ascii=False, allow_nan=False, default=str)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):  # fmt: skip
        text = text.replace(ch, esc)
    return text


#: Keys of a Vega-Lite spec that make the inlined runtime load something (``url``: data,
#: lookups, image marks) or configure Vega-Embed itself (``usermeta.embedOptions``).
_SPEC_LOADS: Final = frozenset({"url", "usermeta"})
#: Inline data, whose records may have fields of any name (kept as they are).
_SPEC_DATA: Final = frozenset({"values", "datasets"})


def offline_spec(spec: Any) -> Any:
    """A notebook's chart spec without anything the Vega runtime would load or obey.

    In ``--charts vega`` documents the spec is drawn by the runtime the kit inlines, in the
    reader's browser: a ``"url"`` anywhere (``data.url``, a lookup's data, an image mark's
    ``url`` channel) would make the document fetch from the network or read local files when
    opened, and ``usermeta.embedOptions`` would reconfigure Vega-Embed. Both are dropped (the
    kit's own charts carry their data inline); inline data is left as it is.

    Examples
    --------
    >>> offline_spec({"data": {"url": "https://x/d.csv"}, "mark": "bar"})
    {'data': {}, 'mark': 'bar'}
    >>> offline_spec({"data": {"values": [{"url": "kept: a field of a record"}]}})
    {'data': {'values': [{'url': 'kept: a field of a record'}]}}
    """
    if isinstance(spec, dict):
        return {
            k: v if k in _SPEC_DATA else offline_spec(v)
            for k, v in spec.items()
            if k not in _SPEC_LOADS
        }
    if isinstance(spec, list):
        return [offline_spec(v) for v in spec]
    return spec


#: An ``<img>`` tag without an ``alt`` attribute (nbconvert gives those a default alt text).
_IMG_NO_ALT = re.compile(r"<img\b(?![^>]*\balt\s*=)[^>]*>", re.IGNORECASE)


def _html_sources(nb: Any) -> Iterator[str]:
    """The markup a notebook brings into its page: markdown cells and HTML outputs."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            yield cell.source
        for o in cell.get("outputs", []):
            html = o.get("data", {}).get("text/html")
            if html:
                yield "".join(html) if isinstance(html, list) else html


@lru_cache(maxsize=1)
def _review_exporter_class() -> type:
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

    try:
        from jinja2 import pass_context
    except ImportError:  # pragma: no cover - Jinja2 < 3.0, as nbconvert allows
        from jinja2 import contextfilter as pass_context  # type: ignore[attr-defined,no-redef]

    class ReviewExporter(HTMLExporter):
        """nbconvert's HTMLExporter, minus two costs a review document does not need.

        ``HTMLExporter.from_notebook_node`` re-parses the whole page with BeautifulSoup to
        give ``<img>`` tags without ``alt`` a default text and to make JupyterLab's cell
        wrappers focusable. The review template has no such wrappers and writes ``alt``
        itself, and the parse costs 25-60 ms a document (SVG charts are thousands of tags):
        it runs only when a markdown cell or an output brings its own ``<img>`` without
        ``alt``. And it is made with nbconvert's ``optimistic_validation`` (see
        :func:`_exporter`). The test suite checks the output against the stock exporter's.
        """

        @pass_context  # as nbconvert's own: Jinja hands it the template context
        def markdown2html(self, context: Any, source: str) -> str:
            # A notebook's markdown cells are the same in every document of a batch: each
            # text is rendered once per process (and by the zygote, before any document).
            # Attachments and embedded images depend on more than the text: never kept.
            cell = context.get("cell", {})
            if cell.get("attachments") or self.embed_images:
                return super().markdown2html(context, source)
            path = context.get("resources", {}).get("metadata", {}).get("path", "")
            key = (source, str(path))
            html = _MARKDOWN.get(key)
            if html is None:
                html = super().markdown2html(context, source)
                if len(_MARKDOWN) >= _MARKDOWN_KEPT:
                    _MARKDOWN.pop(next(iter(_MARKDOWN)))
                _MARKDOWN[key] = html
            return html

        def _create_environment(self) -> Any:
            # Compiled templates are kept on disk (Jinja's own bytecode cache, keyed by each
            # template's source): compiling nbconvert's base templates is most of a batch's
            # first document on its critical path.
            env = super()._create_environment()
            env.bytecode_cache = _bytecode_cache()
            return env

        def from_notebook_node(  # type: ignore[override]
            self, nb: Any, resources: dict[str, Any] | None = None, **kw: Any
        ) -> tuple[str, dict[str, Any]]:
            # As HTMLExporter.from_notebook_node, up to its BeautifulSoup pass
            langinfo = nb.metadata.get("language_info", {})
            lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
            highlight_code = self.filters.get(
                "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)
            )
            resources = self._init_resources(resources)
            filter_data_type = WidgetsDataTypeFilter(
                notebook_metadata=self._nb_metadata, parent=self, resources=resources
            )
            self.register_filter("highlight_code", highlight_code)
            self.register_filter("filter_data_type", filter_data_type)
            html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            if any(_IMG_NO_ALT.search(t) for t in _html_sources(nb)):  # as HTMLExporter does
                from bs4 import BeautifulSoup

                soup = BeautifulSoup(html, features="html.parser")
                for elem in soup.select("img:not([alt])"):
                    elem.attrs["alt"] = "No description has been provided for this image"
                html = str(soup)
            return html, resources

    return ReviewExporter


#: Markdown already rendered by the review exporter, oldest first (see markdown2html above).
_MARKDOWN: dict[tuple[str, str], str] = {}
_MARKDOWN_KEPT: Final = 512


def warm_markdown(nb: Mapping[str, Any], template_dir: str | Path | None = None) -> int:
    """Render ``nb``'s markdown cells now, as a review document would; how many.

    A batch's zygote calls it, so that no document renders its notebook's prose again.
    """
    exporter = _exporter(str(template_dir or TEMPLATES))
    done = 0
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown" and isinstance(cell.get("source"), str):
            exporter.markdown2html({"cell": cell, "resources": {"metadata": {}}}, cell["source"])
            done += 1
    return done


def _bytecode_cache() -> Any:
    """Jinja's file bytecode cache under the salesnb cache folder; None if it cannot be made."""
    from jinja2 import FileSystemBytecodeCache

    from salesnb.core.files import cache_dir

    folder = cache_dir() / "templates"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return FileSystemBytecodeCache(str(folder))


@lru_cache(maxsize=4)
def _exporter(template_dir: str, *, stock: bool = False) -> Any:
    """The review template's exporter (``stock``: nbconvert's own HTMLExporter, for tests)."""
    from nbconvert import HTMLExporter

    cls = HTMLExporter if stock else _review_exporter_class()
    # optimistic_validation (nbconvert's own option): the notebook is validated once, after
    # the last preprocessor, not after each of the dozen registered (most of them disabled)
    options = {} if stock else {"optimistic_validation": True}
    exporter = cls(extra_template_basedirs=[template_dir], template_name="review",
                   exclude_input=True, **options)  # fmt: skip
    exporter.register_filter("offline", document_html)
    exporter.register_filter("script_json", script_json)
    exporter.register_filter("offline_spec", offline_spec)
    return exporter


def document_html(fragment: str) -> str:
    """Markup a notebook brings into a review document: :func:`offline_html`, then word
    columns of its tables marked to read left-aligned (:mod:`salesnb.reports.tablealign`).

    Examples
    --------
    >>> document_html("<table><tr><td>Ann</td><td>$1K</td></tr></table>")
    '<table><tbody><tr><td class="snb-text">Ann</td><td>$1K</td></tr></tbody></table>'
    """
    return align_text_columns(offline_html(fragment))


def offline_html(fragment: str) -> str:
    """Sanitise markup a notebook brings into a document, against an allowlist.

    Every markdown cell and every HTML, SVG and markdown output passes here (the kit's own
    template does not). Only the elements and attributes listed in this module survive
    (prose, tables, static SVG charts); scripts, styles, event handlers, forms, frames,
    embeddings, SVG animation and MathML go, as do URLs other than links to http(s),
    mailto or the page itself, raster ``data:`` images and relative files. Documents must
    open with no network and run no code: a notebook output that embeds a CDN script (a
    Vega-Embed chart, a widget) loses it here.

    Examples
    --------
    >>> offline_html('<p onclick="x()">a</p><script src="https://cdn/x.js"></script>')
    '<p>a</p>'
    """
    # nh3 (ammonia, in Rust) parses as a browser does (html5ever) and writes the tree back:
    # about 6 ms for a document's charts, tables and prose, less than the blocklist took
    # controls first: the parser would drop a NUL in text silently (and keep it as U+FFFD in
    # an attribute); the page shows each one the same way wherever it is
    return _cleaner().clean(neutralise_controls(fragment))


#: Stands for the Vega bundle while a page is rendered and checked; random, so no content
#: can contain it.
_BUNDLE_MARK: Final = f"/*salesnb-vega-bundle-{secrets.token_hex(16)}*/"


def to_html(
    nb: Mapping[str, Any],
    *,
    document_title: str = "Review",
    subject_name: str | None = None,
    template_dir: str | Path | None = None,
) -> str:
    """Render an executed notebook as a self-contained review document (HTML text).

    Parameters
    ----------
    nb : notebook node
        An executed notebook (papermill output).
    document_title : str
        The kind of document, e.g. ``"Pipeline review"``.
    subject_name : str, optional
        Used when the notebook did not call :func:`salesnb.reports.record.title`.
    template_dir : path, optional
        A folder holding a ``review`` nbconvert template (default: ``templates/``).

    Examples
    --------
    >>> html = to_html(executed_nb, document_title="Pipeline review")  # doctest: +SKIP
    """
    head, tail = _page(nb, document_title, subject_name, template_dir)
    if tail is None:
        return head
    from salesnb.reports import vegabundle

    return head + vegabundle.vega_bundle() + tail


def to_html_bytes(
    nb: Mapping[str, Any],
    *,
    document_title: str = "Review",
    subject_name: str | None = None,
    template_dir: str | Path | None = None,
) -> bytes:
    """:func:`to_html`'s document as UTF-8 bytes, made without copying the Vega bundle twice.

    Examples
    --------
    >>> to_html_bytes(executed_nb) == to_html(executed_nb).encode()  # doctest: +SKIP
    True
    """
    head, tail = _page(nb, document_title, subject_name, template_dir)
    if tail is None:
        return head.encode("utf-8")
    from salesnb.reports import vegabundle

    return b"".join((head.encode("utf-8"), vegabundle.vega_bundle_bytes(), tail.encode("utf-8")))


def _page(
    nb: Mapping[str, Any],
    document_title: str,
    subject_name: str | None,
    template_dir: str | Path | None,
) -> tuple[str, str | None]:
    """The rendered and checked page: ``(page, None)``, or ``(head, tail)`` around the place of
    the Vega bundle when the document draws chart specs."""
    from salesnb import __version__

    headline, title = collect(nb)
    title = {"subject_name": subject_name, "salesnb_version": __version__, **title}
    doc = _owned(document_notebook(nb))
    resources = {"salesnb": {"title": title, "headline": headline, "heading": document_title}}
    draws = _draws_specs(doc)
    if draws:  # charts without SVG ("vega" format): inline the Vega runtime
        from salesnb.reports import vegabundle

        # The bundle (0.9 MB, checked once when loaded) goes in after the page is checked
        # for external references: scanning it in every document cost more than the rest.
        vegabundle.vega_bundle()  # a bundle that cannot be had fails here, before rendering
        resources["salesnb"]["vega"] = {"bundle": _BUNDLE_MARK, "init": vegabundle.INIT_JS}
    exporter = _exporter(str(template_dir or TEMPLATES))
    try:
        html, _ = exporter.from_notebook_node(doc, resources=resources)
    except Exception as exc:  # nbconvert/jinja errors: say which template broke
        msg = (
            f"Rendering HTML with the template in {str(template_dir or TEMPLATES)!r} failed: "
            f"{type(exc).__name__}: {exc}. Fix: check the template files."
        )
        raise RenderError(msg) from exc
    # the one place every text of the page passes: title block, prose, outputs, chart specs
    html = keep_periods_whole(neutralise_controls(html))
    bad = external_references(html)
    if bad:  # a template change must never make documents reach the network
        msg = (
            f"The rendered document references external resources {bad[:3]!r}. "
            "Fix: remove them from the template in templates/review."
        )
        raise RenderError(msg)
    if not draws:
        return html, None
    head, mark, tail = html.partition(_BUNDLE_MARK)
    if not mark:
        msg = "The review template lost the Vega bundle's place. Fix: restore templates/review."
        raise RenderError(msg)
    return head, tail


def find_chromium() -> str | None:
    """Path of a headless-capable Chromium, or None. ``SALESNB_CHROMIUM`` overrides."""
    env = os.environ.get("SALESNB_CHROMIUM")
    if env:
        return env if Path(env).exists() or shutil.which(env) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def require_chromium() -> str:
    """Path of Chromium, or a :class:`RenderError` explaining how to install it."""
    path = find_chromium()
    if path is None:
        msg = (
            "PDF output needs a headless Chromium browser, and none was found on PATH "
            "(looked for chromium, chromium-browser, google-chrome). Fix: on Debian/Ubuntu run "
            "`sudo apt-get update && sudo apt-get install -y chromium`, or set SALESNB_CHROMIUM "
            "to the browser's path, or drop --format pdf."
        )
        raise RenderError(msg)
    return path


def _draws_in_browser(html_path: str | Path) -> bool:
    try:
        with open(html_path, encoding="utf-8", errors="replace") as f:
            return 'class="chart vega"' in f.read()
    except OSError:
        return False


def html_to_pdf(html_path: str | Path, pdf_path: str | Path, *, timeout: float = 120.0) -> Path:
    """Print an HTML file to PDF with headless Chromium (no network, throw-away profile).

    Parameters
    ----------
    html_path, pdf_path : path
        Input HTML file and the PDF to write (written by Chromium; callers that
        need atomicity pass a temporary name and rename it).
    timeout : float
        Seconds before the browser is killed.

    Examples
    --------
    >>> html_to_pdf("reports/r01.html", "reports/r01.pdf")  # doctest: +SKIP
    """
    browser = require_chromium()
    pdf_path = Path(pdf_path).resolve()
    with tempfile.TemporaryDirectory(prefix="salesnb-chromium-") as profile:
        cmd = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-dev-shm-usage",
            "--no-pdf-header-footer",
            f"--user-data-dir={profile}",
            f"--print-to-pdf={pdf_path}",
            Path(html_path).resolve().as_uri(),
        ]
        if _draws_in_browser(html_path):  # let the inlined Vega draw before printing
            cmd.insert(1, "--virtual-time-budget=15000")
        try:
            proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            msg = (
                f"Chromium did not finish printing {str(html_path)!r} within {timeout:.0f} s. "
                "Fix: retry, or raise the timeout."
            )
            raise RenderError(msg) from None
    if proc.returncode != 0 or not pdf_path.exists() or pdf_path.stat().st_size == 0:
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        msg = (
            f"Chromium failed to print {str(html_path)!r} to PDF (exit {proc.returncode}): "
            f"{' | '.join(tail)!r}. Fix: check that `{browser} --headless` runs on this machine."
        )
        raise RenderError(msg)
    return pdf_path


#: Files a document may carry beside it (:mod:`salesnb.reports.rollup`): a plain name, no folder.
_ATTACHMENT_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,150}\.csv\Z")


def attachments(nb: Mapping[str, Any]) -> dict[str, str]:
    """Files an executed notebook's outputs ask to be written beside its document.

    Outputs carry them as ``metadata["salesnb"]["files"]`` (``{name: text}``, see
    :class:`salesnb.reports.rollup.Attached`). Only plain ``.csv`` names are kept: nothing in a
    notebook can write outside the document's folder.

    Examples
    --------
    >>> out = {"output_type": "display_data", "data": {}, "metadata": {"salesnb": {"files":
    ...        {"team-attention.csv": "a,b\\n", "../x.csv": "no"}}}}
    >>> attachments({"cells": [{"cell_type": "code", "outputs": [out]}]})
    {'team-attention.csv': 'a,b\\n'}
    """
    found: dict[str, str] = {}
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            files = ((output.get("metadata") or {}).get("salesnb") or {}).get("files") or {}
            for name, text in files.items() if isinstance(files, Mapping) else []:
                if isinstance(text, str) and _ATTACHMENT_NAME.match(str(name)):
                    found[str(name)] = text
    return found


def write_attachments(ipynb: str | Path, folder: str | Path) -> list[Path]:
    """Write :func:`attachments` of the executed notebook ``ipynb`` into ``folder``.

    Each file is written whole to a temporary name, then renamed into place. Returns the
    paths written.

    Examples
    --------
    >>> write_attachments("out/west.ipynb", "out")  # doctest: +SKIP
    [PosixPath('out/pipeline-review-west-attention.csv')]
    """
    import json

    nb = json.loads(Path(ipynb).read_text(encoding="utf-8"))
    written = []
    for name, text in attachments(nb).items():
        path = Path(folder) / name
        tmp = path.with_name(f".{name}.{secrets.token_hex(4)}.tmp")
        tmp.write_text(text, encoding="utf-8", newline="")
        os.replace(tmp, path)
        written.append(path)
    return written
