"""Make the screenshots of the README and docs/workbooks.md: the star rep's document of each
workbook (a manager's copy of the team review: the star's manager's; the incentive plan
review: the whole team's), 1400 px wide, the first screen, as a small palette PNG.

    python3 dev.py screenshots                     # or, with the venv's python:
    python bench/screenshots.py [--out docs/screenshots] [--as-of 2026-09-30] [--only WORKBOOK ...]

Runs each workbook for the sample data's star rep (:data:`salesnb.data.sample.PERSONAS`), or the
group its :data:`SUBJECTS` entry names, opens
the document in Debian's Chromium through Playwright, and writes ``<workbook>.png``. The
browser's PNG is re-encoded with a palette of at most 256 colours (the most frequent ones;
the rest map to the nearest), which keeps each file around 100 KB or under without an image
library.
"""

from __future__ import annotations

import argparse
import base64
import struct
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORKBOOKS = ("one_on_one", "pipeline_review", "forecast", "performance_improvement_plan",
             "goal_setting", "team_review", "incentive_statement", "incentives")  # fmt: skip
#: Whose document each workbook shows, when not the star rep's: ``(by, subject)``; "manager"
#: is the star's manager (a manager's copy), None the whole team.
SUBJECTS: dict[str, tuple[str, str | None]] = {
    "team_review": ("manager", "manager"),
    "incentives": ("all", None),
}
#: Parameters a workbook needs beyond the as-of date (paths absolute: the run's folder may be
#: any).
PARAMS: dict[str, dict[str, str]] = {
    "incentive_statement": {"plan": str(ROOT / "data" / "sample" / "incentive_plan.toml")},
    "incentives": {"plan": str(ROOT / "data" / "sample" / "incentive_plan.toml")},
}
WIDTH, HEIGHT = 1400, 900
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update"]  # fmt: skip

#: Reads a PNG (data URL) back as RGBA bytes, base64, through a canvas.
_PIXELS_JS = """async (url) => {
  const img = new Image();
  img.src = url;
  await img.decode();
  const c = document.createElement('canvas');
  c.width = img.width; c.height = img.height;
  const g = c.getContext('2d');
  g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let s = '';
  for (let i = 0; i < d.length; i += 0x8000) s += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));
  return [c.width, c.height, btoa(s)];
}"""


def palette_png(rgb: np.ndarray, colours: int = 256) -> bytes:
    """An indexed-colour PNG of ``rgb`` (height x width x 3, uint8) with at most ``colours``.

    The most frequent colours form the palette; every other colour maps to its nearest
    palette entry (squared RGB distance).

    Examples
    --------
    >>> png = palette_png(np.zeros((2, 3, 3), dtype=np.uint8))
    >>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n" and b"PLTE" in png
    True
    """
    h, w, _ = rgb.shape
    flat = rgb.reshape(-1, 3).astype(np.int32)
    keys = (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]
    uniq, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    top = np.argsort(-counts, kind="stable")[:colours]
    pal = np.stack([(uniq[top] >> 16) & 255, (uniq[top] >> 8) & 255, uniq[top] & 255], axis=1)
    ucol = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], axis=1)
    nearest = np.empty(len(uniq), dtype=np.uint8)
    for lo in range(0, len(uniq), 4096):  # distance matrix in slices: memory stays small
        d = ((ucol[lo : lo + 4096, None, :] - pal[None, :, :]) ** 2).sum(axis=2)
        nearest[lo : lo + 4096] = d.argmin(axis=1)
    index = nearest[inverse.reshape(-1)].reshape(h, w)
    raw = np.hstack([np.zeros((h, 1), dtype=np.uint8), index]).tobytes()  # filter 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0)
    return b"".join([b"\x89PNG\r\n\x1a\n", chunk(b"IHDR", header),
                     chunk(b"PLTE", pal.astype(np.uint8).tobytes()),
                     chunk(b"IDAT", zlib.compress(raw, 9)), chunk(b"IEND", b"")])  # fmt: skip


def documents(
    folder: Path, rep: str, as_of: str, workbooks: tuple[str, ...] = WORKBOOKS
) -> dict[str, Path]:
    """Each workbook's document for ``rep``, or the group :data:`SUBJECTS` names (run with
    :func:`salesnb.batch.documents.run`)."""
    import pandas as pd

    from salesnb.batch import documents as batch

    data = ROOT / "data" / "sample"
    reps = pd.read_csv(data / "reps.csv", dtype=str).set_index("rep_id")
    docs = {}
    for wb in workbooks:
        out = folder / wb
        by, who = SUBJECTS.get(wb, ("rep", "rep"))
        only = None if who is None else [rep if who == "rep" else reps.loc[rep, who]]
        m = batch.run(wb, by=by, data=data, out=out, only=only, params={"as_of": as_of,
                      **PARAMS.get(wb, {})}, progress=False, workers=1)  # fmt: skip
        (entry,) = m["subjects"]
        if entry["status"] != "ok":
            raise SystemExit(f"{wb}: the document failed: {entry['error']}")
        docs[wb] = out / entry["outputs"]["html"]["path"]
    return docs


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    from salesnb.data.sample import PERSONAS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--as-of", default="2026-09-30", help="as-of date of the documents")
    ap.add_argument("--only", nargs="+", choices=WORKBOOKS, default=list(WORKBOOKS),
                    metavar="WORKBOOK", help="only these workbooks' screenshots")  # fmt: skip
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="salesnb-shots-") as tmp:
        docs = documents(Path(tmp), PERSONAS["star"], args.as_of, tuple(args.only))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            for wb, html in docs.items():
                page.goto(html.as_uri())
                png = page.screenshot(full_page=False)
                page.goto("about:blank")
                url = "data:image/png;base64," + base64.b64encode(png).decode()
                w, h, data = page.evaluate(_PIXELS_JS, url)
                rgba = np.frombuffer(base64.b64decode(data), dtype=np.uint8).reshape(h, w, 4)
                small = palette_png(np.ascontiguousarray(rgba[:, :, :3]))
                path = args.out / f"{wb}.png"
                path.write_bytes(small)
                print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
                      f"{len(small) / 1024:.0f} KB (browser's PNG {len(png) / 1024:.0f} KB)")  # fmt: skip
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
