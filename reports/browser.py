"""Headless Chromium (Debian packages ``chromium`` and ``chromium-driver``): load a local HTML file,
collect the console messages, dump the rendered DOM and take a screenshot.

Used by the report's browser test and to refresh docs/report-screenshot.png.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars")
_CONSOLE = re.compile(r"INFO:CONSOLE[^\]]*\]\s*(.*)")


@dataclass(frozen=True)
class PageLoad:
    console: list[str]  # every console message the page logged (errors included)
    dom: str  # the DOM after load
    screenshot: Path | None


def chromium_path() -> str | None:
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    binary = chromium_path()
    if binary is None:
        raise FileNotFoundError(f"{CHROMIUM} not found: apt-get install -y chromium chromium-driver")
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([binary, *_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout, check=False)


def load_page(html: Path, screenshot: Path | None = None, width: int = 1280, height: int = 900,
              timeout: float = 60) -> PageLoad:
    """Open ``html`` headless: console messages and DOM from one run, then (optionally) a screenshot
    of the first ``width`` x ``height`` pixels."""
    url = html.resolve().as_uri()
    dumped = _run(["--enable-logging=stderr", "--v=0", "--virtual-time-budget=3000", "--dump-dom", url], timeout)
    if dumped.returncode != 0:
        raise RuntimeError(f"chromium exited {dumped.returncode} on {html.name}: {dumped.stderr[-500:]}")
    console = [m.group(1) for line in dumped.stderr.splitlines() if (m := _CONSOLE.search(line))]
    shot = None
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        taken = _run([f"--screenshot={screenshot}", f"--window-size={width},{height}", url], timeout)
        if taken.returncode != 0 or not screenshot.exists():
            raise RuntimeError(f"chromium took no screenshot of {html.name}: {taken.stderr[-500:]}")
        shot = screenshot
    return PageLoad(console=console, dom=dumped.stdout, screenshot=shot)
