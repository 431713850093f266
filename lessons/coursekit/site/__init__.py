"""The course's website, in English and Chinese, from the committed notebooks and their stored outputs (``make site``).

    python -m coursekit.site OUT        # the English site in OUT/, the Chinese one in OUT/zh-CN/

No lesson is run: the pages show the outputs stored in the notebooks, which nbval checks. Each language is one
Sphinx build (MyST-NB reads the notebooks, sphinx-book-theme draws the pages, ``conf.py`` beside this file) of a
source folder written here first (:func:`stage`):

- ``index.md``: the README of the language (``README.md``, ``README.zh-CN.md``), with the lesson table and the
  site's other pages in its table of contents;
- ``lessons/NN_name.ipynb``: each lesson (``lessons/`` or ``lessons/zh-CN/``), each exercise shown as an exercise
  (:func:`exercise_cells`): the statement, the signature the learner starts from (the student edition's stub,
  :func:`coursekit.student_edition.stub_source`), how to check it, the hints (:func:`coursekit.hints.load`) and the
  reference answer folded behind "Show the answer", closed until asked for; and a link to download the notebook,
  as committed and as the exercise edition (:func:`coursekit.student_edition.student_notebook`);
- ``pages/NAME.md``: the course's reference pages (``pages/`` beside this file, ``pages/zh-CN/`` in Chinese), which
  the README links to and GitHub shows as they are.

Links between these files are written for the repository (GitHub renders them); :func:`rewrite_links` turns them
into links between the site's pages, and a link to any other file of the repository into a link to it on GitHub
(when the build knows the repository: ``GITHUB_REPOSITORY`` in GitHub Actions, or ``COURSE_SITE_REPOSITORY``), or
into its plain text. Every page links to the same page in the other language.
"""

from __future__ import annotations

import copy
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from coursekit import authoring, hints, practice, student_edition, translations
from coursekit.check import PAYLOAD as CHECK_DATA  # a check's results as data, for programs

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
PAGES = HERE / "pages"
LANGUAGES = ("en", translations.LANGUAGE)
SPHINX_LANGUAGE = {"en": "en", "zh-CN": "zh_CN"}
LESSON_DIRS = {"en": ROOT / "lessons", "zh-CN": translations.EDITION_DIR}
PAGE_DIRS = {"en": PAGES, "zh-CN": PAGES / "zh-CN"}
READMES = {"en": ROOT / "README.md", "zh-CN": ROOT / "README.zh-CN.md"}
# Where each language's site lives, from the site's root.
SITE_PREFIX = {"en": "", "zh-CN": "zh-CN/"}
ANSWER_TAG = "answer"  # the folded reference answer of an exercise on the site
LESSON_FILES = "[0-9][0-9]_*.ipynb"

WORDS = {
    "en": {
        "download": "**Download this lesson:** {{download}}`the notebook <../downloads/{name}>` (with its stored "
                    "outputs and the reference answers) or {{download}}`the exercise edition "
                    "<../downloads/{stem}.exercises.ipynb>` (stubs where the answers are, as `make practice` "
                    "writes them). Run it inside the course (`make lab`), where `coursekit` is importable.",
        "task": "**Your turn.** In the exercise edition this cell holds the signature and the docstring only: write "
                "the body between `# BEGIN SOLUTION` and `# END SOLUTION`.",
        "check": "**Check it.** Run the cell below your answer: `ck.check(\"{name}\")` grades the exercise as the "
                 "kernel holds it, with the course's visible tests, and shows each fact checked, its points and "
                 "feedback. `ck.hint(\"{name}\")` gives the next hint, `ck.solution(\"{name}\")` the answer once "
                 "you have checked.",
        "check_show": "What the check shows for the reference answer",
        "check_hide": "Hide the check's result",
        "hints": "Hints ({count}), one at a time",
        "hint": "Hint {number}",
        "answer_show": "Show the answer",
        "answer_hide": "Hide the answer",
    },
    "zh-CN": {
        "download": "**下载本课：**{{download}}`notebook <../downloads/{name}>`（带保存的输出和参考答案），或"
                    "{{download}}`练习版 <../downloads/{stem}.exercises.ipynb>`（答案处是待填写的桩代码，与 "
                    "`make practice` 生成的相同）。请在课程目录中运行它（`make lab`），那里可以导入 `coursekit`。",
        "task": "**动手写。** 在练习版中，这个单元格只有签名和 docstring：把函数体写在 `# BEGIN SOLUTION` 与 "
                "`# END SOLUTION` 之间。",
        "check": "**检查。** 运行答案下面的单元格：`ck.check(\"{name}\")` 用课程公开的测试给内核中当前的这道练习"
                 "评分，列出检查的每一项、得分和反馈。`ck.hint(\"{name}\")` 给出下一条提示，检查过一次之后，"
                 "`ck.solution(\"{name}\")` 显示参考答案。",
        "check_show": "参考答案的检查结果",
        "check_hide": "收起检查结果",
        "hints": "提示（{count} 条），一次看一条",
        "hint": "提示 {number}",
        "answer_show": "显示参考答案",
        "answer_hide": "收起参考答案",
    },
}


def say(message: str) -> None:
    print(f"[site] {message}", flush=True)


# ------------------------------------------------------------------------------------------------- links


_LINK = re.compile(r"(?P<bang>!?)\[(?P<text>(?:[^\[\]]|\[[^\]]*\])*)\]\((?P<target>[^)\s]+)\)")


def repository_url() -> str | None:
    """The repository on GitHub, for links to its files: COURSE_SITE_REPOSITORY (owner/name), or GitHub Actions'
    GITHUB_REPOSITORY; None where neither is set."""
    name = os.environ.get("COURSE_SITE_REPOSITORY") or os.environ.get("GITHUB_REPOSITORY")
    if not name:
        return None
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    return f"{server}/{name.strip('/')}"


def site_path(repo_path: str, language: str) -> tuple[str, str] | None:
    """(language, source path in that language's site) of a repository file that is a page of the site, else None:
    a README is a home page, a lesson notebook a lesson page, a file of pages/ a page."""
    for lang, readme in READMES.items():
        if repo_path == readme.relative_to(ROOT).as_posix():
            return lang, "index.md"
    for lang, folder in LESSON_DIRS.items():
        rel = folder.relative_to(ROOT).as_posix()
        if posixpath.dirname(repo_path) == rel and re.fullmatch(r"\d\d_\w+\.ipynb", posixpath.basename(repo_path)):
            return lang, f"lessons/{posixpath.basename(repo_path)}"
    for lang, folder in PAGE_DIRS.items():
        rel = folder.relative_to(ROOT).as_posix()
        if posixpath.dirname(repo_path) == rel and repo_path.endswith(".md"):
            return lang, f"pages/{posixpath.basename(repo_path)}"
    return None


def rewrite_links(text: str, source: Path, doc: str, language: str, repo_url: str | None = None) -> str:
    """The Markdown ``text`` of the repository file ``source``, which becomes the page ``doc`` (a source path such
    as ``pages/layout.md``) of the ``language`` site, with its relative links pointing where they should on the
    site: to a page of this site (a Markdown link MyST resolves, anchors included), to a page of the other
    language's site (an HTML link), or to the repository on GitHub; a link to a file of the repository is its text
    alone where the repository is not known."""
    here = source.resolve().parent

    def replace(match: re.Match) -> str:
        target = match["target"]
        if match["bang"] or re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("#"):
            return match[0]
        path, _, anchor = target.partition("#")
        resolved = (here / path).resolve()
        try:
            repo_path = resolved.relative_to(ROOT).as_posix()
        except ValueError:
            return match["text"]
        page = site_path(repo_path, language)
        if page is not None and page[0] == language:
            relative = posixpath.relpath(page[1], posixpath.dirname(doc) or ".")
            return f"[{match['text']}]({relative}{'#' + anchor if anchor else ''})"
        if page is not None:  # the other language's site: an HTML link, which MyST leaves alone
            up = "../" * doc.count("/")
            other = SITE_PREFIX[page[0]] if language == "en" else "../" + SITE_PREFIX[page[0]]
            href = f"{up}{other}{page[1].rsplit('.', 1)[0]}.html{'#' + anchor if anchor else ''}"
            return f'<a href="{href}" hreflang="{page[0]}">{_inline(match["text"])}</a>'
        if repo_url:
            kind = "tree" if resolved.is_dir() else "blob"
            ref = os.environ.get("GITHUB_SHA") or "main"
            return f"[{match['text']}]({repo_url}/{kind}/{ref}/{repo_path}{'#' + anchor if anchor else ''})"
        return match["text"]

    return _LINK.sub(replace, text)


def _inline(text: str) -> str:
    """A link's Markdown text as HTML (code spans only: the texts these links have)."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


# ------------------------------------------------------------------------------------------------- lessons


def _markdown(source: str, **metadata) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell(source)
    cell.metadata.update(metadata)
    return cell


def _hint_html(exercise_hints: list[str], words: dict[str, str]) -> str:
    """The hints of an exercise as HTML, each folded (a ``{raw} html`` block: MyST passes it on as it is)."""
    from markdown_it import MarkdownIt
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name

    def code(source: str, language: str, _attrs) -> str:
        lexer = get_lexer_by_name(language or "text")
        return highlight(source, lexer, HtmlFormatter(cssclass="highlight", nowrap=False))

    md = MarkdownIt("commonmark", {"highlight": code})
    items = "".join(f'<details class="course-hint"><summary>{words["hint"].format(number=n)}</summary>'
                    f"{md.render(text)}</details>" for n, text in enumerate(exercise_hints, start=1))
    return (f'```{{raw}} html\n<div class="course-hints"><p class="course-hints-title">'
            f'{words["hints"].format(count=len(exercise_hints))}</p>{items}</div>\n```')


def exercise_cells(exercise: nbformat.NotebookNode, check: nbformat.NotebookNode | None, language: str,
                   exercise_hints: list[str]) -> list[nbformat.NotebookNode]:
    """The cells that show one exercise on the site, after its statement (the Markdown cell above it): the stub to
    complete, the check cell (its stored output, the reference answer's marks, folded), the hints (folded) and the
    reference answer, folded behind "Show the answer" (closed on load)."""
    words = WORDS[language]
    name = authoring.defined_name(exercise.source)
    stub = nbformat.v4.new_code_cell(student_edition.stub_source(exercise.source))
    stub.metadata["tags"] = [authoring.EXERCISE_TAG]
    cells = [_markdown(words["task"]), stub]
    check = copy.deepcopy(check) if check is not None else nbformat.v4.new_code_cell(authoring.check_source(name))
    check.metadata["tags"] = [student_edition.CHECK_TAG] + (["hide-output"] if check.get("outputs") else [])
    check.metadata["mystnb"] = {"code_prompt_show": words["check_show"], "code_prompt_hide": words["check_hide"]}
    check.execution_count = None
    for output in check.get("outputs", []):  # the check's results as data, for programs: not for the page
        for mime in [m for m in output.get("data", {}) if m == CHECK_DATA]:
            del output["data"][mime]
    cells += [_markdown(words["check"].format(name=name)), check]
    if exercise_hints:
        cells.append(_markdown(_hint_html(exercise_hints, words)))
    answer = nbformat.v4.new_code_cell("\n".join(line for line in exercise.source.splitlines()
                                                 if line.strip() not in practice.MARKERS))
    answer.metadata["tags"] = [ANSWER_TAG, "hide-input"]
    answer.metadata["mystnb"] = {"code_prompt_show": words["answer_show"], "code_prompt_hide": words["answer_hide"]}
    cells.append(answer)
    return cells


def lesson_page(nb: nbformat.NotebookNode, name: str, language: str,
                all_hints: dict[str, list[str]]) -> nbformat.NotebookNode:
    """A lesson notebook as the site shows it: its exercises as exercises (:func:`exercise_cells`), a download
    link under its title, no execution counts (no cell was run for the site)."""
    nb = copy.deepcopy(nb)
    cells: list[nbformat.NotebookNode] = []
    k = 0
    while k < len(nb.cells):
        cell = nb.cells[k]
        if cell.cell_type == "code":
            cell.execution_count = None
        if cell.cell_type == "code" and authoring.EXERCISE_TAG in cell.metadata.get("tags", []):
            following = nb.cells[k + 1] if k + 1 < len(nb.cells) else None
            check = following if following is not None and student_edition.CHECK_TAG in following.metadata.get(
                "tags", []) else None
            exercise = authoring.defined_name(cell.source)
            cells += exercise_cells(cell, check, language, all_hints.get(exercise, []))
            k += 2 if check is not None else 1
            continue
        cells.append(cell)
        if len(cells) == 1 and cell.cell_type == "markdown":
            stem = Path(name).stem
            cells.append(_markdown(WORDS[language]["download"].format(name=name, stem=stem)))
        k += 1
    nb.cells = cells
    return nb


# ------------------------------------------------------------------------------------------------- staging


def lessons(language: str) -> list[Path]:
    return sorted(LESSON_DIRS[language].glob(LESSON_FILES))


# The reference pages in the order of the README's list (and of the site's contents); any other after them.
PAGE_ORDER = ("setup", "backends", "jupyter", "grading", "teachers", "isolation", "layout", "testing",
              "keras-2-to-keras-3", "authors")


def pages(language: str) -> list[Path]:
    rank = {name: k for k, name in enumerate(PAGE_ORDER)}
    return sorted(PAGE_DIRS[language].glob("*.md"), key=lambda p: (rank.get(p.stem, len(rank)), p.name))


def toctree(language: str, lesson_docs: list[str], page_docs: list[str]) -> str:
    captions = {"en": ("Lessons", "Reference"), "zh-CN": ("课程", "参考")}[language]
    return "".join(f"\n\n```{{toctree}}\n:hidden:\n:caption: {caption}\n\n" + "\n".join(docs) + "\n```\n"
                   for caption, docs in zip(captions, (lesson_docs, page_docs)) if docs)


def stage(language: str, src: Path) -> dict[str, int]:
    """Write the Sphinx source folder of one language into ``src``; return what it holds."""
    repo_url = repository_url()
    (src / "lessons").mkdir(parents=True)
    (src / "downloads").mkdir()
    (src / "pages").mkdir()
    all_hints = hints.load(language)
    lesson_docs = []
    for path in lessons(language):
        nb = nbformat.read(path, as_version=4)
        lesson = path.name[:2]
        page = lesson_page(nb, path.name, language, all_hints)
        for cell in page.cells:
            if cell.cell_type == "markdown":
                cell.source = rewrite_links(cell.source, path, f"lessons/{path.name}", language, repo_url)
        nbformat.write(page, src / "lessons" / path.name)
        shutil.copy2(path, src / "downloads" / path.name)
        exercises = student_edition.student_notebook(nbformat.read(path, as_version=4), lesson)
        nbformat.write(exercises, src / "downloads" / f"{path.stem}.exercises.ipynb")
        lesson_docs.append(f"lessons/{path.stem}")
    page_docs = []
    for path in pages(language):
        doc = f"pages/{path.name}"
        (src / doc).write_text(rewrite_links(path.read_text(encoding="utf-8"), path, doc, language, repo_url),
                               encoding="utf-8")
        page_docs.append(f"pages/{path.stem}")
    readme = READMES[language]
    home = rewrite_links(readme.read_text(encoding="utf-8"), readme, "index.md", language, repo_url)
    (src / "index.md").write_text(home.rstrip("\n") + toctree(language, lesson_docs, page_docs), encoding="utf-8")
    return {"lessons": len(lesson_docs), "pages": len(page_docs) + 1}


# ------------------------------------------------------------------------------------------------- building


def sphinx_command(language: str, src: Path, out: Path, doctrees: Path) -> list[str]:
    """Sphinx's HTML build of one language, every warning an error (-W), all of them reported (--keep-going)."""
    return [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", "--keep-going", "-E", "-j", "1",
            "-c", str(HERE), "-d", str(doctrees), "-D", f"language={SPHINX_LANGUAGE[language]}", str(src), str(out)]


class BuildError(RuntimeError):
    """The site could not be built: the message says why (Sphinx's warnings are printed above it)."""


def _clear(out: Path) -> None:
    """Empty ``out`` for the new site; refuse a folder that holds anything but a site built here before."""
    if out.exists():
        if any(out.iterdir()) and not (out / ".buildinfo").is_file():
            raise BuildError(f"{out} is not empty and holds no site built before: choose another folder")
        shutil.rmtree(out)


def tidy(html: Path) -> None:
    """Leave out of a built site what no page uses: the themes' Jinja macro files, which they copy into _static
    as they are (their links are template code), and the empty _sources folder (html_copy_source is off)."""
    for macros in html.glob("_static/*macros.html"):
        macros.unlink()
    sources = html / "_sources"
    if sources.is_dir() and not any(sources.iterdir()):
        sources.rmdir()


def build(out: Path, languages: tuple[str, ...] = LANGUAGES) -> dict[str, dict[str, int]]:
    """Write the site into ``out``: English at its root, Chinese in ``out/zh-CN``. Both Sphinx builds run side by
    side; raises BuildError, after printing what Sphinx said, if either warns."""
    started = time.monotonic()
    out = Path(out).resolve()
    _clear(out)
    built: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory(prefix="course-site-") as tmp:
        work = Path(tmp)
        procs = {}
        for language in languages:
            src = work / language / "src"
            built[language] = stage(language, src)
            say(f"{language}: {built[language]['lessons']} lessons and {built[language]['pages']} pages staged")
            env = dict(os.environ, COURSE_SITE_LANGUAGE=language)
            log = (work / language / "sphinx.log").open("w+", encoding="utf-8")
            cmd = sphinx_command(language, src, work / language / "html", work / language / "doctrees")
            procs[language] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work), log)
        say(f"building {' and '.join(languages)} with Sphinx (MyST-NB; no notebook is executed)")
        failed = []
        for language, (proc, log) in procs.items():
            code = proc.wait()
            log.seek(0)
            output = log.read().strip()
            log.close()
            if output:
                print(output, file=sys.stderr)
            if code != 0 or output:
                failed.append(language)
            else:
                say(f"{language}: built in {time.monotonic() - started:.1f} s")
        if failed:
            raise BuildError(f"the {' and '.join(failed)} site did not build cleanly: see Sphinx's messages above")
        out.parent.mkdir(parents=True, exist_ok=True)
        for language in languages:
            html = work / language / "html"
            tidy(html)
            shutil.move(str(html), str(out / SITE_PREFIX[language]) if SITE_PREFIX[language] else str(out))
    manifest = {"languages": list(languages), "built": built}
    (out / "site.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    say(f"wrote {out} in {time.monotonic() - started:.1f} s ({size / 1e6:.1f} MB): open {out / 'index.html'}")
    return built
