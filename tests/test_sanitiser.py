"""The allowlist sanitiser (``render.offline_html``) against a hostile corpus, and control
characters in documents.

Each payload goes through the sanitiser; the result is parsed with Python's ``html.parser``
(as a browser would: character references decoded) and must hold only allowed elements, no
event handler, no script or data URL (a raster image aside), no CSS that loads or runs
anything, no comment. The payloads follow the OWASP XSS filter evasion cheat sheet's classes,
the SVG/MathML and form-attribute vectors, ``srcdoc``, ``data:`` URLs, CSS expressions and the
mutation-XSS (mXSS) tricks. A few of them also run in headless Chromium, in a real document,
where a script that ran would leave its mark in the page.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from salesnb.batch import documents as batch
from salesnb.reports import render

ROOT = Path(__file__).resolve().parents[1]

#: What a document may hold from a notebook: prose, tables and the static SVG of charts
#: (written out here as the specification, not taken from the module under test).
ALLOWED = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd",
    "del", "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s",
    "samp", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td",
    "tfoot", "th", "thead", "time", "tr", "u", "ul", "var", "wbr",
    "svg", "g", "path", "rect", "circle", "ellipse", "line", "polyline", "polygon", "text",
    "tspan", "defs", "clippath", "lineargradient", "radialgradient", "stop",
}  # fmt: skip
#: Attributes whose value is a URL (or becomes one: SVG animation writes ``values`` into
#: ``href``) in some element of HTML, SVG or MathML.
URL_ATTRS = {
    "href", "src", "xlink:href", "action", "formaction", "data", "poster", "srcset",
    "background", "values", "to", "from", "by", "dynsrc", "lowsrc", "codebase", "cite",
    "longdesc", "usemap", "ping", "manifest", "icon", "srcdoc", "content",
}  # fmt: skip

PAYLOADS = {
    # -- plain script and event handlers (OWASP: basic, case games, malformed tags)
    "script": "<script>alert(1)</script>",
    "script-case": "<ScRiPt>alert(1)</sCrIpT>",
    "script-src": '<script src="https://cdn.example/x.js"></script>',
    "script-slash-attr": '<script/xss src="https://x/x.js"></script>',
    "script-unclosed": "<script>alert(1)",
    "script-in-script": "<<script>script>alert(1)<</script>/script>",
    "img-onerror": "<img src=x onerror=alert(1)>",
    "img-onerror-case": "<IMG SRC=x OnErRoR=alert(1)>",
    "img-onerror-slash": "<img/src=x/onerror=alert(1)>",
    "img-onerror-backtick": "<img src=`x`onerror=alert(1)>",
    "img-unquoted-malformed": '<IMG """><SCRIPT>alert(1)</SCRIPT>">',
    "img-js-src": '<IMG SRC="javascript:alert(1);">',
    "img-js-entities-dec": "<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)>",
    "img-js-entities-padded": "<IMG SRC=&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105&#0000112&#0000116&#0000058alert(1)>",
    "img-js-entities-hex": "<IMG SRC=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A;alert(1)>",
    "img-js-tab": '<IMG SRC="jav\tascript:alert(1);">',
    "img-js-encoded-tab": '<IMG SRC="jav&#x09;ascript:alert(1);">',
    "img-js-newline": '<IMG SRC="jav&#x0A;ascript:alert(1);">',
    "img-js-leading-space": '<IMG SRC=" &#14;  javascript:alert(1);">',
    "img-js-null": '<IMG SRC="java\x00script:alert(1);">',
    "img-dynsrc-lowsrc": '<IMG DYNSRC="javascript:alert(1)"><IMG LOWSRC="javascript:alert(1)">',
    "img-srcset": '<img srcset="https://x/a.png 1x, javascript:alert(1) 2x">',
    "body-onload": "<body onload=alert(1)>",
    "details-ontoggle": "<details open ontoggle=alert(1)><summary>s</summary></details>",
    "div-onpointer": '<div onpointerover="alert(1)" onmouseover=alert(1)>hover</div>',
    "handler-no-space": '<a href="#x"onclick="alert(1)">x</a>',
    "handler-newline": "<p\nonclick\n=\nalert(1)>x</p>",
    "marquee": "<marquee onstart=alert(1)>x</marquee>",
    "video-source": "<video><source onerror=alert(1)></video>",
    "audio-src": "<audio src=x onerror=alert(1)></audio>",
    "input-autofocus": "<input autofocus onfocus=alert(1)>",
    "bgsound": '<BGSOUND SRC="javascript:alert(1);">',
    "table-background": '<TABLE BACKGROUND="javascript:alert(1)"><TD BACKGROUND="javascript:alert(1)">',
    # -- links and URL schemes
    "a-js": '<a href="javascript:alert(1)">x</a>',
    "a-js-case": '<a href="JaVaScRiPt:alert(1)">x</a>',
    "a-js-entity-colon": '<a href="javascript&colon;alert(1)">x</a>',
    "a-js-hex-entities": '<a href="&#x6A;avascript&#x3A;alert(1)">x</a>',
    "a-js-leading-controls": '<a href="\x01\x02 javascript:alert(1)">x</a>',
    "a-vbscript": '<a href="vbscript:msgbox(1)">x</a>',
    "a-data-html": '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    "a-data-html-spaced": '<a href=" data:text/html,<script>alert(1)</script>">x</a>',
    "a-target-blank": '<a href="https://example.org" target="_blank">x</a>',
    "a-ping": '<a href="#x" ping="https://x/track">x</a>',
    "a-unc-share": '<a href="\\\\evil.example\\share\\doc">x</a>',
    "a-protocol-relative": '<a href="//evil.example/share/doc">x</a>',
    "img-unc-share": '<img src="\\\\evil.example\\share\\a.png">',
    "base-href": '<base href="javascript:alert(1)//">',
    "meta-refresh": '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "meta-refresh-data": '<META HTTP-EQUIV="refresh" CONTENT="0;url=data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg">',
    "link-import": '<link rel="import" href="https://x/evil.html">',
    "link-stylesheet": '<link rel=stylesheet href="javascript:alert(1)">',
    # -- frames and embedding
    "iframe-js": '<iframe src="javascript:alert(1)"></iframe>',
    "iframe-srcdoc": '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    "iframe-srcdoc-entities": '<iframe srcdoc="&lt;img src=x onerror=alert(1)&gt;"></iframe>',
    "frameset": '<frameset><frame src="javascript:alert(1)"></frameset>',
    "object-data": '<object data="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="></object>',
    "object-param": '<object><param name="src" value="javascript:alert(1)"></object>',
    "embed-src": '<embed src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
    "embed-swf": '<EMBED SRC="https://x/xss.swf" AllowScriptAccess="always"></EMBED>',
    "applet": '<applet code="X.class" codebase="https://x/"></applet>',
    "portal": '<portal src="https://x/"></portal>',
    # -- forms
    "form-action": '<form action="javascript:alert(1)"><input type=submit></form>',
    "button-formaction": '<form><button formaction="javascript:alert(1)">Send</button></form>',
    "button-formaction-bare": '<button formaction="javascript:alert(1)">Send</button>',
    "input-formaction": '<input type="submit" formaction="javascript:alert(1)" value="go">',
    "isindex": "<isindex type=image src=1 onerror=alert(1)>",
    "textarea-breakout": "<textarea></textarea><script>alert(1)</script>",
    # -- SVG
    "svg-onload": "<svg onload=alert(1)>",
    "svg-onload-slash": "<svg/onload=alert(1)><text>x</text></svg>",
    "svg-script": "<svg><script>alert(1)</script></svg>",
    "svg-script-href": '<svg><script xlink:href="data:,alert(1)"></script></svg>',
    "svg-animate-href": '<svg><a><animate attributeName="href" values="javascript:alert(1)"/><text x="20" y="20">Click</text></a></svg>',
    "svg-animate-xlink": '<svg><a xlink:href="#"><animate attributeName="xlink:href" values="javascript:alert(1)"/><text>x</text></a></svg>',
    "svg-set-href": '<svg><a><set attributeName="href" to="javascript:alert(1)"/><text>x</text></a></svg>',
    "svg-set-onload": '<svg><set attributeName="onload" to="alert(1)"/></svg>',
    "svg-animate-onbegin": "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    "svg-a-xlink-js": '<svg><a xlink:href="javascript:alert(1)"><text x="1" y="9">x</text></a></svg>',
    "svg-a-href-js": '<svg><a href="javascript:alert(1)"><rect width="9" height="9"/></a></svg>',
    "svg-use-external": '<svg><use href="data:image/svg+xml;base64,PHN2ZyBpZD0ieCIgb25sb2FkPSJhbGVydCgxKSIvPg==#x"/></svg>',
    "svg-image": '<svg><image href="https://x/a.png" onerror="alert(1)"/></svg>',
    "svg-foreignobject": "<svg><foreignObject><iframe srcdoc='<script>alert(1)</script>'></iframe></foreignObject></svg>",
    "svg-fill-url-remote": '<svg><rect width="9" height="9" fill="url(https://x/p.svg#g)"/></svg>',
    "svg-fill-url-escaped": '<svg><rect width="9" height="9" fill="\\75rl(https://x/p.svg#g)"/></svg>',
    "svg-style-element": "<svg><style>@import url(https://x/a.css);</style><rect/></svg>",
    "svg-handler-case": "<svg><g OnClick=alert(1)><rect/></g></svg>",
    "svg-xmlns-trick": '<svg xmlns="http://www.w3.org/1999/xhtml"><img src=x onerror=alert(1)></svg>',
    # -- MathML
    "math-maction": '<math><maction actiontype="statusline" xlink:href="javascript:alert(1)">CLICKME<mtext>http://x</mtext></maction></math>',
    "math-href": '<math href="javascript:alert(1)">CLICKME</math>',
    "math-mglyph-style": "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "math-mi-xlink": '<math><mi xlink:href="data:x,<script>alert(1)</script>">x</mi></math>',
    # -- CSS
    "style-attr-url-js": '<div style="background:url(javascript:alert(1))">x</div>',
    "style-attr-url-remote": "<div style=\"background-image: url('https://x/track.png')\">x</div>",
    "style-attr-expression": '<div style="width: expression(alert(1));">x</div>',
    "style-attr-expression-comment": '<div style="xss:expr/*XSS*/ession(alert(1))">x</div>',
    "style-attr-escaped-url": '<div style="background:\\75 rl(https://x/a.png)">x</div>',
    "style-attr-behavior": '<div style="behavior: url(xss.htc);">x</div>',
    "style-attr-moz-binding": '<div style="-moz-binding: url(https://x/xss.xml#xss)">x</div>',
    "style-attr-import": "<div style=\"@import 'https://x/a.css'\">x</div>",
    "style-attr-overlay": '<div style="position:fixed;top:0;left:0;width:100%;height:100%;z-index:9">fake</div>',
    "style-element-import": "<style>@import 'https://x/a.css';</style>",
    "style-element-url": "<style>body{background:url(https://x/a.png)}</style>",
    "style-element-hide-page": "<style>.title-block{display:none}</style>",
    # -- comments, CDATA, mutation XSS
    "comment-unclosed": "<!-- an unclosed comment would hide the rest of the page",
    "comment-conditional": "<!--[if gte IE 4]><script>alert(1)</script><![endif]-->",
    "comment-in-attribute": '<p title="--><img src=x onerror=alert(1)>">x</p>',
    "cdata-svg": "<svg><![CDATA[><img src=x onerror=alert(1)>]]></svg>",
    "noscript-mxss": '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    "template-mxss": "<template><script>alert(1)</script></template>",
    "template-nested": "<template><template><img src=x onerror=alert(1)></template></template>",
    "xmp-mxss": '<xmp><p title="</xmp><img src=x onerror=alert(1)>">',
    "noembed-mxss": '<noembed><p title="</noembed><img src=x onerror=alert(1)>"></noembed>',
    "title-mxss": "<title><img src=x onerror=alert(1)></title>",
    "select-mxss": "<select><template><style><img src=x onerror=alert(1)></style></template></select>",
    "form-nest-mxss": "<form><math><mtext></form><form><mglyph><style></math><img src onerror=alert(1)>",
    "plaintext": "<plaintext><script>alert(1)</script>",
    "namespace-confusion": '<svg></p><style><a id="</style><img src=1 onerror=alert(1)>">',
    "entity-spelled-tag": "&lt;script&gt;alert(1)&lt;/script&gt; is text",
    "dom-clobber-name": '<img name="salesnbDraw"><form name="x"><input name="attributes"></form>',
}


class Parsed(HTMLParser):
    """Elements with decoded attributes, comments and declarations of a fragment."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.other: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_comment(self, data):
        self.other.append(f"comment {data[:40]!r}")

    def handle_decl(self, decl):
        self.other.append(f"declaration {decl[:40]!r}")

    def handle_pi(self, data):
        self.other.append(f"processing instruction {data[:40]!r}")

    def unknown_decl(self, data):
        self.other.append(f"declaration {data[:40]!r}")


def _flat(value: str) -> str:
    """A URL as browsers read its scheme: controls and whitespace dropped, lower case."""
    return re.sub(r"[\x00-\x20\x7f]", "", value).lower()


def problems(html: str) -> list[str]:
    """Every way ``html`` (a sanitised fragment) could run code or reach beyond the page."""
    page = Parsed(html)
    found = list(page.other)
    for tag, attrs in page.elements:
        if tag not in ALLOWED:
            found.append(f"element <{tag}> is not allowed")
        for name, value in attrs.items():
            flat = _flat(value)
            if name.startswith("on"):
                found.append(f"event handler {name} on <{tag}>")
            if re.search(r"(?:java|vb|live)script:", flat):
                found.append(f"script URL in <{tag} {name}>")
            if name in URL_ATTRS and re.match(r"[/\\]{2}", flat):
                found.append(f"network share or protocol-relative URL in <{tag} {name}>")
            if name in URL_ATTRS:
                raster = (
                    tag == "img"
                    and name == "src"
                    and re.match(r"data:image/(png|jpeg|gif|webp);base64,", flat)
                )
                if flat.startswith("data:") and not raster:
                    found.append(f"data: URL in <{tag} {name}>")
                if name != "href" and re.match(r"(https?:)?//", flat):
                    found.append(f"remote resource in <{tag} {name}>")
            if name not in ("href", "src", "title", "alt") and not name.startswith("aria-"):
                # every other value could be read as CSS (style, SVG presentation attributes)
                for target in re.findall(r"url\s*\(\s*['\"]?([^)'\"]*)", flat):
                    if not target.startswith("#"):
                        found.append(f"url({target}) in <{tag} {name}>")
                if re.search(r"\\|/\*|expression|behavior|-moz-binding|@import", flat):
                    found.append(f"active CSS in <{tag} {name}>: {value[:40]!r}")
                if re.search(r"position:(fixed|absolute|sticky)", flat):
                    found.append(f"content lifted out of its place by <{tag} {name}>")
            if name in ("target", "srcdoc", "formaction", "action", "http-equiv", "name"):
                found.append(f"attribute {name} on <{tag}>")
    found += [f"external reference {r}" for r in render.external_references(html)]
    return found


@pytest.mark.parametrize("payload", list(PAYLOADS.values()), ids=list(PAYLOADS))
def test_hostile_markup_leaves_nothing_that_can_run_or_load(payload):
    cleaned = render.offline_html(payload)
    assert problems(cleaned) == [], cleaned
    # stable: what a browser would make of the output cleans to itself (no mutation left)
    assert render.offline_html(cleaned) == cleaned


#: Payloads the checks above pass as written: harmless text, or markup Python's html.parser
#: reads differently from a browser (a slash or backtick between attributes, a comment left
#: open). A browser-grade parser (html5ever, inside nh3) is what the sanitiser relies on.
PARSER_BLIND = {
    "entity-spelled-tag", "comment-in-attribute", "comment-unclosed", "img-onerror-slash",
    "img-onerror-backtick",
}  # fmt: skip


def test_the_checks_catch_the_payloads_as_written():
    # so that the test above can fail: the checks trip on every other payload unsanitised
    assert len(PAYLOADS) >= 100
    assert {k for k, p in PAYLOADS.items() if not problems(p)} == PARSER_BLIND


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        (PAYLOADS["button-formaction"], "Send"),
        (PAYLOADS["svg-animate-href"], "Click"),
        (PAYLOADS["math-maction"], ""),  # MathML goes whole: no namespace confusion
        (PAYLOADS["form-action"], ""),
        (PAYLOADS["iframe-srcdoc"], ""),
        (
            '<table><tr><td>Acme<button formaction="javascript:1">Buy</button></td></tr></table>',
            "AcmeBuy",
        ),
        (PAYLOADS["style-attr-overlay"], "fake"),
        (PAYLOADS["entity-spelled-tag"], "<script>alert(1)</script> is text"),
        (PAYLOADS["a-js"], "x"),
    ],
)
def test_text_of_dropped_markup_is_kept_as_text(payload, text):
    class Text(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.chunks: list[str] = []

        def handle_data(self, data):
            self.chunks.append(data)

    parser = Text()
    parser.feed(render.offline_html(payload))
    assert "".join(parser.chunks) == text


def test_what_is_dropped_and_what_is_kept_in_detail():
    clean = render.offline_html
    assert clean('<a href="javascript:alert(1)">x</a>') == "<a>x</a>"
    assert clean('<a href="https://example.org/a?b=1">x</a>') == (
        '<a href="https://example.org/a?b=1">x</a>'
    )  # links may leave the page: a reader clicks them, nothing loads on its own
    assert (
        clean('<a href="mailto:ana@example.org">x</a>') == '<a href="mailto:ana@example.org">x</a>'
    )
    assert clean('<a href="#Velocity">x</a>') == '<a href="#Velocity">x</a>'
    assert clean('<a href="other.html">x</a>') == '<a href="other.html">x</a>'
    png = "data:image/png;base64,iVBORw0KGgo="
    assert clean(f'<img src="{png}" alt="logo">') == f'<img src="{png}" alt="logo">'
    assert clean('<img src="https://x/a.png" alt="a">') == '<img alt="a">'
    assert clean('<img src="//x/a.png">') == "<img>"
    assert clean('<img src="data:image/svg+xml,<svg onload=alert(1)>">') == "<img>"
    cell = '<table><tr><td style="min-width:28em;border-bottom:1px solid #999">x</td></tr></table>'
    assert clean(cell) == (
        '<table><tbody><tr><td style="min-width:28em;border-bottom:1px solid #999">x</td></tr>'
        "</tbody></table>"
    )  # (a browser adds the tbody too)
    assert clean('<p style="color:red;position:fixed;z-index:9">x</p>') == (
        '<p style="color:red">x</p>'
    )  # no property that can lift content out of its place (overlaying the title block)
    assert (
        clean('<svg><rect fill="url(#grad)"/></svg>')
        == '<svg><rect fill="url(#grad)"></rect></svg>'
    )
    assert clean('<svg><rect fill="url(https://x/g.svg#g)"/></svg>') == "<svg><rect></rect></svg>"


# --------------------------------------------------------------------------- the kit's own


def test_pandas_tables_and_markdown_headings_survive_unchanged():
    import pandas as pd

    frame = pd.DataFrame({"rep": ["Ana & <Bo>", "Zoë"], "won": [1200.5, 0.0]})
    table = frame.to_html()
    cleaned = render.offline_html(table)

    def normal(elements):  # CSS declarations are written back without spaces
        return [
            (t, {k: re.sub(r"\s|;$", "", v) if k == "style" else v for k, v in a.items()})
            for t, a in elements
        ]

    assert normal(Parsed(cleaned).elements) == normal(Parsed(table).elements)
    assert ("tr", {"style": "text-align:right"}) in Parsed(cleaned).elements
    assert "Ana &amp; &lt;Bo&gt;" in cleaned
    # a notebook's rich table output: pandas writes its rules in a <style> the sanitiser
    # drops; review.css holds the same rules
    rich = frame._repr_html_()
    assert "<style" in rich and "<style" not in render.offline_html(rich)
    css = (render.TEMPLATES / "review" / "review.css").read_text(encoding="utf-8")
    for rule in re.findall(r"(\.dataframe[^{]*)\{\s*([^}]*?);?\s*\}", rich):
        selector, body = " ".join(rule[0].split()), " ".join(rule[1].split())
        assert f"{selector} {{ {body}; }}" in css, selector


def _chart_svg() -> str:
    """An SVG chart as the kit draws them (salesnb.reports.charts, through vl-convert)."""
    pytest.importorskip("vl_convert")
    import pandas as pd

    from salesnb.reports import chartrender, charts

    frame = pd.DataFrame({"stage": ["Qualify", "Propose", "Close"], "count": [30, 12, 5]})
    chart = charts.funnel(frame, title="Pipeline <b>by</b> stage & more")
    return chartrender.svg_from_spec(chart.to_dict())


def test_a_chart_the_kit_draws_keeps_every_element_attribute_and_text():
    svg = _chart_svg()
    cleaned = render.offline_html(svg)
    before, after = Parsed(svg), Parsed(cleaned)
    assert len(before.elements) > 20
    # the same elements with the same attributes, but the XML namespace declarations an
    # HTML page ignores anyway
    xmlns = ("xmlns:xlink",)
    assert after.elements == [
        (t, {k: v for k, v in a.items() if k not in xmlns}) for t, a in before.elements
    ]
    assert "Pipeline <b>by</b> stage &amp; more" not in cleaned  # still text, escaped
    assert "Pipeline &lt;b&gt;by&lt;/b&gt; stage &amp; more" in cleaned
    assert problems(cleaned) == []


# --------------------------------------------------------------------------- in a browser


def _document(fragments: list[str]) -> str:
    cells = [new_markdown_cell("## Outputs")]
    for i, html in enumerate(fragments):
        cell = new_code_cell(f"x{i}")
        cell.outputs = [new_output("display_data", data={"text/html": html, "text/plain": "-"})]
        cells.append(cell)
    nb = new_notebook(cells=cells)
    nb.metadata["language_info"] = {"name": "python"}
    return render.to_html(nb, document_title="Review", subject_name="Ana")


#: Payloads that would run on their own when a page opens, each leaving a mark if it runs.
MARK = "document.title='PWN'+'ED'"
RUN_ON_OPEN = [
    f'<img src=x onerror="{MARK}">',
    f'<svg onload="{MARK}"><rect/></svg>',
    f'<details open ontoggle="{MARK}"><summary>s</summary></details>',
    f'<iframe srcdoc="<script>parent.{MARK}</script>"></iframe>',
    f'<object data="data:text/html,<script>parent.{MARK}</script>"></object>',
    f'<svg><animate onbegin="{MARK}" attributeName=x dur=1s></animate></svg>',
    f'<noscript><p title="</noscript><img src=x onerror={MARK.replace(" ", "")}>"></noscript>',
    f'<input autofocus onfocus="{MARK}">',
    f'<svg><set attributeName=onload to="{MARK}"/></svg>',
    f'<img/src=x/onerror="{MARK}">',
    f'<img src=`x`onerror="{MARK}">',
]


def _dom_after_open(page: Path) -> str:
    chromium = render.find_chromium()
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", f"--user-data-dir={profile}",
             "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert out.returncode == 0, out.stderr[-500:]
    return out.stdout


@pytest.mark.slow
def test_no_hostile_payload_runs_in_a_browser(tmp_path):
    if render.find_chromium() is None or shutil.which("chromium") is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    # the harness sees a script that runs: the same payloads, unsanitised, mark the page
    raw = tmp_path / "raw.html"
    raw.write_text("<!DOCTYPE html><title>t</title>" + "".join(RUN_ON_OPEN), encoding="utf-8")
    assert "PWNED" in _dom_after_open(raw)
    page = tmp_path / "doc.html"
    page.write_text(_document(RUN_ON_OPEN), encoding="utf-8")
    dom = _dom_after_open(page)
    assert '<h1 class="subject">Ana</h1>' in dom  # the document itself opened
    assert "PWNED" not in dom


# --------------------------------------------------------------------------- controls

BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]
C0 = [chr(c) for c in range(0x20) if chr(c) not in "\t\n\x0c\r"]
KEPT = ["\t", "\n", "\x0c", "\r", "\u200e", "\u200f", "\u061c", "é", "\u05d0"]


@pytest.mark.parametrize(
    "ch", BIDI + C0 + ["\x7f", "\x85", "\x9f"], ids=lambda c: f"U+{ord(c):04X}"
)
def test_controls_and_bidi_overrides_become_a_visible_replacement(ch):
    assert render.neutralise_controls(f"Acme{ch}Corp") == "Acme\ufffdCorp"


def test_marks_and_whitespace_are_kept_and_clean_text_is_not_copied():
    text = "Rep " + "".join(KEPT) + " ok"
    assert render.neutralise_controls(text) is text


def test_a_document_holds_no_raw_control_wherever_the_text_came_from():
    evil = "Ana \u202eSevlA\u202c \x00Bel\x07lo \u2067x\u2069 \u200fok"
    nb = new_notebook(cells=[new_markdown_cell(f"## Notes {evil}")])
    cell = new_code_cell("x")
    cell.outputs = [
        new_output("stream", name="stdout", text=f"printed {evil}\n"),
        new_output("display_data", data={"text/html": f"<p title='{evil}'>{evil}</p>"}),
        new_output("display_data", data={"text/markdown": f"*{evil}*"}),
        new_output("display_data", data={"text/plain": evil}),
    ]
    nb.cells.append(cell)
    nb.metadata["language_info"] = {"name": "python"}
    html = render.to_html(nb, document_title="Review", subject_name=evil)
    assert re.findall(r"[\x00-\x08\x0b\x0e-\x1f\u202a-\u202e\u2066-\u2069]", html) == []
    shown = "Ana \ufffdSevlA\ufffd \ufffdBel\ufffdlo \ufffdx\ufffd \u200fok"
    # title element, h1, markdown cell, stdout, HTML output (text and title), markdown
    # output, plain text output: each shows every control the same way
    assert html.count(shown) == 8, html.count(shown)


@pytest.mark.slow
def test_a_batch_neutralises_controls_in_names_in_the_document_and_the_index(tmp_path):
    import csv

    data = tmp_path / "data"
    shutil.copytree(ROOT / "tests" / "data" / "hostile", data)
    with open(data / "reps.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    rows[0]["name"] = "Ana \u202eSevlA\u202c Bel\x07lo \u2067x\u2069"
    with open(data / "reps.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "out"
    batch.run("pipeline_review", by="rep", data=data, out=out, only=["R01"], progress=False)
    pages = sorted(out.glob("*.html"))
    assert [p.name for p in pages] == ["index.html", "r01-ana-sevla-bel-lo-x.html"]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert re.findall(r"[\x00-\x08\x0b\x0e-\x1f\u202a-\u202e\u2066-\u2069]", text) == []
        assert "Ana \ufffdSevlA\ufffd Bel\ufffdlo \ufffdx\ufffd" in text, page.name


# --------------------------------------------------------------------------- chart specs


def _spec_loading(url: str) -> dict:
    """A Vega-Lite spec that loads its data, a lookup table and an image from ``url``."""
    return {
        "data": {"url": f"{url}/deals.csv"},
        "usermeta": {"embedOptions": {"actions": True, "editorUrl": f"{url}/editor"}},
        "transform": [{"lookup": "a", "from": {"data": {"url": f"{url}/lookup.csv"}, "key": "a"}}],
        "layer": [
            {"mark": "point", "encoding": {"x": {"field": "a", "type": "quantitative"}}},
            {
                "data": {"values": [{"a": 1, "url": "a field named url is data"}]},
                "mark": "image",
                "encoding": {"url": {"value": f"{url}/logo.png"}},
            },
        ],
    }


def test_chart_specs_lose_everything_that_loads():
    spec = render.offline_spec(_spec_loading("https://x.example"))
    assert "https://x.example" not in render.script_json(spec)
    assert spec["data"] == {} and "usermeta" not in spec
    assert spec["transform"] == [{"lookup": "a", "from": {"data": {}, "key": "a"}}]
    assert spec["layer"][1]["data"]["values"] == [{"a": 1, "url": "a field named url is data"}]
    assert spec["layer"][1]["encoding"] == {}


@pytest.mark.slow
def test_a_vega_document_loads_nothing_a_notebook_spec_asks_for(tmp_path):
    import http.server
    import threading

    if render.find_chromium() is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # the standard library names it
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.end_headers()
            self.wfile.write(b"a\n1\n")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        cell = new_code_cell("chart")
        spec = {"$schema": "https://vega.github.io/schema/vega-lite/v5.json", **_spec_loading(url)}
        cell.outputs = [new_output("display_data", data={"application/vnd.vegalite.v5+json": spec})]
        nb = new_notebook(cells=[cell])
        nb.metadata["language_info"] = {"name": "python"}
        page = tmp_path / "doc.html"
        page.write_text(render.to_html(nb, document_title="Review"), encoding="utf-8")
        dom = _dom_after_open(page)
        assert 'data-rendered="' in dom  # the runtime ran over the chart
        assert asked == []
        # the harness sees a load: the unfiltered spec, drawn by the same page, asks
        raw = page.read_text(encoding="utf-8").replace(
            render.script_json(render.offline_spec(spec)), render.script_json(spec)
        )
        page.write_text(raw, encoding="utf-8")
        _dom_after_open(page)
        assert "/deals.csv" in asked
    finally:
        server.shutdown()
        server.server_close()
