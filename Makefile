# The course's two commands. Both create or reuse .venv from requirements.txt and make sure Graphviz is there.
#   make course   run every lesson notebook and print the results table
#   make test     nbval (strict) over the lessons, the graders, the graders' own tests and the unit tests
# Classroom:
#   make student                        the student edition in build/student-edition (STUDENT_DIR=... to choose)
#   make grade SUBMISSION=path          grade one submission (a folder of notebooks or lessonNN.py, or a notebook);
#                                       LESSONS="01 02" grades some lessons only (also for gradebook)
#   make gradebook SUBMISSIONS=folder   grade a class: one submission per student; results in build/gradebook/
#   make benchmark                      time grading one full submission and a class of 30 (build/benchmark/)

PYTHON ?= python3
VENV_PY := .venv/bin/python
export PYTHONPATH := $(CURDIR)/lessons:$(CURDIR)/tests
STUDENT_DIR ?= build/student-edition

PYTEST_NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

.PHONY: course test setup clean student grade gradebook benchmark

setup:
	@$(PYTHON) lessons/coursekit/bootstrap.py

course: setup
	@$(VENV_PY) -m coursekit.run_course $(LESSONS)

test: setup
	@$(VENV_PY) -m pytest $(PYTEST_NBVAL) lessons tests $(PYTEST_ARGS)

student: setup
	@$(VENV_PY) -m coursekit.student_edition $(STUDENT_DIR)

grade: setup
	@test -n "$(SUBMISSION)" || { echo "usage: make grade SUBMISSION=path/to/notebooks-or-modules"; exit 2; }
	@$(VENV_PY) -m gradekit.classroom grade $(SUBMISSION) $(if $(LESSONS),--lessons $(LESSONS)) \
		--report build/grade.json --markdown build/feedback.md

gradebook: setup
	@test -n "$(SUBMISSIONS)" || { echo "usage: make gradebook SUBMISSIONS=folder/with/one/submission/per/student"; exit 2; }
	@$(VENV_PY) -m gradekit.classroom batch $(SUBMISSIONS) $(if $(LESSONS),--lessons $(LESSONS)) --out build/gradebook

benchmark: setup
	@$(VENV_PY) tests/benchmarks/bench_grading.py

clean:
	rm -rf build .pytest_cache
