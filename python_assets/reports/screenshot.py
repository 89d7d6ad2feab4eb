"""A PNG of a report page by headless Chromium (the README's picture): the page's top, shrunk and
palette-quantized so the committed file stays small.
Usage: python -m python_assets.reports.screenshot REPORT.html OUT.png"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

WINDOW = (1200, 2600)
MAX_BYTES = 200_000


def screenshot(page: Path, out: Path, width: int = 900) -> int:
    """Render page with headless Chromium, keep the top WINDOW, scale to `width`; returns the PNG's bytes."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("error: chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.png"
        subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                        f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--user-data-dir={tmp}/profile",
                        f"--screenshot={raw}", page.resolve().as_uri()], check=True, capture_output=True, timeout=120)
        img = Image.open(raw).convert("RGB")
    img = img.resize((width, round(img.height * width / img.width)), Image.LANCZOS)
    for colors in (64, 32, 16):  # octree keeps the charts' few saturated colours
        img.quantize(colors=colors, method=Image.Quantize.FASTOCTREE).save(out, optimize=True)
        if out.stat().st_size < MAX_BYTES:
            break
    return out.stat().st_size


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__.strip().splitlines()[-1])
    print(f"{sys.argv[2]}: {screenshot(Path(sys.argv[1]), Path(sys.argv[2])):,} bytes")
