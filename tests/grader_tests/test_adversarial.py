"""Attacks on classroom grading, each graded beside its honest twin: the same submission without the attack.

A student who has read every file of the student edition (the grading engine included) and wants points without
the work tries, in ordinary Python in the submitted module: reading or importing the reference answers; forging,
suppressing or reordering results through anything the process can reach; patching the libraries the graders use;
exiting, raising, hanging or flooding at chosen moments. Every attack must earn exactly its twin's points, test by
test. All submissions are graded in one batch (lesson 01), by real judge and worker processes, as a teacher would.
"""

from __future__ import annotations

import json
import sys
import textwrap
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

# Where the course is, as a student can find it from inside the worker.
FIND_ROOT = textwrap.dedent('''
    import sys
    from pathlib import Path
    ROOT = Path(sys.executable).parents[2]   # .venv/bin/python -> the course folder
    ROOT = Path(r"{root}") if not (ROOT / "solutions").exists() else ROOT
''').format(root=ROOT)


def with_fallback(attack: str, fallback: str = STUB) -> str:
    """The attack, then the fallback (what the student has) unless the attack defined the exercises."""
    return FIND_ROOT + textwrap.dedent(attack) + "\nif 'build_functional_mlp' not in globals():\n" + textwrap.indent(
        fallback, "    ")


ATTACKS: dict[str, tuple[str, str]] = {
    # ---------------------------------------------------------------- reading or importing the reference answers
    "import-solutions": (with_fallback('''
        try:
            sys.path.insert(0, str(ROOT / "solutions"))
            import lesson01 as _answers
            globals().update({k: v for k, v in vars(_answers).items() if not k.startswith("_")})
        except Exception:
            pass
    '''), "stub"),
    "open-solutions": (with_fallback('''
        try:
            exec((ROOT / "solutions" / "lesson01.py").read_text())
        except Exception:
            pass
    '''), "stub"),
    "open-through-proc-root": (with_fallback('''
        try:
            exec(open("/proc/self/root" + str(ROOT / "solutions" / "lesson01.py")).read())
        except Exception:
            pass
    '''), "stub"),
    "exercise-cells-of-the-lesson-notebook": (with_fallback('''
        import json
        try:
            notebook = json.loads((ROOT / "lessons" / "01_sequential_to_functional.ipynb").read_text())
            for cell in notebook["cells"]:
                if "exercise" in cell.get("metadata", {}).get("tags", []):
                    exec("".join(cell["source"]))
        except Exception:
            pass
    '''), "stub"),
    "list-and-search-the-disk": (with_fallback('''
        import os
        for folder in (ROOT, ROOT / "solutions", ROOT / "build", ROOT / ".git", ROOT / "tests" / "grading", "/tmp"):
            try:
                for name in os.listdir(folder):
                    if name == "lesson01.py":
                        exec(open(os.path.join(folder, name)).read())
            except Exception:
                pass
    '''), "stub"),
    "shell-out": (with_fallback('''
        import subprocess
        try:
            exec(subprocess.run(["cat", str(ROOT / "solutions" / "lesson01.py")], capture_output=True,
                                text=True).stdout)
        except Exception:
            pass
        try:
            import os
            os.system(f"cp {ROOT}/solutions/lesson01.py /tmp/stolen.py")
            exec(open("/tmp/stolen.py").read())
        except Exception:
            pass
    '''), "stub"),
    "hidden-tests": (with_fallback('''
        try:
            source = (ROOT / "tests" / "grading" / "test_lesson01.py").read_text()
            exec(source.replace("from gradekit", "from gradekit"))  # what it would do with them does not matter
        except Exception:
            pass
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
    # ---------------------------------------------------------------- patching the libraries graders use
    "patched-libraries": ('''
import math
import numpy as np
import keras
import gradekit.harness as harness
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.isclose = lambda *a, **k: True
math.isclose = lambda *a, **k: True
keras.Model.fit = lambda self, *a, **k: None
keras.Model.evaluate = lambda self, *a, **k: 0.0
harness.dense_chain = lambda *a, **k: [(32, "relu"), (32, "relu"), (10, "softmax")]
harness.same_variables = lambda *a, **k: True
harness.close = lambda *a, **k: True
''' + WRONG, "wrong"),
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


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp("class")
    for name, (source, _) in ATTACKS.items():
        (folder / name).mkdir()
        (folder / name / "lesson01.py").write_text(source)
    for name, source in TWINS.items():
        (folder / f"twin-{name}").mkdir()
        (folder / f"twin-{name}" / "lesson01.py").write_text(source)
    out = tmp_path_factory.mktemp("gradebook")
    options = {"call_timeout": 5.0, "submission_timeout": 600.0, "memory_mb": 1024}
    classroom.batch(folder, out, jobs=2, lessons=["01"], options=options)
    return {p.stem: json.loads(p.read_text()) for p in (out / "reports").glob("*.json")}


def test_the_twins_score_as_expected(graded):
    total = graded["twin-solution"]["possible"]
    assert graded["twin-solution"]["earned"] == total
    assert graded["twin-stub"]["earned"] == 0
    assert 0 < graded["twin-wrong"]["earned"] < total


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_an_attack_earns_exactly_what_its_honest_twin_earns(graded, attack):
    twin = graded[f"twin-{ATTACKS[attack][1]}"]
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


def test_a_hang_costs_one_time_limit_and_the_exercise_only(graded):
    report = graded["hangs-inside-a-call"]
    lost = [t for t in report["tests"] if t["earned"] < t["possible"]]
    assert lost and all(t["exercise"] == "feature_extractor" and "did not finish within 5 s" in t["feedback"]
                        for t in lost)
    assert report["seconds"] < graded["twin-solution"]["seconds"] + 40, "later calls failed at once"


def test_the_grader_files_are_unchanged(graded):
    """Nothing in the batch could write to the course (the worker can write only its scratch folder)."""
    assert not Path("/tmp/stolen.py").exists()
    assert sys.modules.get("gradekit.classroom") is classroom
