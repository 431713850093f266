"""Sphinx's settings for the course's website, one build per language (coursekit/site/__init__.py runs them).

COURSE_SITE_LANGUAGE (``en`` or ``zh-CN``) says which; the English site is the site's root and the Chinese one its
``zh-CN/`` folder, and every page links to the same page in the other language (:func:`language_switch`).
"""

from __future__ import annotations

import os

SITE_LANGUAGE = os.environ.get("COURSE_SITE_LANGUAGE", "en")
ZH = SITE_LANGUAGE == "zh-CN"

project = "动手学 Keras 函数式 API" if ZH else "Hands-on Keras functional API"
language = "zh_CN" if ZH else "en"
author = ""
html_title = project

extensions = ["myst_nb"]
# The pages show the outputs stored in the notebooks (nbval checks them): nothing is executed.
nb_execution_mode = "off"
nb_output_stderr = "remove"  # TensorFlow's log lines and the backend's name: not part of the lesson
nb_merge_streams = True
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

root_doc = "index"
exclude_patterns = ["downloads/**"]  # the notebooks offered for download, not pages
templates_path = ["_templates"]
html_static_path = ["_static"]
html_css_files = ["course.css"]

html_theme = "sphinx_book_theme"
html_copy_source = False
html_show_sourcelink = False
html_show_sphinx = False
html_show_copyright = False
html_last_updated_fmt = None
html_theme_options = {
    "home_page_in_toc": True,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "show_toc_level": 2,
    "toc_title": "本页内容" if ZH else "On this page",
    "article_header_end": ["language-switch.html", "article-header-buttons.html"],
    "show_prev_next": True,
}

OTHER = {"en": ("zh-CN", "简体中文"), "zh-CN": ("en", "English")}


def language_switch(app, pagename, templatename, context, doctree) -> None:
    """The address of this page in the other language's site, for _templates/language-switch.html."""
    up = "../" * pagename.count("/")
    other, label = OTHER[SITE_LANGUAGE]
    site = "zh-CN/" if other == "zh-CN" else "../"
    context["course_other_language"] = other
    context["course_other_label"] = label
    context["course_other_href"] = f"{up}{site}{pagename}.html"


def setup(app) -> None:
    app.connect("html-page-context", language_switch)
