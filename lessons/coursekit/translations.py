"""The course's Simplified Chinese edition, written from the English notebooks and the translations of their prose.

    python -m coursekit.translations build [NN ...]     write lessons/zh-CN/NN_name.ipynb (``make zh``)
    python -m coursekit.translations check [NN ...]     list what keeps the editions apart; exit 1 if anything does
    python -m coursekit.translations update [NN ...]    add what is new in the English to the translation files

One source: the English notebook ``lessons/NN_name.ipynb`` is the lesson. Its Chinese edition
``lessons/zh-CN/NN_name.ipynb`` is *written*, never edited: a copy of the English notebook whose Markdown cells are
replaced by their translations, kept in ``lessons/zh-CN/translations/NN_name.md``. Code cells, their stored outputs,
their tags and the notebook's metadata are the English ones, so nbval's run of the English notebook checks both;
two exceptions: the notebook's ``metadata.coursekit.language`` is ``zh-CN``, and the table a ``ck.check`` cell
stored is drawn again, from the same results, in Chinese words (:func:`localize_outputs`).

A translation file is Markdown, one section per Markdown cell of the English notebook, in the notebook's order::

    <!-- cell 420c5d51 en:1f2e3d4c5b6a -->
    # 第 01 课 —— 从 `Sequential` 到函数式 API
    ...

``en:`` is the fingerprint of the English text the section translates (the first 12 hex digits of its SHA-256).
When the English cell changes, its fingerprint changes and the translation is *stale* until someone translates the
new text and records the new fingerprint; ``update`` does the bookkeeping: it adds sections for new cells (the
English text, marked ``TODO``) and, for a stale section, records the new fingerprint, marks it ``TODO`` and puts the
new English text above the old translation. A section marked ``TODO`` is not a translation yet: ``build`` refuses
to write a lesson that has one and ``check`` lists it.

The glossary (``lessons/zh-CN/GLOSSARY.md``) fixes how terms are translated; ``check`` enforces it: where an English
cell's prose uses a term, its translation uses the glossary's rendering, and no translation uses a rendering the
glossary rules out.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

LESSONS_DIR = Path(__file__).resolve().parents[1]
LANGUAGE = "zh-CN"
EDITION_DIR = LESSONS_DIR / LANGUAGE
SOURCES_DIR = EDITION_DIR / "translations"
GLOSSARY = EDITION_DIR / "GLOSSARY.md"
EXERCISE_TAG = "exercise"

_MARKER = re.compile(r"^<!-- cell (?P<id>[\w-]+) en:(?P<fp>[0-9a-f]{12})(?P<todo> TODO)? -->[ \t]*$", re.MULTILINE)
CJK = re.compile(r"[\u4e00-\u9fff]")  # a Chinese character
_HEADER = ("<!-- Simplified Chinese translation of lessons/{name}. One section per Markdown cell of the English\n"
           "     notebook, in its order; `en:` fingerprints the English text translated. `make zh` writes\n"
           "     lessons/zh-CN/{name} from this file; see the README's authoring notes. -->\n")


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """A notebook as ``nbformat.write`` stores it (the English notebooks' format)."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def fingerprint(text: str) -> str:
    """The fingerprint of an English cell's text that a translation records."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


@dataclass
class Section:
    cell_id: str
    en: str  # fingerprint of the English text translated
    text: str
    todo: bool = False


# ------------------------------------------------------------------------------------------------- files


def english_lessons() -> dict[str, Path]:
    """NN -> the English notebook of each lesson."""
    return {p.name[:2]: p for p in sorted(LESSONS_DIR.glob("[0-9][0-9]_*.ipynb"))}


def selected(lessons: list[str] | None) -> list[Path]:
    """The English notebooks of the lessons named (NN), or of every lesson."""
    return [path for lesson, path in english_lessons().items() if not lessons or lesson in lessons]


def source_path(english: Path) -> Path:
    return SOURCES_DIR / (english.stem + ".md")


def edition_path(english: Path) -> Path:
    return EDITION_DIR / english.name


def parse(text: str) -> list[Section]:
    """The sections of a translation file (text before the first marker is a comment for translators)."""
    markers = list(_MARKER.finditer(text))
    sections = []
    for k, match in enumerate(markers):
        end = markers[k + 1].start() if k + 1 < len(markers) else len(text)
        body = text[match.end():end].strip("\n")
        sections.append(Section(match["id"], match["fp"], body.rstrip(), bool(match["todo"])))
    return sections


def render(name: str, sections: list[Section]) -> str:
    parts = [_HEADER.format(name=name)]
    for s in sections:
        parts.append(f"<!-- cell {s.cell_id} en:{s.en}{' TODO' if s.todo else ''} -->\n{s.text}\n")
    return "\n".join(parts)


def read_sections(english: Path) -> list[Section]:
    path = source_path(english)
    return parse(path.read_text(encoding="utf-8")) if path.exists() else []


# ------------------------------------------------------------------------------------------------- glossary


@dataclass
class Term:
    english: list[str]  # forms, matched as whole words (plurals too) in the English prose: see uses_term
    chinese: list[str]  # renderings: a translation of prose that uses the term contains one of them
    avoid: list[str]  # renderings no translation may use


def glossary(path: Path | None = None) -> list[Term]:
    """The terms of the glossary's table: | English | 中文 | 不用 | (forms separated by " / ", avoided ones by "、")."""
    terms = []
    for line in (path or GLOSSARY).read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) < 2 or not CJK.search(cells[1]) or cells[0] == "English":
            continue
        avoid = [a.strip() for a in cells[2].split("、")] if len(cells) > 2 and cells[2].strip("—- ") else []
        terms.append(Term([e.strip().strip("`") for e in cells[0].split(" / ")],
                          [c.strip() for c in cells[1].split(" / ")], [a for a in avoid if a]))
    return terms


def prose(markdown: str) -> str:
    """Markdown without its code: fenced blocks, inline code spans, HTML comments and link targets."""
    text = re.sub(r"```.*?```", " ", markdown, flags=re.DOTALL)
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.DOTALL)
    text = re.sub(r"`[^`\n]*`", " ", text)
    return re.sub(r"\]\([^)]*\)", "]", text)


def uses_term(english_prose: str, term: Term) -> bool:
    """Whether English prose uses a term: a form as a whole word (also after a hyphen, as in "non-trainable"), its
    words apart by spaces, a line break or a hyphen, and a plural (-s, -es, -y to -ies) counted."""
    for form in term.english:
        words = [re.escape(w) for w in form.split()]
        if form.endswith("y"):
            words[-1] = words[-1][:-1] + "(?:y|ies)"
        pattern = r"(?<!\w)" + r"[\s-]+".join(words) + r"(?:s|es)?(?![\w-])"
        if re.search(pattern, english_prose, re.IGNORECASE):
            return True
    return False


def glossary_problems(english: str, chinese: str, terms: list[Term], where: str) -> list[str]:
    problems = []
    english_prose, chinese_prose = prose(english), prose(chinese)
    for term in terms:
        if uses_term(english_prose, term) and not any(c in chinese_prose for c in term.chinese):
            problems.append(f"{where}: the English says {term.english[0]!r}; the glossary's rendering "
                            f"{' / '.join(term.chinese)!r} is missing from the translation")
        for bad in term.avoid:
            if bad in chinese_prose:
                problems.append(f"{where}: {bad!r} is ruled out by the glossary; write "
                                f"{' / '.join(term.chinese)!r} for {term.english[0]!r}")
    return problems


# ------------------------------------------------------------------------------------------------- exercises


def _exercise_facts(source: str) -> tuple[str, list[str], int]:
    """(name, quoted names, bullet count) of the exercise an exercise cell defines, from its docstring."""
    node = ast.parse(source).body[0]
    doc = ast.get_docstring(node) or ""
    quoted = sorted(set(re.findall(r'``"([^"`]+)"``', doc)))
    bullets = len(re.findall(r"^\s*- ", doc, re.MULTILINE))
    return node.name, quoted, bullets


def exercise_problems(nb: nbformat.NotebookNode, where: str) -> list[str]:
    """An exercise's Markdown (the cells right above its code cell) states it fully: its name, every name its
    docstring quotes, and as many list items as the docstring has (one per stated fact)."""
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or EXERCISE_TAG not in cell.metadata.get("tags", []):
            continue
        j, statement = i - 1, ""
        while j >= 0 and nb.cells[j].cell_type == "markdown":
            statement = nb.cells[j].source + "\n" + statement
            j -= 1
        name, quoted, bullets = _exercise_facts(cell.source)
        missing = [n for n in [name, *quoted] if n not in statement]
        if missing:
            problems.append(f"{where}: the statement of exercise {name} does not name {', '.join(missing)}")
        items = len(re.findall(r"^\s*(?:[-*]|\d+\.) ", prose(statement), re.MULTILINE))
        if items < bullets:
            problems.append(f"{where}: the statement of exercise {name} lists {items} facts; its docstring "
                            f"states {bullets} (give each as a list item in Chinese)")
    return problems


# ------------------------------------------------------------------------------------------------- build, check


def localize_outputs(cell: nbformat.NotebookNode) -> None:
    """The stored outputs of ``ck.check`` in the edition's words: each carries what it shows (the check's payload,
    the same in every language), from which its table is drawn again in Chinese."""
    from coursekit.check import PAYLOAD, render

    for output in cell.get("outputs", []):
        payload = output.get("data", {}).get(PAYLOAD)
        if payload is not None:
            page, text = render(payload, LANGUAGE)
            output["data"]["text/html"], output["data"]["text/plain"] = page, text


def edition(english: Path) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode, list[str]]:
    """The English notebook of a lesson, its Chinese notebook, and the problems of its translation (missing, stale,
    TODO, orphans...)."""
    nb = nbformat.read(english, as_version=4)
    sections = read_sections(english)
    by_id = {s.cell_id: s for s in sections}
    where = f"{LANGUAGE}/translations/{source_path(english).name}"
    problems = []
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    ids = [c.get("id") for c in markdown]
    if len(by_id) != len(sections):
        problems.append(f"{where}: a cell is translated twice")
    for orphan in [s.cell_id for s in sections if s.cell_id not in ids]:
        problems.append(f"{where}: cell {orphan} is not a Markdown cell of {english.name} (remove its section)")
    if [s.cell_id for s in sections if s.cell_id in ids] != [i for i in ids if i in by_id]:
        problems.append(f"{where}: the sections are not in the notebook's order")
    zh = copy.deepcopy(nb)
    zh.metadata.setdefault("coursekit", {})["language"] = LANGUAGE  # ck.check's words follow it
    for cell in zh.cells:
        if cell.cell_type == "code":
            localize_outputs(cell)
            continue
        if cell.cell_type != "markdown":
            continue
        section = by_id.get(cell.get("id"))
        at = f"{where}, cell {cell.get('id')}"
        if section is None:
            problems.append(f"{at}: not translated (run `python -m coursekit.translations update`)")
        elif section.todo:
            problems.append(f"{at}: marked TODO")
        elif section.en != fingerprint(cell.source):
            problems.append(f"{at}: stale: the English text changed since it was translated")
        elif not CJK.search(section.text):
            problems.append(f"{at}: no Chinese in the translation")
        else:
            cell.source = section.text
    return nb, zh, problems


def check(lessons: list[str] | None = None) -> list[str]:
    """Everything that keeps the Chinese edition from being the English lesson in Chinese."""
    terms = glossary()
    problems = []
    for english in selected(lessons):
        nb, zh, found = edition(english)
        problems += found
        if found:
            continue
        for en_cell, zh_cell in zip(nb.cells, zh.cells, strict=True):
            if en_cell.cell_type == "markdown":
                problems += glossary_problems(en_cell.source, zh_cell.source, terms,
                                              f"{LANGUAGE}/{english.name}, cell {en_cell.get('id')}")
        problems += exercise_problems(zh, f"{LANGUAGE}/{english.name}")
        path = edition_path(english)
        if not path.exists():
            problems.append(f"{LANGUAGE}/{english.name} is missing: run `make zh`")
        elif path.read_text(encoding="utf-8") != notebook_text(zh):
            problems.append(f"{LANGUAGE}/{english.name} differs from what its English notebook and translation "
                            f"make (edited by hand, or not rebuilt): run `make zh`")
    known = {p.stem for p in english_lessons().values()}
    orphans = ({p.stem for p in SOURCES_DIR.glob("*.md")} | {p.stem for p in EDITION_DIR.glob("*.ipynb")}) - known
    problems += [f"{LANGUAGE}: {name} belongs to no English lesson" for name in sorted(orphans)]
    return problems


def build(lessons: list[str] | None = None) -> list[str]:
    """Write the Chinese notebook of each lesson whose translation is complete and current; return the problems
    of those that are not (their notebooks are left as they were)."""
    problems = []
    for english in selected(lessons):
        _, zh, found = edition(english)
        if found:
            problems += found
            continue
        path = edition_path(english)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(notebook_text(zh), encoding="utf-8")
    return problems


def update(english: Path) -> list[str]:
    """Bring a translation file in step with its English notebook: sections for new cells (English text, TODO),
    stale sections re-marked TODO with the new English above the old translation, orphans dropped, notebook order.
    Returns the cells that need a translator."""
    nb = nbformat.read(english, as_version=4)
    old = {s.cell_id: s for s in read_sections(english)}
    sections, todo = [], []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        fp, s = fingerprint(cell.source), old.get(cell.get("id"))
        if s is None:
            s = Section(cell.get("id"), fp, cell.source, todo=True)
        elif s.en != fp:
            s = Section(s.cell_id, fp, f"{cell.source}\n\n<!-- the translation of the English before it changed: "
                        f"-->\n\n{s.text}", todo=True)
        sections.append(s)
        if s.todo:
            todo.append(s.cell_id)
    path = source_path(english)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(english.name, sections), encoding="utf-8")
    return todo


def main(argv: list[str]) -> int:
    command, lessons = (argv[0], argv[1:]) if argv else ("", [])
    if command == "build":
        problems = build(lessons)
        print("\n".join(problems) or f"{LANGUAGE}: every lesson written")
        return 1 if problems else 0
    if command == "check":
        problems = check(lessons)
        print("\n".join(problems) or f"{LANGUAGE}: the editions agree")
        return 1 if problems else 0
    if command == "update":
        for english in selected(lessons):
            todo = update(english)
            print(f"{source_path(english).relative_to(LESSONS_DIR)}: "
                  + (f"{len(todo)} sections to translate (marked TODO)" if todo else "in step"))
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
