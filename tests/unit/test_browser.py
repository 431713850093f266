"""coursekit.browser: the browser tests' Chromium, and the one sentence when it is missing."""

import pytest

from coursekit import browser


def test_a_missing_chromium_is_one_sentence_that_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CHROMIUM", str(tmp_path / "no-such-chromium"))
    assert browser.chromium_path() is None
    with pytest.raises(browser.BrowserMissing, match=r"Chromium is not installed: install them with .*--extra browser"):
        with browser.page():
            pass


def test_course_chromium_picks_the_program(monkeypatch, tmp_path):
    program = tmp_path / "chrome"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    monkeypatch.setenv("COURSE_CHROMIUM", str(program))
    assert browser.chromium_path() == str(program)
