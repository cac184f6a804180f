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
import html as htmllib
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

from salesnb.errors import RenderError
from salesnb.record import MIMETYPES, collect

TEMPLATES = Path(
    os.environ.get("SALESNB_TEMPLATES", Path(__file__).resolve().parents[1] / "templates")
)

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
_URL_ATTRS = ("src", "href", "srcset", "xlink:href", "action", "poster")
_EXTERNAL = re.compile(r"""(?:https?:)?//""", re.IGNORECASE)
_CSS_REMOTE = re.compile(r"@import[^;]*;?|url\(\s*['\"]?\s*(?:https?:)?//[^)]*\)", re.IGNORECASE)
# Anything that could need the parse in offline_html: elements it drops, event handlers, any
# URL-bearing attribute (but a link to a place in the page), url()/@import, script schemes,
# markup that could swallow the rest of the page. Searched in the text and in its unescaped
# form (a character reference can spell any of these). Deliberately broad: a false alarm only
# costs the parse.
_RISKY = re.compile(
    r"<\s*/?\s*(?:script|iframe|object|embed|base|link|meta|form|frame|applet|svg:script"
    r"|textarea|title|noscript|template|xmp|plaintext|noembed|noframes)\b|<!"
    r"|javascript|vbscript|\bon[a-z]+\s*="
    r"|\b(?:src|srcset|action|formaction|poster|data|background)\s*="
    # a link within the page (a heading's anchor: every markdown heading has one) is safe
    r"|\bhref\s*=(?!\s*[\"']?#)"
    r"|url\(\s*['\"]?\s*(?!#)|@import|&\{",
    re.IGNORECASE,
)


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
        ``alt``. And
        disabled preprocessors are dropped, since the base exporter validates the notebook
        after every registered one, enabled or not. The test suite checks the output
        against the stock exporter's.
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

        def _init_preprocessors(self) -> None:
            super()._init_preprocessors()
            self._preprocessors = [p for p in self._preprocessors if p.enabled]

        def _preprocess(self, nb: Any, resources: Any) -> tuple[Any, Any]:
            # As Exporter._preprocess, minus its own deep copy of the notebook (it is handed
            # one already, and normalize copies it again) and validating after each step:
            # the result is validated once, after the last (optimistic_validation).
            from nbformat import validator

            resc = copy.deepcopy(resources)
            _, nbc = validator.normalize(nb)
            for preprocessor in self._preprocessors:
                nbc, resc = preprocessor(nbc, resc)
            if self._preprocessors:
                self._validate_preprocessor(nbc, self._preprocessors[-1])
            return nbc, resc

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

    from salesnb.vegabundle import cache_dir

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
    exporter = cls(extra_template_basedirs=[template_dir], template_name="review",
                   exclude_input=True)  # fmt: skip
    exporter.register_filter("offline", offline_html)
    exporter.register_filter("script_json", script_json)
    return exporter


def offline_html(fragment: str) -> str:
    """Remove scripts, event handlers and external references from an HTML fragment.

    Documents must open with no network and run no code; a notebook output that
    embeds a CDN script (a Vega-Embed chart, a widget) loses it here.

    Examples
    --------
    >>> offline_html('<p onclick="x()">a</p><script src="https://cdn/x.js"></script>')
    '<p>a</p>'
    """
    if _RISKY.search(fragment) or ("&" in fragment and _RISKY.search(htmllib.unescape(fragment))):
        return _sanitise(fragment)
    return fragment  # nothing the parse would change: most charts, tables and prose


def _sanitise(fragment: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(fragment, "html.parser")
    # meta: a refresh would navigate away on open
    for tag in soup.find_all(["script", "iframe", "object", "embed", "base", "meta"]):
        tag.decompose()
    for tag in soup.find_all(True):
        for attr in list(tag.attrs):
            value = tag.attrs[attr]
            text = (" ".join(value) if isinstance(value, list) else str(value)).strip()
            # browsers ignore whitespace and control characters inside a URL's scheme
            scheme = re.sub(r"[\x00-\x20]", "", text).lower()
            remote = _EXTERNAL.match(text) or scheme.startswith(("javascript:", "vbscript:"))
            if attr.lower().startswith("on") or (attr.lower() in _URL_ATTRS and remote):
                del tag.attrs[attr]
            elif attr.lower() == "style":
                tag.attrs[attr] = _CSS_REMOTE.sub("", text)
        if tag.name == "link":
            tag.decompose()
    for style in soup.find_all("style"):
        style.string = _CSS_REMOTE.sub("", style.get_text())
    return str(soup)


#: Stands for the Vega bundle while a page is rendered and checked; random, so no content
#: can contain it.
_BUNDLE_MARK: Final = f"/*salesnb-vega-bundle-{secrets.token_hex(16)}*/"


def external_references(html: str) -> list[str]:
    """Every reference in ``html`` that would reach the network (empty for an offline document).

    Looks at ``src``/``href`` of script, link, img, iframe, source, audio and video
    elements and at CSS ``url()`` and ``@import``.

    Examples
    --------
    >>> external_references('<img src="http://x/a.png"><a href="https://ok.example">ok</a>')
    ['<img src=http://x/a.png>']
    """
    found = []
    pat = re.compile(
        r"<(script|link|img|iframe|source|audio|video|embed|object)\b[^>]*?"
        r"\b(src|href|data|srcset)\s*=\s*[\"']?((?:https?:)?//[^\"'\s>]+)",
        re.IGNORECASE,
    )
    found += [f"<{m.group(1)} {m.group(2)}={m.group(3)}>" for m in pat.finditer(html)]
    found += re.findall(r"url\(\s*['\"]?(?:https?:)?//[^)]*\)", html, flags=re.IGNORECASE)
    found += re.findall(r"@import\s+[^;]+;", html, flags=re.IGNORECASE)
    found += re.findall(r"<script\b[^>]*\bsrc\s*=", html, flags=re.IGNORECASE)
    return found


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
        Used when the notebook did not call :func:`salesnb.record.title`.
    template_dir : path, optional
        A folder holding a ``review`` nbconvert template (default: ``templates/``).

    Examples
    --------
    >>> html = to_html(executed_nb, document_title="Pipeline review")  # doctest: +SKIP
    """
    head, tail = _page(nb, document_title, subject_name, template_dir)
    if tail is None:
        return head
    from salesnb import vegabundle

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
    from salesnb import vegabundle

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
        from salesnb import vegabundle

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
