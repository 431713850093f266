# The course's two commands. Both create or reuse .venv from requirements.txt and make sure Graphviz is there.
#   make course   run every lesson notebook and print the results table
#   make test     nbval (strict) over the lessons, the graders, the graders' own tests and the unit tests

PYTHON ?= python3
VENV_PY := .venv/bin/python
export PYTHONPATH := $(CURDIR)/lessons

PYTEST_NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

.PHONY: course test setup clean

setup:
	@$(PYTHON) lessons/coursekit/bootstrap.py

course: setup
	@$(VENV_PY) -m coursekit.run_course $(LESSONS)

test: setup
	@$(VENV_PY) -m pytest $(PYTEST_NBVAL) lessons tests $(PYTEST_ARGS)

clean:
	rm -rf build .pytest_cache
