"""Attacks on classroom grading, each graded beside its honest twin: the same submission without the attack.

A student who has read every file of the student edition (the grading engine included) and wants points without
the work tries, in ordinary Python in the submitted module: reading or importing the reference answers; forging,
suppressing or reordering results through anything the process can reach; patching the libraries the graders use;
exiting, raising, hanging or flooding at chosen moments. Every attack must earn exactly its twin's points, test by
test. All submissions are graded in one batch (lesson 01), by real judge and worker processes, as a teacher would.
"""

from __future__ import annotations

import json
import os
import re
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from gradekit import classroom

ROOT = Path(__file__).resolve().parents[2]
SOLUTION = (ROOT / "solutions" / "lesson01.py").read_text().replace("from __future__ import annotations\n", "")

STUB = textwrap.dedent('''
    import keras


    def build_functional_mlp():
        raise NotImplementedError


    def to_functional(model):
        raise NotImplementedError


    def feature_extractor(model, layer_name):
        raise NotImplementedError


    class SimpleDense(keras.layers.Layer):
        def __init__(self, units, activation=None, **kwargs):
            raise NotImplementedError
''')

# A wrong answer: the output has no softmax and to_functional copies the weights instead of sharing them.
WRONG = SOLUTION.replace('Dense(10, activation="softmax", name="digit")', 'Dense(10, name="digit")').replace(
    '''    for layer in model.layers:
        x = layer(x)
    return keras.Model(inputs, x, name=f"{model.name}_functional")''',
    '''    for layer in model.layers:
        x = layer.__class__.from_config(layer.get_config())(x)
    copy = keras.Model(inputs, x, name=f"{model.name}_functional")
    copy.set_weights(model.get_weights())
    return copy''')

# The solution with SimpleDense left as the student edition has it (the honest twin of attacks on that exercise).
DENSE_START = SOLUTION.index("class SimpleDense(keras.layers.Layer):")
DENSE_STUB = SOLUTION[:DENSE_START] + textwrap.dedent('''
    class SimpleDense(keras.layers.Layer):
        def __init__(self, units, activation=None, **kwargs):
            raise NotImplementedError
''')

# A stand-in for the worker's probe that computes every output from the plan it is handed (the judge's fresh draws):
# what a student who has read gradekit/probes.py could put in its place.
FORGED_PROBE = '''
import numpy as np


def _forged(cls, filename, timeout, plan):
    def dense(spec, relu=None):
        z = spec["x"].astype("float64") @ spec["kernel"] + spec["bias"]
        act = spec["kwargs"].get("activation") if relu is None else relu
        return np.maximum(z, 0) if act == "relu" else z

    cases = []
    for spec in plan["cases"]:
        units, dim = spec["kwargs"]["units"], spec["input_dim"]
        out = dense(spec)
        cases.append({"create": True, "weights_before_call": 0, "symbolic_call": True, "output_shape": [None, units],
                      "trainable_shapes": sorted([[dim, units], [units]]), "non_trainable_count": 0,
                      "outputs": out, "functional_outputs": out})
    config = plan["config"]
    kwargs = dict(config["kwargs"])
    saved = plan["save"]
    return {"is_layer_class": True, "cases": cases,
            "config": {"create": True, "config": kwargs, "round_trip": {"config": kwargs, "name": kwargs["name"]},
                       "outputs": dense(config)},
            "save": {"outputs": dense(saved) @ saved["dense_kernel"] + saved["dense_bias"]}}
'''

# Where the course is, as a student can find it from inside the worker; and how a student would use answers it read,
# without exec or anything else the grader flags: write them to a module in the scratch folder and import it.
FIND_ROOT = textwrap.dedent('''
    import sys
    from pathlib import Path
    ROOT = Path(sys.executable).parents[2]   # .venv/bin/python -> the course folder
    ROOT = Path(r"{root}") if not (ROOT / "solutions").exists() else ROOT


    def _use(text):
        import os
        with open(os.path.join(os.getcwd(), "stolen_answers.py"), "w") as handle:
            handle.write(text)
        sys.path.insert(0, os.getcwd())
        from stolen_answers import SimpleDense, build_functional_mlp, feature_extractor, to_functional
        return build_functional_mlp, to_functional, feature_extractor, SimpleDense
''').format(root=ROOT)
USE = "build_functional_mlp, to_functional, feature_extractor, SimpleDense = _use"


def with_fallback(attack: str, fallback: str = STUB) -> str:
    """The attack, then the fallback (what the student has) unless the attack defined the exercises."""
    return FIND_ROOT + textwrap.dedent(attack) + "\ntry:\n    build_functional_mlp\nexcept NameError:\n" + \
        textwrap.indent(fallback, "    ")


ATTACKS: dict[str, tuple[str, str]] = {
    # ---------------------------------------------------------------- reading or importing the reference answers
    "import-solutions": (with_fallback('''
        try:
            sys.path.insert(0, str(ROOT / "solutions"))
            from lesson01 import SimpleDense, build_functional_mlp, feature_extractor, to_functional
        except Exception:
            pass
    '''), "stub"),
    "open-solutions": (with_fallback(f'''
        try:
            {USE}((ROOT / "solutions" / "lesson01.py").read_text())
        except Exception:
            pass
    '''), "stub"),
    "open-through-proc-root": (with_fallback(f'''
        try:
            {USE}(open("/proc/self/root" + str(ROOT / "solutions" / "lesson01.py")).read())
        except Exception:
            pass
    '''), "stub"),
    "exercise-cells-of-the-lesson-notebook": (with_fallback(f'''
        import json
        try:
            notebook = json.loads((ROOT / "lessons" / "01_sequential_to_functional.ipynb").read_text())
            {USE}("\\n".join("".join(cell["source"]) for cell in notebook["cells"]
                             if "exercise" in cell.get("metadata", {{}}).get("tags", [])))
        except Exception:
            pass
    '''), "stub"),
    "list-and-search-the-disk": (with_fallback(f'''
        import os
        for folder in (ROOT, ROOT / "solutions", ROOT / "build", ROOT / ".git", ROOT / "tests" / "grading", "/tmp"):
            try:
                for name in os.listdir(folder):
                    if name == "lesson01.py":
                        {USE}(open(os.path.join(folder, name)).read())
            except Exception:
                pass
    '''), "stub"),
    "shell-out": (with_fallback(f'''
        import subprocess
        try:
            {USE}(subprocess.run(["cat", str(ROOT / "solutions" / "lesson01.py")], capture_output=True,
                                 text=True).stdout)
        except Exception:
            pass
        try:
            import os
            os.system(f"cp {{ROOT}}/solutions/lesson01.py /tmp/stolen.py")
            {USE}(open("/tmp/stolen.py").read())
        except Exception:
            pass
    '''), "stub"),
    "hidden-tests": (with_fallback('''
        try:
            HIDDEN = (ROOT / "tests" / "grading" / "test_lesson01.py").read_text()  # what it would do with them does
        except Exception:                                                          # not matter
            HIDDEN = ""
    '''), "stub"),
    # ---------------------------------------------------------------- forging, suppressing, reordering results
    "forged-frames-on-every-descriptor": (with_fallback('''
        import json, os
        from gradekit import evidence
        passed = {"ok": True, "earned": 20, "possible": 20, "feedback": "passed", "name": "test_mlp_input"}
        forged = evidence.encode({"ok": True, "type": "Functional", "root": {"float": "inf"}, "objects": [],
                                  "nodes": []}, [])
        for fd in range(3, 64):
            for data in (len(forged).to_bytes(8, "big") + forged, (json.dumps(passed) + "\\n").encode()):
                try:
                    os.write(fd, data)
                except OSError:
                    pass
        print("20 / 20")
    '''), "stub"),
    "patched-worker-engine": (with_fallback('''
        import gc
        from gradekit import evidence, worker
        worker.failure = lambda kind, detail="": {"ok": True, "root": None, "objects": [], "nodes": []}
        evidence.pack = lambda value, *a, **k: ({"root": {"float": "nan"}, "objects": [], "nodes": []}, [])
        for obj in gc.get_objects():
            if isinstance(obj, worker.Engine):
                obj.handle = lambda message: evidence.encode({"ok": True, "passed": True, "earned": 20}, [])
    '''), "stub"),
    # ---------------------------------------------------------------- steering the worker's probe of a class
    "forged-probe": (FORGED_PROBE + '''
import gradekit.probes
gradekit.probes.PROBES["layer_class"] = _forged
''' + DENSE_STUB, "stub"),  # in a module, code at the top runs for every exercise: each earns nothing
    "forged-probe-without-naming-the-engine": (FORGED_PROBE + '''
import sys
for _name, _module in list(sys.modules.items()):
    if _name.endswith(".probes") and hasattr(_module, "PROBES"):
        _module.PROBES["layer_class"] = _forged
''' + DENSE_STUB, "stub"),
    "subclass-of-the-built-in-dense": (SOLUTION[:DENSE_START] + textwrap.dedent('''
        class SimpleDense(keras.layers.Dense):
            """A one-line subclass of the built-in layer."""
    '''), "simple-dense-stub"),
    # ---------------------------------------------------------------- patching the libraries graders use
    "patched-libraries": ('''
import math
import numpy as np
import keras
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.isclose = lambda *a, **k: True
math.isclose = lambda *a, **k: True
keras.Model.fit = lambda self, *a, **k: None
keras.Model.evaluate = lambda self, *a, **k: 0.0
''' + WRONG, "wrong"),
    "patched-grading-helpers": ('''
import gradekit.harness as harness
harness.dense_chain = lambda *a, **k: [(32, "relu"), (32, "relu"), (10, "softmax")]
harness.same_variables = lambda *a, **k: True
harness.close = lambda *a, **k: True
''' + WRONG, "stub"),
    # ---------------------------------------------------------------- exiting, raising, hanging, flooding
    "kills-its-judge": (with_fallback('''
        import os, signal
        for target in (os.getppid(), 1):
            try:
                os.kill(target, signal.SIGKILL)
            except Exception:
                pass
        try:
            signal.pthread_kill(0, signal.SIGKILL)
        except Exception:
            pass
    '''), "stub"),
    "exits-inside-a-call": (SOLUTION.replace(
        '''    # BEGIN SOLUTION
    inputs = keras.Input(shape=model.input_shape[1:], name="inputs")''',
        '''    # BEGIN SOLUTION
    import os
    os._exit(3)
    inputs = keras.Input(shape=model.input_shape[1:], name="inputs")'''), "to-functional-raises"),
    "hangs-inside-a-call": (SOLUTION.replace(
        '''    return keras.Model(model.inputs, model.get_layer(layer_name).output, name=f"{layer_name}_features")''',
        '''    while True:
        pass'''), "feature-extractor-raises"),
    "floods-its-output": ("print('x' * 20_000_000)\nimport sys\nsys.stderr.write('y' * 5_000_000)\n" + SOLUTION.replace(
        "    # BEGIN SOLUTION\n    pixels =", "    # BEGIN SOLUTION\n    print('z' * 5_000_000)\n    pixels ="),
        "solution"),
}

TWINS = {
    "stub": STUB,
    "simple-dense-stub": DENSE_STUB,
    "wrong": WRONG,
    "solution": SOLUTION,
    "to-functional-raises": SOLUTION.replace(
        '''    # BEGIN SOLUTION
    inputs = keras.Input(shape=model.input_shape[1:], name="inputs")''',
        '''    # BEGIN SOLUTION
    raise RuntimeError("no")
    inputs = keras.Input(shape=model.input_shape[1:], name="inputs")'''),
    "feature-extractor-raises": SOLUTION.replace(
        '''    return keras.Model(model.inputs, model.get_layer(layer_name).output, name=f"{layer_name}_features")''',
        '''    raise RuntimeError("no")'''),
}


def notebook(*cells: tuple[str, bool]) -> str:
    """A notebook of code cells (source, is an exercise cell), as Jupyter writes it."""
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "id": f"c{k}", "execution_count": None, "outputs": [], "source": text,
         "metadata": {"tags": ["exercise"]} if exercise else {}} for k, (text, exercise) in enumerate(cells)]})


# A notebook whose exercise cell is the stub but reads a helper cell's "cheap assignment", which the notebook analysis
# brings in with it: the assignment replaces the worker's probe by the forged one.
NOTEBOOK_ATTACKS: dict[str, tuple[str, str]] = {
    "forged-probe-from-a-notebook-helper-cell": (notebook(
        ("import keras\nimport numpy as np", False),
        (FORGED_PROBE, False),
        ("import sys\nPATCHED = [m.PROBES.update(layer_class=_forged) for n, m in list(sys.modules.items())\n"
         "           if n.endswith('.probes') and hasattr(m, 'PROBES')]", False),
        (SOLUTION[SOLUTION.index("def build_functional_mlp"):DENSE_START], True),
        ("class SimpleDense(keras.layers.Layer):\n    patched = PATCHED\n\n"
         "    def __init__(self, units, activation=None, **kwargs):\n        raise NotImplementedError\n", True),
    ), "simple-dense-stub"),
}


# Links handed in for lesson01.py: where each points, given the class folder and the attacker's folder. The judge
# follows none of them, so each earns what a submission without lesson01.py earns.
LINK_ATTACKS: dict[str, tuple[Callable[[Path, Path], str], str]] = {
    "link-to-the-solutions": (lambda folder, own: os.path.relpath(ROOT / "solutions" / "lesson01.py", own), "absent"),
    "link-to-the-solutions-absolute": (lambda folder, own: str(ROOT / "solutions" / "lesson01.py"), "absent"),
    "link-through-proc-self-cwd": (lambda folder, own: "/proc/self/cwd/solutions/lesson01.py", "absent"),
    "link-to-a-classmate": (lambda folder, own: "../twin-solution/lesson01.py", "absent"),
    "link-to-dev-zero": (lambda folder, own: "/dev/zero", "absent"),
}


CALL_TIMEOUT = 20.0


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp("class")
    for name, (target, _) in LINK_ATTACKS.items():
        (folder / name).mkdir()
        (folder / name / "lesson01.py").symlink_to(target(folder, folder / name))
    (folder / "twin-absent").mkdir()
    for name, (source, _) in ATTACKS.items():
        (folder / name).mkdir()
        (folder / name / "lesson01.py").write_text(source)
    for name, (source, _) in NOTEBOOK_ATTACKS.items():
        (folder / name).mkdir()
        (folder / name / "01_sequential_to_functional.ipynb").write_text(source)
    for name, source in TWINS.items():
        (folder / f"twin-{name}").mkdir()
        (folder / f"twin-{name}" / "lesson01.py").write_text(source)
    out = tmp_path_factory.mktemp("gradebook")
    # The call limit leaves room for a loaded machine: JAX's first compilations in a worker took over 5 s in a CI run
    # beside other work, and a twin that times out would earn less than its attack. Only the hanging attack waits it.
    options = {"call_timeout": CALL_TIMEOUT, "submission_timeout": 600.0, "memory_mb": 1024}
    classroom.batch(folder, out, jobs=2, lessons=["01"], options=options)
    return {p.stem: json.loads(p.read_text()) for p in (out / "reports").glob("*.json")}


def test_the_twins_score_as_expected(graded):
    total = graded["twin-solution"]["possible"]
    assert graded["twin-solution"]["earned"] == total
    assert graded["twin-stub"]["earned"] == 0
    assert 0 < graded["twin-wrong"]["earned"] < total


@pytest.mark.parametrize("attack", list(ATTACKS) + list(NOTEBOOK_ATTACKS) + list(LINK_ATTACKS))
def test_an_attack_earns_exactly_what_its_honest_twin_earns(graded, attack):
    twin = graded["twin-" + {**ATTACKS, **NOTEBOOK_ATTACKS, **LINK_ATTACKS}[attack][1]]
    report = graded[attack]
    assert len(report["tests"]) == len(twin["tests"]), report.get("error")
    earned = {t["name"]: t["earned"] for t in report["tests"]}
    expected = {t["name"]: t["earned"] for t in twin["tests"]}
    assert earned == expected, {k: (earned[k], expected[k]) for k in earned if earned[k] != expected[k]}


def test_reading_the_answers_is_refused_by_the_sandbox(graded):
    """The stub's feedback says 'not implemented yet': the attacks found nothing to import or read."""
    readers = ("import-solutions", "open-solutions", "open-through-proc-root", "exercise-cells-of-the-lesson-notebook",
               "list-and-search-the-disk", "shell-out", "hidden-tests")
    for attack in readers:
        if True:
            assert all("not implemented yet" in t["feedback"] or "SimpleDense" in t["feedback"]
                       for t in graded[attack]["tests"]), attack


ENGINE_REACHERS = ("forged-probe", "forged-probe-without-naming-the-engine", "forged-probe-from-a-notebook-helper-cell",
                   "patched-grading-helpers", "patched-worker-engine")


@pytest.mark.parametrize("attack", ENGINE_REACHERS)
def test_code_that_reaches_for_the_engine_is_flagged_for_the_teacher(graded, attack):
    """The exercise earns nothing, its feedback says why, and the report and the gradebook carry the flag."""
    report = graded[attack]
    assert report.get("flags"), attack
    assert any("earns no points" in t["feedback"] for t in report["tests"]), attack


@pytest.mark.parametrize("attack", list(LINK_ATTACKS))
def test_a_link_is_refused_with_a_message_and_nothing_is_read_through_it(graded, attack):
    assert all("lesson01.py is a symbolic link: hand in the file itself" in t["feedback"]
               for t in graded[attack]["tests"]), graded[attack]["tests"][0]["feedback"]
    assert str(ROOT) not in json.dumps(graded[attack]), "no folder of the machine reaches a report"


def test_honest_submissions_are_not_flagged(graded):
    for name in TWINS:
        assert not graded[f"twin-{name}"].get("flags"), name


def test_a_hang_costs_one_time_limit_and_the_exercise_only(graded):
    report = graded["hangs-inside-a-call"]
    lost = [t for t in report["tests"] if t["earned"] < t["possible"]]
    assert lost and all(t["exercise"] == "feature_extractor"
                        and f"did not finish within {CALL_TIMEOUT:g} s" in t["feedback"] for t in lost)
    assert report["seconds"] < graded["twin-solution"]["seconds"] + CALL_TIMEOUT + 35, "later calls failed at once"


def test_the_grader_files_are_unchanged(graded):
    """Nothing in the batch could write to the course (the worker can write only its scratch folder)."""
    assert not Path("/tmp/stolen.py").exists()
    assert sys.modules.get("gradekit.classroom") is classroom


# ------------------------------------------------------------------------------------------------------------
# Nothing of a submission outlives its grading, whether its worker is killed by the judge or its judge by the
# classroom. The attacker, at import, fills its scratch until a write fails and starts processes the audit hook does
# not see (fork_exec, a session of its own, a preexec_fn that never returns, holding a file open). Then it ignores
# SIGALRM and loops forever: at the top level of its file (LEAVES_THINGS_BEHIND: the judge kills its worker when
# loading the file overruns, and the lesson is stopped once), or inside the exercise's function (HANGS_IN_A_CALL: the
# judge waits, and is killed at the per-submission limit). Everything it made carries TOKEN in its name, so the
# process table can be searched for it during and after grading.

_STARTS_THINGS = '''
import os
import signal
import subprocess

TOKEN = "{token}"
try:
    with open(TOKEN + "-disk.bin", "wb") as _out:
        while True:
            _out.write(b"x" * 2**20)
            _out.flush()
except OSError:
    pass


def _forever():
    _held = open(TOKEN + "-held", "w")
    while True:
        signal.pause()


_read, _write = os.pipe()
_fork_exec = getattr(subprocess, "_fork" + "_exec")  # a name computed at run time: the source check cannot see it
for _argv, _preexec in (([b"/bin/sleep", b"100000"], None), ([b"/nonexistent"], _forever)):
    try:
        _fork_exec(_argv, [_argv[0]], True, (_write,), None, [b"MARK=" + TOKEN.encode()], -1, -1, -1, -1,
                              -1, -1, _read, _write, True, True, -1, None, None, None, -1, _preexec, False)
    except Exception:
        pass
'''

LEAVES_THINGS_BEHIND = _STARTS_THINGS + '''
signal.signal(signal.SIGALRM, signal.SIG_IGN)
_alarm = open(TOKEN + "-alarm", "w")
while True:
    pass
'''

HANGS_IN_A_CALL = _STARTS_THINGS + '''

def build_functional_mlp(*args, **kwargs):
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    _alarm = open(TOKEN + "-alarm", "w")
    while True:
        pass
'''


def _processes_marked(token: str) -> list[int]:
    """The processes whose command line, environment or open files name ``token``."""
    import os

    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            texts = [Path(f"/proc/{entry}/{name}").read_bytes() for name in ("cmdline", "environ")]
            texts += [os.readlink(f"/proc/{entry}/fd/{fd}").encode() for fd in os.listdir(f"/proc/{entry}/fd")]
        except OSError:
            continue
        if any(token.encode() in text for text in texts):
            found.append(int(entry))
    return found


def _grade_an_attacker(tmp_path, monkeypatch, students: dict[str, str], jobs: int, options: dict) -> dict:
    """Grade the class in a private temporary folder; the reports, once nothing of the attacker is running. Asserts
    that the attacker's processes ran during grading (the attack happened), and that none of them, and no folder or
    file, outlived it."""
    import tempfile
    import threading
    import time

    token = next(iter(set(re.findall(r"attacker-[0-9a-f]{32}", "".join(students.values())))))
    private = tmp_path / "tmp"  # every folder grading makes (grading-judge-*, the workers' folders) goes here
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    monkeypatch.setenv("TMPDIR", str(private))
    folder = tmp_path / "class"
    for name, source in students.items():
        (folder / name).mkdir(parents=True)
        (folder / name / "lesson01.py").write_text(source)
    seen, done = [], threading.Event()

    def watch() -> None:
        while not done.is_set() and not seen:
            seen.extend(_processes_marked(token))
            done.wait(0.5)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        reports = {r["student"]: r for r in classroom.batch(folder, tmp_path / "out", jobs=jobs, lessons=["01"],
                                                             options=options)}
    finally:
        done.set()
        watcher.join()
    assert seen, "the attacker's processes were never seen running: the attack did not happen"
    deadline = time.monotonic() + 10
    while _processes_marked(token) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _processes_marked(token), "a process of the attacker outlived its grading"
    assert sorted(p.name for p in private.rglob("*")) == [], "grading left folders or files behind"
    return reports


def _sandbox_options(**options) -> tuple[dict, bool]:
    from gradekit import sandbox

    usable = sandbox.bubblewrap()[0] is not None
    return {"memory_mb": 1024, "scratch_mb": 32, "require_sandbox": usable, **options}, usable


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox and /proc are Linux's")
def test_an_attacker_leaves_nothing_behind_and_its_neighbours_keep_every_point(tmp_path, monkeypatch):
    """One attacker between two honest neighbours (the reference answer), graded side by side by two judges."""
    import uuid

    token = f"attacker-{uuid.uuid4().hex}"
    # an honest lesson 01 takes about 40 s on JAX with the rest of the suite beside it; an honest submission that runs
    # out of time beside the attacker (which keeps a core busy) is graded again alone (batch)
    options, usable = _sandbox_options(call_timeout=10.0, submission_timeout=75.0)
    students = {"a-honest": SOLUTION, "b-attacker": LEAVES_THINGS_BEHIND.format(token=token), "c-honest": SOLUTION}
    reports = _grade_an_attacker(tmp_path, monkeypatch, students, 2, options)
    for honest in ("a-honest", "c-honest"):
        assert reports[honest]["earned"] == reports[honest]["possible"] > 0, reports[honest]["tests"]
        assert reports[honest]["sandbox"].startswith("bubblewrap " if usable else "no bubblewrap (")
    attacker = reports["b-attacker"]
    assert attacker["earned"] == 0 and all("loading lesson01's file did not finish within 10 s" in t["feedback"]
                                           for t in attacker["tests"]), attacker["tests"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox and /proc are Linux's")
def test_an_attacker_whose_judge_is_killed_at_the_time_limit_leaves_nothing_behind(tmp_path, monkeypatch):
    import uuid

    token = f"attacker-{uuid.uuid4().hex}"
    # a call may take the call time limit four times over and 30 s more before the judge gives up on it: the
    # per-submission limit comes first, and the classroom kills the judge (one at a time: no second pass)
    options, _ = _sandbox_options(call_timeout=10.0, submission_timeout=40.0)
    reports = _grade_an_attacker(tmp_path, monkeypatch, {"attacker": HANGS_IN_A_CALL.format(token=token)}, 1, options)
    attacker = reports["attacker"]
    assert attacker["earned"] == 0 and all("took longer than 40 s" in t["feedback"] for t in attacker["tests"]), \
        attacker["tests"]
