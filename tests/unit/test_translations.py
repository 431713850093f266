"""The Chinese edition is the English course in Chinese, and cannot drift from it.

Every lesson has its Chinese notebook (lessons/zh-CN/), which is exactly what coursekit.translations writes from the
English notebook and the current translation of each Markdown cell: code cells, stored outputs, tags and metadata are
the English ones; every Markdown cell is translated from its current English text; the glossary's terms are used
consistently; every exercise is stated fully in Chinese. The second half shows that each of these checks fails when
it should, on a copy of lesson 01.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from coursekit import translations
from coursekit.check import PAYLOAD, render
from coursekit.run_course import lesson_paths

LESSONS = lesson_paths([])
IDS = [p.stem for p in LESSONS]


def test_the_glossary_fixes_the_classic_terms():
    terms = {t.english[0]: t for t in translations.glossary()}
    assert len(terms) >= 40
    assert terms["functional API"].chinese[0] == "函数式 API"
    assert terms["residual connection"].chinese == ["残差连接"] and "残余连接" in terms["residual connection"].avoid
    assert terms["shared layer"].chinese == ["共享层"] and terms["loss weight"].chinese == ["损失权重"]


@pytest.mark.parametrize("path", LESSONS, ids=IDS)
def test_every_lesson_has_its_chinese_edition(path):
    assert translations.source_path(path).is_file(), f"no translation of {path.name}: see the README's authoring notes"
    assert translations.edition_path(path).is_file(), f"no Chinese notebook for {path.name}: run `make zh`"


@pytest.mark.parametrize("path", LESSONS, ids=IDS)
def test_code_cells_outputs_tags_and_metadata_are_the_english_ones(path):
    english = nbformat.read(path, as_version=4)
    chinese = nbformat.read(translations.edition_path(path), as_version=4)
    assert chinese.metadata.pop("coursekit") == {"language": "zh-CN"}
    assert chinese.metadata == english.metadata
    assert [(c.cell_type, c.get("id")) for c in chinese.cells] == [(c.cell_type, c.get("id")) for c in english.cells]
    for en, zh in zip(english.cells, chinese.cells, strict=True):
        assert zh.metadata == en.metadata, f"cell {en.get('id')}: metadata (tags) differ"
        if en.cell_type == "code":
            # a check's table is the English one drawn in Chinese words, from the same results
            for out_en, out_zh in zip(en.outputs, zh.outputs, strict=True):
                payload = out_en.get("data", {}).get(PAYLOAD)
                if payload is not None:
                    assert out_zh["data"][PAYLOAD] == payload
                    assert out_zh["data"]["text/plain"] == render(payload, "zh-CN")[1]
                    assert translations.CJK.search(out_zh["data"]["text/html"])
                    out_zh["data"] = out_en["data"]
            assert zh == en, f"code cell {en.get('id')} differs from the English one (source or outputs)"
        else:
            assert zh.source != en.source and translations.CJK.search(zh.source), \
                f"Markdown cell {en.get('id')} is not in Chinese"


@pytest.mark.parametrize("path", LESSONS, ids=IDS)
def test_the_editions_agree(path):
    """Every Markdown cell has a current translation, the terms follow the glossary, every exercise is stated fully,
    and the stored Chinese notebook is what the build writes (no hand edits, no stale build)."""
    problems = translations.check([path.name[:2]])
    assert not problems, "\n".join(problems)


def test_there_is_no_translation_of_a_lesson_that_does_not_exist():
    assert not [p for p in translations.check() if "belongs to no English lesson" in p]


def test_the_chinese_readme_and_the_english_one_link_each_other():
    root = translations.LESSONS_DIR.parent
    assert "(README.zh-CN.md)" in (root / "README.md").read_text()
    assert "(README.md)" in (root / "README.zh-CN.md").read_text()


# --------------------------------------------------------------------------- the checks fail when they should


@pytest.fixture
def course(tmp_path, monkeypatch) -> Path:
    """A course of one lesson (01) and its Chinese edition, copied, with coursekit.translations pointed at it."""
    english = LESSONS[0]
    lessons = tmp_path / "lessons"
    (lessons / "zh-CN" / "translations").mkdir(parents=True)
    shutil.copy2(english, lessons / english.name)
    shutil.copy2(translations.source_path(english), lessons / "zh-CN" / "translations" / f"{english.stem}.md")
    shutil.copy2(translations.edition_path(english), lessons / "zh-CN" / english.name)
    shutil.copy2(translations.GLOSSARY, lessons / "zh-CN" / "GLOSSARY.md")
    monkeypatch.setattr(translations, "LESSONS_DIR", lessons)
    monkeypatch.setattr(translations, "EDITION_DIR", lessons / "zh-CN")
    monkeypatch.setattr(translations, "SOURCES_DIR", lessons / "zh-CN" / "translations")
    monkeypatch.setattr(translations, "GLOSSARY", lessons / "zh-CN" / "GLOSSARY.md")
    assert translations.check() == []
    return lessons / english.name


def _edit_notebook(path: Path, edit) -> None:
    nb = nbformat.read(path, as_version=4)
    edit(nb)
    nbformat.write(nb, path)


def _edit_translation(english: Path, old: str, new: str, count: int = 1) -> None:
    path = translations.source_path(english)
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def _first_markdown(nb):
    return next(c for c in nb.cells if c.cell_type == "markdown")


def _set_section(english: Path, cell_id: str, text: str) -> None:
    """The translator's work: a new text for a cell, marked as translated."""
    sections = translations.read_sections(english)
    for section in sections:
        if section.cell_id == cell_id:
            section.text, section.todo = text, False
    translations.source_path(english).write_text(translations.render(english.name, sections), encoding="utf-8")


def test_a_changed_english_cell_makes_its_translation_stale_until_it_is_translated_again(course):
    _edit_notebook(course, lambda nb: setattr(_first_markdown(nb), "source", _first_markdown(nb).source + " More."))
    first = _first_markdown(nbformat.read(course, as_version=4))
    problems = translations.check()
    assert any("stale" in p for p in problems), problems
    assert any("stale" in p for p in translations.build())  # the build refuses
    assert translations.update(course) == [first.get("id")]
    todo = next(s for s in translations.read_sections(course) if s.cell_id == first.get("id"))
    assert todo.todo and todo.text.startswith(first.source)  # the new English above the old translation
    assert any("marked TODO" in p for p in translations.check())
    _set_section(course, first.get("id"), "第 01 课：新的中文译文。")
    assert any("differs from what" in p for p in translations.check())  # not rebuilt yet
    assert translations.build() == []
    assert not [p for p in translations.check() if "stale" in p or "TODO" in p or "differs" in p]


def test_a_new_english_cell_needs_a_translation(course):
    _edit_notebook(course, lambda nb: nb.cells.insert(1, nbformat.v4.new_markdown_cell("A new paragraph.")))
    assert any("not translated" in p for p in translations.check())
    translations.update(course)
    assert any("marked TODO" in p for p in translations.check())
    _edit_translation(course, " TODO -->", " -->")
    assert any("no Chinese in the translation" in p for p in translations.check())


def test_a_removed_english_cell_leaves_an_orphan_translation(course):
    _edit_notebook(course, lambda nb: nb.cells.remove(_first_markdown(nb)))
    assert any("is not a Markdown cell of" in p for p in translations.check())


@pytest.mark.parametrize("what", ["source", "outputs", "tags"])
def test_a_chinese_notebook_edited_by_hand_differs(course, what):
    def edit(nb):
        code = next(c for c in nb.cells if c.cell_type == "code" and c.outputs)
        if what == "source":
            code.source += "\nprint('hand edit')"
        elif what == "outputs":
            code.outputs[0]["text"] = "something else\n"
        else:
            code.metadata["tags"] = ["exercise"]
    _edit_notebook(translations.edition_path(course), edit)
    assert any("differs from what" in p for p in translations.check())


def test_a_term_the_glossary_rules_out_is_reported(course):
    _edit_translation(course, "函数式 API", "功能性 API")
    assert any("ruled out by the glossary" in p and "功能性 API" in p for p in translations.check())


def test_a_translation_that_leaves_out_a_glossary_term_is_reported(course):
    _edit_translation(course, "函数式", "函数风格", count=-1)
    assert any("'functional API'" in p and "is missing from the translation" in p for p in translations.check())


def test_an_exercise_must_be_stated_fully(course):
    _edit_translation(course, '"pixels"', "像素", count=-1)
    assert any("does not name pixels" in p for p in translations.check())


def test_an_exercise_statement_needs_every_fact_of_its_docstring(course):
    nb = nbformat.read(course, as_version=4)
    k = next(i for i, c in enumerate(nb.cells) if "build_functional_mlp" in c.source and c.cell_type == "code")
    statement = nb.cells[k - 1].get("id")
    _set_section(course, statement,
                 '### 练习 1 —— `build_functional_mlp`\n\n'
                 '用函数式 API 写出这个模型：输入 `"pixels"`，输出层 `"digit"`。')
    translations.build()
    assert any("build_functional_mlp lists 0 facts" in p for p in translations.check())
