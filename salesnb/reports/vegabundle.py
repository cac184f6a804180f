"""The Vega runtime inlined in review documents made with the ``"vega"`` chart format.

A document draws its charts in the browser from the Vega-Lite specs it carries, with Vega
and Vega-Lite (through Vega-Embed) inlined in the page (no network). The JavaScript comes from
vl-convert's bundler (the same Vega versions that draw the SVG charts), about 0.9 MB. Bundling takes
2-3 s, so the result is cached on disk per vl-convert version, and it is made in a
subprocess: vl-convert's runtime owns threads, and a process that forks documents must never
have warmed it.

The init script (:data:`INIT_JS`) draws every ``figure.chart.vega`` of the page as SVG and
marks it ``data-rendered="true"`` (or writes why it could not).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Final

from salesnb.core.errors import RenderError
from salesnb.core.files import cache_dir

#: What the bundle exposes: ``salesnbDraw(spec, element)``, which :data:`INIT_JS` calls. The
#: bundler keeps only what the snippet uses, so the drawing code lives here.
#: (Through Vega-Embed: the bundler's plain ``vega``/``vegaLite`` bindings come out null.)
#: The spec's ``$schema`` is dropped: the bundled versions are the ones to use, and Vega-Embed
#: would warn that they differ from it.
SNIPPET: Final = """window.salesnbDraw = function (spec, element) {
  const own = Object.assign({}, spec);
  delete own["$schema"];
  return vegaEmbed(element, own, {renderer: "svg", actions: false, hover: false});
};"""

#: Draws each chart figure of the page from its embedded spec.
INIT_JS: Final = """(function () {
  "use strict";
  var figures = document.querySelectorAll("figure.chart.vega");
  Array.prototype.forEach.call(figures, function (fig) {
    var target = fig.querySelector(".vega-target");
    function fail(e) {
      target.textContent = "This chart could not be drawn: " + (e && e.message ? e.message : e);
      fig.setAttribute("data-rendered", "error");
    }
    try {
      var spec = JSON.parse(fig.querySelector("script[type='application/json']").textContent);
      window.salesnbDraw(spec, target).then(function () {
        fig.setAttribute("data-rendered", "true");
      }, fail);
    } catch (e) { fail(e); }
  });
})();"""

_MEMORY: dict[str, tuple[str, bytes]] = {}  # key -> the bundle as text and as UTF-8


def _vl_convert_version() -> str:
    """vl-convert-python's version, from its dist-info folder's name when that is beside it.

    ``importlib.metadata.version`` reads every installed distribution's metadata to find one
    (about 12 ms, on a batch's critical path); the folder next to the package says the same.
    """
    import importlib.util
    from importlib.metadata import PackageNotFoundError, version

    spec = importlib.util.find_spec("vl_convert")
    if spec is not None and spec.origin:
        site = Path(spec.origin).resolve().parent.parent
        found = sorted(site.glob("vl_convert_python-*.dist-info"))
        if len(found) == 1:
            return found[0].name[len("vl_convert_python-") : -len(".dist-info")]
    try:
        return version("vl-convert-python")
    except PackageNotFoundError:  # pragma: no cover - a dependency
        return "unknown"


@functools.cache
def _key() -> str:
    return hashlib.sha256(f"{_vl_convert_version()}\n{SNIPPET}".encode()).hexdigest()[:16]


def _build() -> str:
    # vl-convert's default Vega-Lite: the one that draws the SVG charts too
    code = "import sys, vl_convert as v; sys.stdout.write(v.javascript_bundle(sys.argv[1]))"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code, SNIPPET],
            capture_output=True, text=True, encoding="utf-8", timeout=300, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise RenderError("Bundling Vega took over 300 s. Fix: retry.") from None
    if proc.returncode != 0 or "salesnbDraw" not in proc.stdout:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        msg = (
            f"Could not bundle the Vega runtime with vl-convert: {tail}. Fix: reinstall "
            "vl-convert-python, or use the svg chart format."
        )
        raise RenderError(msg)
    return proc.stdout


def vega_bundle_bytes() -> bytes:
    """:func:`vega_bundle` encoded as UTF-8, once per process (a document's bytes include it)."""
    vega_bundle()
    return _MEMORY[_key()][1]


def vega_bundle() -> str:
    """The JavaScript that defines ``salesnbDraw``, from memory, disk or a build.

    Safe to inline in a ``<script>`` element (checked: no ``</script`` or ``<!--``).

    Examples
    --------
    >>> "salesnbDraw" in vega_bundle()   # doctest: +SKIP
    True
    """
    key = _key()
    if key in _MEMORY:
        return _MEMORY[key][0]
    path = cache_dir() / f"vega-bundle-{key}.js"
    try:
        js = path.read_text(encoding="utf-8")
    except OSError:
        js = _build()
        from salesnb.core.files import atomic_write

        try:  # atomic: documents built at once may race to write it
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, js.encode("utf-8"))
        except OSError:
            pass  # a read-only home: build again next time
    # checked here, once: documents insert it after checking the rest of the page; a bundle
    # that passed is remembered by its hash (hashing is a tenth of checking it again)
    data = js.encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()
    passed = path.with_name(path.name + ".checked")
    try:
        known = passed.read_text(encoding="ascii").strip() == digest
    except OSError:
        known = False
    if not known:
        from salesnb.reports.offlinecheck import external_references

        low = js.lower()
        if "</script" in low or "<!--" in low or external_references(js):
            msg = f"The Vega bundle {path} cannot be inlined safely. Fix: delete it and retry."
            raise RenderError(msg)
        with contextlib.suppress(OSError):
            passed.write_text(digest, encoding="ascii")
    _MEMORY[key] = (js, data)
    return js
