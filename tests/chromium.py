"""Debian's chromium driven by Playwright, for the browser tests (listening tests, live play).

Importing this module skips the importing test module when playwright is not installed;
``needs_chromium`` skips it when the browser is missing (``.ci/run`` installs it). The
``browser`` fixture (tests/conftest.py) launches it with :func:`launch`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api",
                               reason="playwright is not installed (pip install -e '.[dev]')")

CHROMIUM = "/usr/bin/chromium"
# Audio is muted but really rendered: the pages count what played.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--mute-audio"]
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not shutil.which("chromium"),
    reason="Debian's chromium is not installed (apt-get install -y chromium; .ci/run does this)")


def launch(playwright):
    """A headless Chromium browser of ``playwright`` (a sync_playwright() context)."""
    path = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    return playwright.chromium.launch(executable_path=path, args=ARGS)
