"""A real browser for the course's tests: headless Chromium, driven by Playwright.

The site (`make site`) and the class report (`build/gradebook/report.html`) are checked the way a reader sees them:
Chromium loads the page, draws it, and the tests ask the drawn page what happened (did the image load, which font
drew this Chinese text) and keep a screenshot.

    from coursekit import browser
    with browser.page(viewport=(1280, 900)) as page:    # a playwright.sync_api.Page
        page.goto(path.as_uri())
        page.screenshot(path="shot.png")
        browser.platform_fonts(page, "article p")       # [{"familyName": "Noto Sans CJK SC", "glyphCount": 41}, ...]

Why these tools: Playwright is the most used, best kept browser driver for Python (Microsoft's, released monthly),
and it drives an installed Chromium through the DevTools protocol, which also says which font drew each glyph. The
browser is Debian's `chromium`, not one Playwright downloads: `python3 lessons/coursekit/bootstrap.py --extra
browser` installs both (requirements-browser.txt; `make test` does it). COURSE_CHROMIUM=path picks another
Chromium or Chrome.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# The flags of a headless Chromium on a machine with no network and no display: no GPU, no background connections
# (updates, sync, Google's hosts), a new empty profile every time. --no-sandbox only as root, where Chromium's own
# sandbox cannot start.
FLAGS = ["--headless=new", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-default-apps", "--mute-audio",
         "--hide-scrollbars", "--font-render-hinting=none"]

FIX = ("install them with 'python3 lessons/coursekit/bootstrap.py --extra browser' (Playwright, and Debian's "
       "chromium and fonts-noto-cjk), or set COURSE_CHROMIUM to a Chromium or Chrome program")


class BrowserMissing(RuntimeError):
    """Chromium or Playwright is not installed; the message is one sentence that says how to install them."""


def chromium_path() -> str | None:
    """The Chromium program the tests use: COURSE_CHROMIUM, or chromium (or a Chrome) on the PATH; None if none."""
    chosen = os.environ.get("COURSE_CHROMIUM", "").strip()
    if chosen:
        return chosen if os.access(chosen, os.X_OK) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


@contextmanager
def page(viewport: tuple[int, int] = (1280, 900), device_scale_factor: float = 1.0) -> Iterator[Any]:
    """A page in a new headless Chromium (closed, with its profile, on leaving); raises BrowserMissing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        raise BrowserMissing(f"Playwright is not installed: {FIX}.") from error
    program = chromium_path()
    if program is None:
        raise BrowserMissing(f"Chromium is not installed: {FIX}.")
    flags = FLAGS + (["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])
    with tempfile.TemporaryDirectory(prefix="course-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=program, headless=True, args=flags, ignore_default_args=["--headless"],
            viewport={"width": viewport[0], "height": viewport[1]}, device_scale_factor=device_scale_factor,
            locale="en-US", timezone_id="UTC", offline=False)
        try:
            tab = context.pages[0] if context.pages else context.new_page()
            yield tab
        finally:
            context.close()


def platform_fonts(tab: Any, selector: str) -> list[dict]:
    """The fonts Chromium drew the text of the first element matching ``selector`` with, most glyphs first:
    [{"familyName": ..., "glyphCount": ...}, ...] (DevTools' CSS.getPlatformFontsForNode, which counts the glyphs
    each installed font really drew, so a font that lacks the characters, drawn as boxes, does not appear)."""
    session = tab.context.new_cdp_session(tab)
    try:
        session.send("DOM.enable")
        session.send("CSS.enable")
        root = session.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
        node = session.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        if not node:
            raise LookupError(f"no element matches {selector!r}")
        fonts = session.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    finally:
        session.detach()
    return sorted(({"familyName": f["familyName"], "glyphCount": int(f["glyphCount"])} for f in fonts),
                  key=lambda f: -f["glyphCount"])
