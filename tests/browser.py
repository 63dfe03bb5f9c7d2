"""Headless Chromium for tests that must see a page drawn with the network cut off.

Chromium is a system package (Debian: ``apt install chromium``; ``make test`` installs it when it
runs as root on Debian). Set ``WORKBENCH_CHROMIUM`` to use another binary. A test that needs the
browser fails, rather than skips, when there is none: a skipped rendering test proves nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

#: Every host resolves to nothing and every connection goes to a closed port: nothing leaves the machine.
OFFLINE_FLAGS = ["--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]
BASE_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]


def chromium() -> str:
    """The Chromium binary, or an AssertionError saying how to get one."""
    for candidate in (os.environ.get("WORKBENCH_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (path := shutil.which(candidate)):
            return path
    raise AssertionError("no Chromium found: install it (Debian: apt install chromium) or set WORKBENCH_CHROMIUM")


@dataclass
class Rendered:
    png: Path
    dom: str
    log: str
    seconds: float

    def ink(self) -> int:
        """How many pixels differ from the page's most common colour (0: a blank page)."""
        image = Image.open(self.png).convert("RGB")
        colours = image.getcolors(maxcolors=1 << 24) or []
        background = max(colours)[0] if colours else 0
        return image.width * image.height - background

    def failed_requests(self) -> list[str]:
        return [line for line in self.log.splitlines() if "net::ERR" in line or "Failed to load resource" in line]


def render(page: Path, out_dir: Path, *, width: int = 1200, height: int = 800, wait_ms: int = 2000) -> Rendered:
    """Open ``page`` offline, let its scripts run for ``wait_ms``, and keep a screenshot and the DOM."""
    import time

    binary = chromium()
    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / f"{page.stem}.png"
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        flags = [binary, *BASE_FLAGS, *OFFLINE_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                 f"--virtual-time-budget={wait_ms}", "--run-all-compositor-stages-before-draw"]
        start = time.perf_counter()
        shot = subprocess.run([*flags, f"--screenshot={png}", page.resolve().as_uri()], capture_output=True, text=True, timeout=120)
        seconds = time.perf_counter() - start
        dom = subprocess.run([*flags, "--dump-dom", page.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    if not png.exists():
        raise AssertionError(f"Chromium wrote no screenshot of {page}: {shot.stderr[-2000:]}")
    return Rendered(png=png, dom=dom.stdout, log=shot.stderr + dom.stderr, seconds=seconds)
