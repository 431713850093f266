# The course's commands. Each creates or reuses .venv from requirements.txt and makes sure Graphviz is there (and,
# on Linux, tries to install bubblewrap, the grading sandbox: without it grading falls back to weaker layers).
#   make course   run every lesson notebook and print the results table
#   make test     make lint, then nbval (strict) over the lessons, the graders, the graders' own tests and the unit
#                 tests (the pytest settings are in pyproject.toml; PYTEST_ARGS=... adds options or picks tests)
#   make lint     ruff over the Python code and the notebooks' code cells (rules in pyproject.toml); check-jsonschema
#                 and zizmor over the GitHub Actions workflows (requirements-lint.txt, installed on first use), and
#                 actionlint where it installs (requirements-actionlint.txt)
#   make zh       write the Chinese edition (lessons/zh-CN/NN_name.ipynb) from the English notebooks and the
#                 translations in lessons/zh-CN/translations/ (coursekit/translations.py)
#   make site     build the course's website (English and Chinese) into build/site/ from the committed notebooks and
#                 their stored outputs (requirements-site.txt, installed on first use; coursekit/site/)
#   make lab      open the lessons in JupyterLab (requirements-lab.txt, installed into .venv on first use)
#   make practice study on your own: write the practice edition (the student edition plus hints and reference
#                 answers, coursekit/practice.py) into build/practice-edition (PRACTICE_DIR=... to choose;
#                 EDITION=zh-CN: the Chinese one, in build/practice-edition-zh-CN) unless it is there already (your
#                 work is kept; delete the folder to start afresh), and open its lessons in JupyterLab, where
#                 ck.check("name"), ck.hint("name"), ck.solution("name") and ck.progress() help
# Keras backend: BACKEND=tensorflow (the default) or BACKEND=jax, e.g. `make test BACKEND=jax`, `make course
# BACKEND=jax`. It is exported as KERAS_BACKEND to the course, test, lab, practice, grade, gradebook, student and
# benchmark commands; BACKEND=jax installs requirements-jax.txt into .venv first (on first use, and when it changes).
# Classroom:
#   make student                        the student edition in build/student-edition (STUDENT_DIR=... to choose);
#                                       EDITION=zh-CN: the Chinese one, in build/student-edition-zh-CN
#   make grade SUBMISSION=path          grade one submission (a folder of notebooks or lessonNN.py, or a notebook);
#                                       LESSONS="01 02" grades some lessons only (also for gradebook)
#   make gradebook SUBMISSIONS=folder   grade a class: one submission per student; results in build/gradebook/
#                                       (grade, gradebook: REQUIRE_SANDBOX=1 refuses to grade outside bubblewrap;
#                                       the environment variable COURSE_REQUIRE_SANDBOX=1 does the same)
#   make benchmark                      time grading one full submission and a class of 30 (build/benchmark/)

PYTHON ?= python3
VENV_PY := .venv/bin/python
export PYTHONPATH := $(CURDIR)/lessons:$(CURDIR)/tests
# The language of the student edition: en or zh-CN (not LANGUAGE, which gettext reads and many shells set).
EDITION ?= en
STUDENT_DIR ?= build/student-edition$(if $(filter-out en,$(EDITION)),-$(EDITION))
PRACTICE_DIR ?= build/practice-edition$(if $(filter-out en,$(EDITION)),-$(EDITION))
BACKEND ?= tensorflow
BACKENDS := tensorflow jax

# The workflows make lint checks: the course's own CI and the template of the student edition's.
# -shellcheck= and -pyflakes= keep its verdict the same on every machine, whether or not those tools are installed.
WORKFLOWS := $(wildcard .github/workflows/*.yml .github/workflows/*.yaml) lessons/coursekit/templates/classroom_grade.yml \
             lessons/coursekit/templates/class_gradebook.yml
ACTIONLINT := .venv/bin/actionlint -shellcheck= -pyflakes=

# make test runs the tests side by side, one process per core (pytest-xdist; one process on a 1-core machine), each
# file in one process, so that a notebook's cells run in order in one kernel. PYTEST_JOBS= runs them in one process.
PYTEST_JOBS ?= -n auto --dist loadfile

.PHONY: course test lint lab practice setup backend clean student zh grade gradebook gradebook-merge benchmark site

# The commands that run Keras use the chosen backend (the environment variable wins over coursekit's default).
course test lab practice grade gradebook student benchmark: export KERAS_BACKEND := $(BACKEND)

setup:
	@$(PYTHON) lessons/coursekit/bootstrap.py

# The chosen backend's packages: TensorFlow is in requirements.txt; any other has requirements-BACKEND.txt.
backend: setup
	@case " $(BACKENDS) " in *" $(BACKEND) "*) ;; \
	*) echo "BACKEND=$(BACKEND) is not one of the course's backends: use one of $(BACKENDS)." >&2; exit 2;; esac
	@if [ "$(BACKEND)" != tensorflow ]; then $(PYTHON) lessons/coursekit/bootstrap.py --extra $(BACKEND); fi

course: backend
	@$(VENV_PY) -m coursekit.run_course $(LESSONS)

# The browser tests (the site, the class report) need Playwright and Debian's Chromium and CJK font (the browser
# extra), and the site's generator (the site extra): both are installed on first use.
test: backend lint
	@$(PYTHON) lessons/coursekit/bootstrap.py --extra browser
	@$(PYTHON) lessons/coursekit/bootstrap.py --extra site
	@echo "[test] Keras backend: $(BACKEND)"
	@$(VENV_PY) -m pytest $(PYTEST_JOBS) $(PYTEST_ARGS)

lint: setup
	@$(VENV_PY) -m ruff check .
	@$(PYTHON) lessons/coursekit/bootstrap.py --extra lint
	@.venv/bin/check-jsonschema --builtin-schema vendor.github-workflows $(WORKFLOWS)
	@.venv/bin/zizmor --offline --quiet --no-progress --color never --config .github/zizmor.yml $(WORKFLOWS)
	@$(PYTHON) lessons/coursekit/bootstrap.py --extra actionlint $(if $(REQUIRE_ACTIONLINT),,--optional)
	@if [ -x .venv/bin/actionlint ]; then $(ACTIONLINT) $(WORKFLOWS) && echo "actionlint: $(WORKFLOWS) passed"; \
	else echo "[lint] actionlint is not installed here: the workflows were checked by check-jsonschema and zizmor only"; fi

site: setup
	@$(PYTHON) lessons/coursekit/bootstrap.py --extra site
	@$(VENV_PY) -m coursekit.site build/site

lab: backend
	@$(PYTHON) lessons/coursekit/bootstrap.py --extra lab
	@$(VENV_PY) -m jupyterlab --ServerApp.root_dir="$(CURDIR)/lessons" $(LAB_ARGS)

# Written once: building again would empty the folder, and with it the learner's answers. The practice edition's
# notebooks import its own coursekit (which finds the answers and hints it holds), not the course's: its lessons/
# comes first on PYTHONPATH, before the course's lessons/ that set-up puts on .venv's path.
practice: backend
	@if [ -d "$(PRACTICE_DIR)/lessons" ]; then echo "[practice] $(PRACTICE_DIR) is kept (delete it to start afresh)"; \
	else $(VENV_PY) -m coursekit.practice $(PRACTICE_DIR) --language $(EDITION); fi
	@$(PYTHON) lessons/coursekit/bootstrap.py --extra lab
	@cd $(PRACTICE_DIR) && PYTHONPATH="$(abspath $(PRACTICE_DIR))/lessons" $(abspath $(VENV_PY)) -m jupyterlab \
		--ServerApp.root_dir="$(abspath $(PRACTICE_DIR))/lessons" $(LAB_ARGS)

student: setup
	@$(VENV_PY) -m coursekit.student_edition $(STUDENT_DIR) --language $(EDITION)

zh: setup
	@$(VENV_PY) -m coursekit.translations build

grade: backend
	@test -n "$(SUBMISSION)" || { echo "usage: make grade SUBMISSION=path/to/notebooks-or-modules"; exit 2; }
	@$(VENV_PY) -m gradekit.classroom grade $(SUBMISSION) $(if $(LESSONS),--lessons $(LESSONS)) \
		$(if $(filter 1,$(REQUIRE_SANDBOX)),--require-sandbox) --report build/grade.json --markdown build/feedback.md

# SHARD=I/N grades the I-th of N slices of the class into build/gradebook-shard-I-of-N (give every shard the same
# SEED, or COURSE_GRADING_SEED); make gradebook-merge SHARDS="dir..." writes the whole class into build/gradebook.
gradebook: backend
	@test -n "$(SUBMISSIONS)" || { echo "usage: make gradebook SUBMISSIONS=folder/with/one/submission/per/student"; exit 2; }
	@$(VENV_PY) -m gradekit.classroom batch $(SUBMISSIONS) $(if $(LESSONS),--lessons $(LESSONS)) \
		$(if $(filter 1,$(REQUIRE_SANDBOX)),--require-sandbox) $(if $(SEED),--seed $(SEED)) \
		$(if $(SHARD),--shard $(SHARD) --out build/gradebook-shard-$(subst /,-of-,$(SHARD)),--out build/gradebook)

gradebook-merge: setup
	@test -n "$(SHARDS)" || { echo "usage: make gradebook-merge SHARDS=\"build/gradebook-shard-1-of-3 ...\""; exit 2; }
	@$(VENV_PY) -m gradekit.classroom merge $(SHARDS) --out build/gradebook

benchmark: backend
	@$(VENV_PY) tests/benchmarks/bench_grading.py

clean:
	rm -rf build .pytest_cache
