"""The course's website (``make site``, :mod:`coursekit.site`): built once for this file, then read as files and in
headless Chromium (:mod:`coursekit.browser`).

- the build prints nothing but its own progress lines: no warning (Sphinx runs with -W), no traceback;
- every lesson has a page in English and in Chinese, and each page's language switch lands on the same page in the
  other language (home pages and reference pages too);
- no internal link or source (``href``, ``src``) of the whole site is broken, anchors included;
- every reference answer is folded, closed on load;
- in Chromium, a lesson page in each language: its diagram loaded, its code highlighted, its Chinese drawn in a CJK
  font (the fonts DevTools says drew the glyphs), its answers closed until clicked; the search page finds a lesson.
  Screenshots: build/test-screenshots/site-en.png and site-zh-CN.png.

The checkers are plain functions, each shown to fail on a small sample of HTML.
"""

from __future__ import annotations

import importlib.util
import os
import posixpath
import re
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "test-screenshots"
LESSONS = sorted(p.name for p in (ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
PAGES = sorted(p.name for p in (ROOT / "lessons" / "coursekit" / "site" / "pages").glob("*.md"))
LANGUAGES = {"en": "", "zh-CN": "zh-CN/"}
CJK_FONT = re.compile(r"CJK|Han|Noto Sans SC|PingFang|YaHei|Hei|WenQuanYi", re.IGNORECASE)
HAN = re.compile(r"[\u4e00-\u9fff]")


# ------------------------------------------------------------------------------------------------- the checkers


class _Page(HTMLParser):
    """The links, ids, language switch and answers of one HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.switch: str | None = None
        self.answers: list[bool] = []  # one per folded answer: whether it is open
        self.answer_cells = 0
        self._answer_depth: list[int] = []
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        void = tag in {"img", "link", "meta", "br", "hr", "input", "source", "col", "area", "base", "wbr"}
        if not void:
            self._depth += 1
        for key in ("href", "src"):
            if a.get(key) is not None and not (tag == "link" and a.get("rel") in ("preconnect", "dns-prefetch")):
                self.links.append(a[key])
        for key in ("id", "name"):
            if a.get(key):
                self.ids.add(a[key])
        classes = (a.get("class") or "").split()
        if tag == "a" and "course-language-switch" in classes:
            self.switch = a.get("href")
        if tag == "div" and "cell" in classes and "tag_answer" in classes:
            self.answer_cells += 1
            self._answer_depth.append(self._depth)
        if tag == "details" and self._answer_depth:
            self.answers.append("open" in a)

    def handle_endtag(self, tag):
        if self._answer_depth and self._depth == self._answer_depth[-1] and tag == "div":
            self._answer_depth.pop()
        self._depth -= 1


def read_page(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def broken_links(root: Path) -> list[str]:
    """Every internal href or src of the HTML files under ``root`` that leads nowhere: a missing file, or an anchor
    that the page it points to does not have. External links (with a scheme) are not followed."""
    pages = {path: read_page(path) for path in sorted(root.rglob("*.html"))}
    broken = []
    for path, page in pages.items():
        for link in page.links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith("//") or not (parts.path or parts.fragment):
                continue
            target = path if not parts.path else Path(posixpath.normpath(
                (path.parent / unquote(parts.path)).as_posix()))
            where = f"{path.relative_to(root)}: {link}"
            if parts.path.endswith("/"):
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{where} (no such file)")
            elif parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else read_page(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{where} (no such anchor)")
    return broken


def switch_target(path: Path) -> Path | None:
    """The file the language switch of a page leads to."""
    href = read_page(path).switch
    return None if href is None else Path(posixpath.normpath((path.parent / href).as_posix()))


def answers(path: Path) -> tuple[int, list[bool]]:
    """(the number of answer cells, whether each folded answer is open) of a lesson page."""
    page = read_page(path)
    return page.answer_cells, page.answers


def test_the_link_checker_finds_a_missing_file_and_a_missing_anchor(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "index.html").write_text(
        '<a href="sub/page.html#there">ok</a> <a href="https://example.org/x">external</a> <a href="#top">ok</a>'
        '<h1 id="top">t</h1> <img src="sub/missing.png"> <a href="sub/page.html#nowhere">anchor</a>')
    (tmp_path / "sub" / "page.html").write_text('<p id="there">p</p><a href="../index.html">up</a>'
                                                '<link href="../style.css" rel="stylesheet">')
    assert broken_links(tmp_path) == ["index.html: sub/missing.png (no such file)",
                                      "index.html: sub/page.html#nowhere (no such anchor)",
                                      "sub/page.html: ../style.css (no such file)"]
    (tmp_path / "style.css").write_text("")
    (tmp_path / "sub" / "missing.png").write_bytes(b"")
    (tmp_path / "sub" / "page.html").write_text('<p id="there">p</p><p id="nowhere"></p>')
    assert broken_links(tmp_path) == []


def test_the_answer_checker_sees_an_open_answer(tmp_path):
    page = tmp_path / "lesson.html"
    page.write_text('<div class="cell tag_answer docutils container"><details class="hide above-input">'
                    '<summary>Show the answer</summary><div>code</div></details></div>'
                    '<div class="cell tag_answer docutils container"><details class="hide" open><summary>s</summary>'
                    '</details></div><div class="cell"><details open><summary>other</summary></details></div>')
    assert answers(page) == (2, [False, True])


def test_the_switch_checker_reads_the_link(tmp_path):
    (tmp_path / "lessons").mkdir()
    page = tmp_path / "lessons" / "a.html"
    page.write_text('<a class="btn course-language-switch" href="../zh-CN/lessons/a.html">简体中文</a>')
    assert switch_target(page) == tmp_path / "zh-CN" / "lessons" / "a.html"
    page.write_text("<p>no switch</p>")
    assert switch_target(page) is None


# ------------------------------------------------------------------------------------------------- the site


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[Path, str, float]:
    """The site, built once: (its folder, what the build printed, the seconds it took)."""
    if importlib.util.find_spec("myst_nb") is None:  # the site extra, as `make site` installs it
        subprocess.run([sys.executable, str(ROOT / "lessons" / "coursekit" / "bootstrap.py"), "--extra", "site"],
                       check=True, cwd=ROOT)
    out = tmp_path_factory.mktemp("site") / "site"
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "coursekit.site", str(out)], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ,
                                          "PYTHONPATH": f"{ROOT / 'lessons'}:{ROOT / 'tests'}"})
    printed = proc.stdout + proc.stderr
    assert proc.returncode == 0, printed
    return out, printed, time.monotonic() - started


def test_the_build_prints_no_warning(site):
    out, printed, _ = site
    lines = printed.strip().splitlines()
    assert lines and all(line.startswith("[site] ") for line in lines), printed
    assert not re.search(r"warning|traceback|error", printed, re.IGNORECASE), printed
    assert "no notebook is executed" in printed and re.search(r"wrote .* in [\d.]+ s", printed)


def test_every_lesson_has_a_page_in_both_languages_and_the_switch_leads_to_it(site):
    out = site[0]
    assert len(LESSONS) == 10
    docs = ["index.html"] + [f"lessons/{name[:-6]}.html" for name in LESSONS] + \
           [f"pages/{name[:-3]}.html" for name in PAGES]
    for doc in docs:
        english, chinese = out / doc, out / "zh-CN" / doc
        assert english.is_file() and chinese.is_file(), doc
        assert switch_target(english) == chinese, doc
        assert switch_target(chinese) == english, doc
    lesson = (out / "zh-CN" / "lessons" / f"{LESSONS[0][:-6]}.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN"' in lesson and len(HAN.findall(lesson)) > 500, "the Chinese page is in Chinese"
    assert '<html lang="en"' in (out / "lessons" / f"{LESSONS[0][:-6]}.html").read_text(encoding="utf-8")


def test_no_internal_link_is_broken(site):
    out = site[0]
    assert len(list(out.rglob("*.html"))) >= 2 * (1 + len(LESSONS) + len(PAGES))
    assert broken_links(out) == []


def test_every_reference_answer_is_folded_and_closed(site):
    import nbformat

    out = site[0]
    for name in LESSONS:
        nb = nbformat.read(ROOT / "lessons" / name, as_version=4)
        exercises = sum("exercise" in c.metadata.get("tags", []) for c in nb.cells)
        for prefix in LANGUAGES.values():
            cells, folds = answers(out / prefix / "lessons" / f"{name[:-6]}.html")
            assert exercises >= 2 and cells == exercises and folds == [False] * exercises, (prefix, name, folds)


def test_each_lesson_page_offers_its_notebook_for_download(site):
    out = site[0]
    for prefix in LANGUAGES.values():
        for name in LESSONS:
            page = read_page(out / prefix / "lessons" / f"{name[:-6]}.html")
            downloads = [link for link in page.links if "_downloads/" in link]
            assert any(link.endswith(f"/{name}") for link in downloads), (prefix, name)
            assert any(link.endswith(f"/{name[:-6]}.exercises.ipynb") for link in downloads), (prefix, name)


def test_the_search_index_holds_the_lessons(site):
    out = site[0]
    for prefix in LANGUAGES.values():
        index = (out / prefix / "searchindex.js").read_text(encoding="utf-8")
        assert "inception" in index.lower() and (out / prefix / "search.html").is_file()


# ------------------------------------------------------------------------------------------------- in Chromium


RENDERED = """() => {
  const diagram = document.querySelector('div.cell_output img');
  const keyword = document.querySelector('div.cell_input pre span.kn, div.cell_input pre span.k');
  const plain = keyword && keyword.closest('pre');
  const answers = [...document.querySelectorAll('div.cell.tag_answer details')];
  return {
    diagram: diagram && {src: diagram.getAttribute('src'), complete: diagram.complete, width: diagram.naturalWidth},
    keyword: keyword && {text: keyword.textContent, colour: getComputedStyle(keyword).color,
                         plain: getComputedStyle(plain).color},
    answers: answers.map(d => ({open: d.open, shown: d.querySelector('div.cell_input').checkVisibility()})),
  };
}"""


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_a_lesson_page_in_chromium(site, language):
    from coursekit import browser

    out = site[0]
    lesson = out / LANGUAGES[language] / "lessons" / f"{LESSONS[0][:-6]}.html"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"site-{language}.png"
    try:
        with browser.page(viewport=(1280, 900)) as tab:
            tab.goto(lesson.as_uri(), wait_until="load")
            tab.locator("div.cell_output img").first.scroll_into_view_if_needed()
            tab.wait_for_function("document.querySelector('div.cell_output img').complete")
            seen = tab.evaluate(RENDERED)
            # the screenshot: the first exercise (its statement, stub, check, hints, folded answer), then a diagram
            tab.evaluate("window.scrollTo(0, document.querySelector('div.cell.tag_exercise').getBoundingClientRect()"
                         ".top + scrollY - 260)")
            tab.screenshot(path=str(shot))
            prose = "article p"
            fonts = browser.platform_fonts(tab, prose)
            text = tab.locator(prose).first.inner_text()
            switch_fonts = browser.platform_fonts(tab, "a.course-language-switch")
            tab.locator("div.cell.tag_answer details > summary").first.click()
            opened = tab.evaluate(RENDERED)["answers"][0]
    except browser.BrowserMissing as error:
        pytest.fail(str(error), pytrace=False)  # make test installs the browser (bootstrap --extra browser)
    assert shot.stat().st_size > 20_000
    assert seen["diagram"] and seen["diagram"]["complete"] and seen["diagram"]["width"] > 0, seen["diagram"]
    assert seen["keyword"] and seen["keyword"]["colour"] != seen["keyword"]["plain"], seen["keyword"]
    assert seen["answers"] and all(not a["open"] and not a["shown"] for a in seen["answers"]), seen["answers"]
    assert opened == {"open": True, "shown": True}, "the answer opens when asked"
    chinese = fonts if language == "zh-CN" else switch_fonts
    han = len(HAN.findall(text)) if language == "zh-CN" else 4  # 简体中文
    assert han > 0, text
    assert has_cjk_glyphs(chinese, han), chinese


def has_cjk_glyphs(fonts: list[dict], han: int) -> bool:
    """Whether a CJK font drew at least ``han`` glyphs (one per Chinese character: none drawn as boxes)."""
    return sum(f["glyphCount"] for f in fonts if CJK_FONT.search(f["familyName"])) >= han


def test_the_font_check_rejects_text_drawn_without_a_cjk_font():
    assert has_cjk_glyphs([{"familyName": "Noto Sans CJK SC", "glyphCount": 40}, {"familyName": "DejaVu Sans",
                                                                                  "glyphCount": 9}], 40)
    assert not has_cjk_glyphs([{"familyName": "DejaVu Sans", "glyphCount": 49}], 40)
    assert not has_cjk_glyphs([{"familyName": "Noto Sans CJK SC", "glyphCount": 12}], 40)


def test_search_finds_a_lesson_in_chromium(site):
    from coursekit import browser

    out = site[0]
    try:
        with browser.page(viewport=(1280, 900)) as tab:
            tab.goto((out / "search.html").as_uri() + "?q=Inception", wait_until="load")
            tab.wait_for_function("document.querySelectorAll('ul.search li').length > 0", timeout=20_000)
            found = tab.evaluate("[...document.querySelectorAll('ul.search li a')].map(a => a.getAttribute('href'))")
    except browser.BrowserMissing as error:
        pytest.fail(str(error), pytrace=False)  # make test installs the browser (bootstrap --extra browser)
    assert any("04_inception_modules" in href for href in found), found
