"""The grading engine's parts: evidence round trips, evidence the judge refuses, the worker's confinement, and
what a timeout costs."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from gradekit import evidence, harness, sandbox
from gradekit.harness import GradeFailure, Submission, WorkerProcess, close_workers, same_variables

ROOT = Path(__file__).resolve().parents[2]
L = keras.layers


def round_trip(value, given=None):
    """Pack on one side, send, unpack on the other: what the judge gets back."""
    document, arrays = evidence.pack(value, given)
    document, arrays = evidence.decode(evidence.encode(document, arrays))
    return evidence.unpack(document, arrays, given)


# ------------------------------------------------------------------------------------ the judge's fit and predict


def _three_ways() -> list[tuple[keras.Model, object]]:
    """Models whose inputs and outputs are structured in each way the graders meet, with inputs for them: a list of
    one input (given one array), a dict of two inputs with a dict of two outputs, a list of two outputs."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(0)
    x = keras.Input((4,), name="x")
    listed = keras.Model([x], L.Dense(3, activation="softmax")(x))
    a, b = keras.Input((4,), name="a"), keras.Input((2,), name="b")
    merged = L.concatenate([a, b])
    keyed = keras.Model({"a": a, "b": b}, {"p": L.Dense(1, name="p")(merged), "q": L.Dense(2, name="q")(merged)})
    pair = keras.Model(x, [L.Dense(2)(x), L.Dense(1, activation="sigmoid")(x)])
    return [(listed, rng.random((40, 4)).astype("float32")),
            (keyed, {"a": rng.random((40, 4)).astype("float32"), "b": rng.random((40, 2)).astype("float32")}),
            (pair, rng.random((40, 4)).astype("float32"))]


def test_the_judges_predict_returns_what_keras_predict_returns(recwarn):
    for model, x in _three_ways():
        got, want = harness.predict(model, x), model.predict(x, verbose=0)
        shape = keras.tree.map_structure(lambda _: None, got)
        assert shape == keras.tree.map_structure(lambda _: None, want), (shape, type(want))
        assert all(isinstance(g, np.ndarray) and np.allclose(g, w, atol=1e-6)
                   for g, w in zip(keras.tree.flatten(got), keras.tree.flatten(want)))
    assert not [w for w in recwarn if "structure" in str(w.message)], "a list of one input took one array silently"


def test_the_judges_fit_trains_as_keras_fit_does():
    """harness.fit makes the optimizer's variables before fitting; the losses are Keras' own, step for step."""
    histories = []
    for fitting in (harness.fit, lambda model, *a, **k: model.fit(*a, **k)):
        keras.backend.clear_session()
        keras.utils.set_random_seed(3)
        x = np.random.default_rng(0).random((48, 4)).astype("float32")
        inputs = keras.Input((4,))
        model = keras.Model(inputs, L.Dense(1)(L.Dense(8, activation="relu")(inputs)))
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
        history = fitting(model, x, x.sum(axis=1, keepdims=True), epochs=3, batch_size=16, verbose=0)
        assert model.optimizer.built and evidence.to_numpy(model.optimizer.iterations) == 9
        histories.append(history.history["loss"])
    assert np.allclose(histories[0], histories[1], rtol=1e-5), histories


# ------------------------------------------------------------------------------------------------ round trips


def test_a_functional_model_comes_back_with_its_graph_weights_and_compile_settings():
    keras.backend.clear_session()
    frame = keras.Input((6, 6, 1), name="frame")
    vision = keras.Model(frame, L.Dense(4, name="v")(L.Flatten()(L.Conv2D(2, 3, name="c")(frame))), name="vision")
    video = keras.Input((3, 6, 6, 1), name="video")
    shared = L.Dense(5, activation="relu", name="shared")
    vectors = L.TimeDistributed(vision, name="frames")(video)
    a = shared(L.LSTM(4, name="lstm")(vectors))
    b = shared(L.GlobalAveragePooling1D(name="pool")(vectors))
    out = L.Dense(2, activation="softmax", name="answer")(L.concatenate([a, b], name="merged"))
    model = keras.Model(video, out, name="video_qa")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    back = round_trip(model)
    x = np.random.default_rng(0).random((2, 3, 6, 6, 1)).astype("float32")
    assert back is not model and [layer.name for layer in back.layers] == [layer.name for layer in model.layers]
    assert np.allclose(back.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert len(back.get_layer("shared")._inbound_nodes) == 2, "a shared layer stays one layer called twice"
    assert back.compiled and type(back.optimizer).__name__ == "Adam"


def test_adapted_preprocessing_layers_come_back_with_their_state():
    """Normalization adapted in the worker computes with the same mean and variance in the judge; CategoryEncoding
    and Rescaling come back with their settings (lesson 10's model takes raw features)."""
    keras.backend.clear_session()
    rng = np.random.default_rng(0)
    years = rng.uniform(0, 20, (40, 1)).astype("float32")
    age, make = keras.Input((1,), name="age"), keras.Input((1,), dtype="int32", name="make")
    norm = L.Normalization(name="age_norm")
    norm.adapt(years)
    merged = L.concatenate([norm(age), L.CategoryEncoding(5, output_mode="one_hot", name="one_hot")(make)])
    model = keras.Model({"age": age, "make": make}, L.Dense(1, name="out")(L.Rescaling(0.5)(merged)))
    back = round_trip(model)
    x = {"age": years, "make": rng.integers(0, 5, (40, 1)).astype("int32")}
    assert np.allclose(evidence.to_numpy(back.get_layer("age_norm").mean), years.mean(), atol=1e-5)
    assert np.allclose(back.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_objects_handed_in_come_back_as_the_very_objects_copies_as_copies():
    keras.backend.clear_session()
    given = keras.Sequential([keras.Input((5,)), L.Dense(3, name="d")], name="given")
    inputs = keras.Input((5,))
    reused = keras.Model(inputs, given.layers[0](inputs))
    copy = keras.Model(inputs, L.Dense.from_config(given.layers[0].get_config())(inputs))
    assert same_variables(round_trip(reused, [given, given.layers[0]]).weights, given.weights)
    assert not same_variables(round_trip(copy, [given, given.layers[0]]).weights, given.weights)
    assert round_trip(given, [given, given.layers[0]]) is given


def test_plain_values_keep_their_types():
    value = {"a": [1, 2.5, None, "x", True], "b": (np.float32(1.5), np.arange(3)), "c": float("inf")}
    back = round_trip(value)
    assert back["a"] == [1, 2.5, None, "x", True] and isinstance(back["b"], tuple)
    assert type(back["b"][0]) is np.float32 and back["b"][1].tolist() == [0, 1, 2] and back["c"] == float("inf")


# ------------------------------------------------------------------------------------------------ refused


def _layer_document(config: dict) -> dict:
    return {"root": {"object": 0}, "objects": [{"layer": config, "weights": []}], "nodes": []}


@pytest.mark.parametrize("config, reason", [
    ({"module": "keras.layers", "class_name": "Lambda", "config": {"function": "f"}, "registered_name": None},
     "Lambda"),
    ({"module": "os", "class_name": "system", "config": {}, "registered_name": None}, "not a Keras built-in"),
    ({"module": "keras.layers", "class_name": "Dense", "config": {"units": 10**12}, "registered_name": None},
     "too large"),
    ({"module": "keras.layers", "class_name": "Dense", "config": {"units": 3}, "registered_name": "mine>Dense"},
     "custom object"),
    ({"module": "keras.layers", "class_name": "TFSMLayer", "config": {"filepath": "/etc"}, "registered_name": None},
     "TFSMLayer"),
])
def test_configs_that_could_run_code_or_exhaust_memory_are_refused(config, reason):
    with pytest.raises(evidence.EvidenceError, match=reason):
        evidence.unpack(_layer_document(config), [])


@pytest.mark.parametrize("document", [
    {"root": {"object": 5}, "objects": [], "nodes": []},
    {"root": {"tensor": ["node", 0, 0]}, "objects": [], "nodes": [{"op": 0, "args": {"list": []},
                                                                     "kwargs": {"dict": []}}]},
    {"root": {"array": 3}, "objects": [], "nodes": []},
    {"root": {"function": ["losses", "__class__"]}, "objects": [], "nodes": []},
    {"root": {"callable": "os.system"}, "objects": [], "nodes": []},
    {"root": [1, 2], "objects": [], "nodes": []},
    {"objects": []},
])
def test_malformed_evidence_is_refused_with_a_reason(document):
    with pytest.raises(evidence.EvidenceError):
        evidence.unpack(document, [])


def test_pickles_and_non_numeric_arrays_are_refused():
    blob = evidence.encode({"root": None, "objects": [], "nodes": []}, [np.array([{"x": 1}], dtype=object)])
    with pytest.raises(evidence.EvidenceError, match="not plain arrays"):
        evidence.decode(blob)
    with pytest.raises(evidence.EvidenceError, match="not numeric|numbers only"):
        evidence.pack(np.array(["a", "b"]))


def test_a_model_with_a_lambda_layer_or_a_custom_class_gets_feedback_naming_it():
    class Mine(L.Layer):
        def call(self, x):
            return x

    def with_lambda():
        inputs = keras.Input((3,))
        return keras.Model(inputs, L.Lambda(lambda t: t * 2)(inputs))

    def with_class():
        inputs = keras.Input((3,))
        return keras.Model(inputs, Mine(name="mine")(inputs))

    with pytest.raises(GradeFailure, match="Keras' built-in layers only|Lambda"):
        Submission.from_objects("lesson99", f=with_lambda).model("f")
    with pytest.raises(GradeFailure, match="class Mine, defined in your own code"):
        Submission.from_objects("lesson99", f=with_class).model("f")


# ------------------------------------------------------------------------------------------------ probes


class TinyModel(keras.Model):
    """A subclassed model for the model-class probe: Dense(units, relu), then Dense(num_classes)."""

    def __init__(self, units, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.units, self.num_classes = units, num_classes
        self.hidden, self.out = L.Dense(units, activation="relu"), L.Dense(num_classes)

    def call(self, x):
        return self.out(self.hidden(x))

    def get_config(self):
        return {**super().get_config(), "units": self.units, "num_classes": self.num_classes}


def _model_plan() -> tuple[dict, np.ndarray]:
    rng = np.random.default_rng(0)
    w1, b1, w2, b2 = (rng.normal(size=s).astype("float32") for s in ((3, 4), (4,), (4, 2), (2,)))
    x = rng.normal(size=(5, 3)).astype("float32")
    spec = {"kwargs": {"units": 4, "num_classes": 2}, "input_dim": 3, "weights": [w1, b1, w2, b2], "x": x}
    config = {**spec, "kwargs": {"units": 4, "num_classes": 2, "name": "mine"}}
    plan = {"cases": [spec], "symbolic": spec, "config": config, "save": spec}
    return plan, np.maximum(x @ w1 + b1, 0) @ w2 + b2


def test_the_model_class_probe_reports_shapes_weights_outputs_config_and_a_save(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    plan, want = _model_plan()
    seen = Submission.from_objects("lesson99", TinyModel=TinyModel).probe("TinyModel", "model_class", plan)
    assert seen["is_model_class"]
    case = seen["cases"][0]
    assert case["output_shape"] == [2, 2] and case["parameters"] == 26
    assert case["weight_shapes"] == [[3, 4], [4], [4, 2], [2]] and case["trainable_count"] == 4
    assert seen["symbolic"]["output_shape"] == [None, 2]
    for record in (case, seen["symbolic"], seen["save"], seen["config"]):
        assert np.allclose(record["outputs"], want, atol=1e-5)
    assert seen["config"]["config"]["units"] == 4 and seen["config"]["round_trip"]["name"] == "mine"
    assert not any(tmp_path.iterdir()), "the .keras save happens in a temporary folder, removed afterwards"


def test_the_model_class_probe_records_each_failure_on_its_own():
    class NumPyInside(TinyModel):
        def call(self, x):
            return self.out(np.maximum(np.asarray(self.hidden(x)), 0))  # fine on data, not on a keras.Input

    class Stub(TinyModel):
        def __init__(self, units, num_classes, **kwargs):
            raise NotImplementedError

    plan, want = _model_plan()
    seen = Submission.from_objects("lesson99", NumPyInside=NumPyInside).probe("NumPyInside", "model_class", plan)
    assert np.allclose(seen["cases"][0]["outputs"], want, atol=1e-5), "the data path still works"
    assert set(seen["symbolic"]["call"]) == {"error"} and seen["symbolic"]["call"]["error"] != "not_implemented"
    seen = Submission.from_objects("lesson99", Stub=Stub).probe("Stub", "model_class", plan)
    assert seen["cases"][0]["create"] == {"error": "not_implemented"}
    assert seen["config"]["create"] == {"error": "not_implemented"}
    seen = Submission.from_objects("lesson99", f=lambda units, num_classes: None).probe("f", "model_class", plan)
    assert seen == {"is_model_class": False, "kind": "function"}


# ------------------------------------------------------------------------------------------------ time limits


def test_after_a_timeout_the_exercise_fails_at_once():
    def forever():
        while True:
            pass

    submission = Submission.from_objects("lesson99", call_timeout=1, forever=forever, fine=lambda: 3)
    started = time.perf_counter()
    with pytest.raises(GradeFailure, match="did not finish within 1 s"):
        submission.call("forever")
    first = time.perf_counter() - started
    started = time.perf_counter()
    with pytest.raises(GradeFailure, match="did not finish within 1 s"):
        submission.call("forever")
    assert first >= 0.9 and time.perf_counter() - started < 0.2
    assert submission.call("fine") == 3, "other exercises are not affected"



# the top level ignores the worker's alarm and never ends (the attack of tests/grader_tests/test_adversarial.py)
_TOP_LEVEL_NEVER_ENDS = """
import signal
signal.signal(signal.SIGALRM, signal.SIG_IGN)
while True:
    pass


def first():
    return 1


def second():
    return 2
"""


def test_a_file_whose_top_level_never_ends_stops_its_lesson_once_and_costs_one_worker(tmp_path, monkeypatch):
    from gradekit import harness

    monkeypatch.setattr(harness, "LOAD_MARGIN", 2.0)
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "lesson99.py").write_text(_TOP_LEVEL_NEVER_ENDS)
    (folder / "lesson98.py").write_text("def fine():\n    return 3\n")
    try:
        submission = Submission.load(folder, "lesson99", call_timeout=1)
        with pytest.raises(GradeFailure, match=r"loading lesson99's file did not finish within 1 s: code at its top "
                                               r"level ran on past the time limit, so none of its exercises"):
            submission.call("first")
        started, starts = time.perf_counter(), submission.transport.starts
        with pytest.raises(GradeFailure, match="loading lesson99's file did not finish"):
            submission.call("second")
        assert time.perf_counter() - started < 0.5, "the other exercises fail at once"
        assert submission.transport.starts == starts, "no other worker is started for them"
        other = Submission.load(folder, "lesson98", call_timeout=1)
        assert other.call("fine") == 3, "the submission's other lessons are graded"
    finally:
        close_workers()


def test_a_worker_that_does_not_start_in_time_is_not_blamed_on_the_file():
    """A start that times out (a loaded machine) fails the call, as before; it does not stop the lesson."""
    from gradekit.harness import WorkerDied

    class SlowToStart:
        starts = 0

        def ensure_started(self):
            raise WorkerDied("timeout")

        def request(self, message, deadline):
            raise WorkerDied("timeout")

        def source(self, lesson, name):
            raise GradeFailure("no source here")  # left to the worker's answer, as for an unreadable source

    submission = Submission("lesson99", SlowToStart(), call_timeout=1)
    for _ in range(2):
        with pytest.raises(GradeFailure) as failure:
            submission.call("first")
        assert "loading lesson99's file" not in str(failure.value)
    assert "did not finish within 1 s" in str(failure.value)

def test_each_worker_start_loads_the_lesson_alone_before_its_first_call(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "lesson99.py").write_text("def echo(x):\n    return x\n")
    try:
        submission = Submission.load(folder, "lesson99", call_timeout=20)
        ops, request = [], submission.transport.request

        def spy(message, deadline):
            ops.append(evidence.decode(message)[0]["op"])
            return request(message, deadline)

        submission.transport.request = spy
        assert (submission.call("echo", 1), submission.call("echo", 2)) == (1, 2)
        submission.transport.kill()  # as after a call that overran: the next call starts another worker
        assert submission.call("echo", 2) == 2, "answered from the judge's record: no worker needed"
        assert submission.call("echo", 3) == 3 and submission.transport.starts == 2
        assert ops == ["load", "call", "call", "load", "call"]
    finally:
        close_workers()


def test_after_running_out_of_memory_the_exercise_fails_at_once():
    calls = []

    def hog(size):
        calls.append(size)
        raise MemoryError

    submission = Submission.from_objects("lesson99", hog=hog, fine=lambda: 3)
    for size in (1, 2):  # a different call, not an answer from the cache
        with pytest.raises(GradeFailure, match="ran out of memory"):
            submission.call("hog", size)
    assert calls == [1], "the second call fails without running the exercise again"
    assert submission.call("fine") == 3, "other exercises are not affected"

# ------------------------------------------------------------------------------------------------ the worker


@pytest.fixture
def peeking_submission(tmp_path) -> Path:
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "lesson99.py").write_text(
        "import os\n"
        "def peek(path):\n    return open(path).read()\n"
        "def listing(path):\n    return sorted(os.listdir(path))\n"
        "def write(path):\n    open(path, 'w').write('x')\n    return 'written'\n"
        "def scratch():\n    open('notes.txt', 'w').write('fine')\n    return open('notes.txt').read()\n")
    yield folder
    close_workers()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Landlock is Linux's")
def test_the_worker_reads_nothing_of_the_course_and_writes_only_its_scratch(peeking_submission, tmp_path):
    submission = Submission.load(peeking_submission, "lesson99", call_timeout=20)
    for secret in (ROOT / "solutions" / "lesson01.py", ROOT / "tests" / "grading" / "test_lesson01.py",
                   ROOT / "lessons" / "01_sequential_to_functional.ipynb", ROOT / ".git" / "HEAD"):
        with pytest.raises(GradeFailure, match="PermissionError"):
            submission.call("peek", str(secret))
    for folder in (ROOT, ROOT / "solutions", Path("/tmp")):
        with pytest.raises(GradeFailure, match="PermissionError"):
            submission.call("listing", str(folder))
    with pytest.raises(GradeFailure, match="PermissionError"):
        submission.call("write", str(tmp_path / "escaped.txt"))
    assert not (tmp_path / "escaped.txt").exists()
    assert submission.call("scratch") == "fine"
    assert "audit hook" in submission.transport.sandbox
    if os.path.exists("/sys/kernel/security/landlock") or "Landlock" in submission.transport.sandbox:
        assert "Landlock" in submission.transport.sandbox


# ------------------------------------------------------------------------------------- bubblewrap and its fallback

CONFINED = '''
import os
import time


def visible(paths):
    return [os.path.exists(p) for p in paths]  # os.stat: no audit event, and Landlock does not hide names


def interfaces():
    with open("/proc/self/net/dev") as table:
        return sorted(line.split(":")[0].strip() for line in table.readlines()[2:])


def fill():
    written = 0
    try:
        with open("filler.bin", "wb") as out:
            while True:
                out.write(b"x" * 2**20)
                out.flush()
                written += 2**20
    except OSError as error:
        return written, str(error)


def escape():
    """A process that Python's audit hook does not see start: fork_exec, a new session, a preexec_fn that never
    returns (so no program is executed, which Landlock would refuse)."""
    import _posixsubprocess

    def forever():
        while True:
            time.sleep(1)

    read, write = os.pipe()
    return _posixsubprocess.fork_exec([b"/nonexistent"], [b"/nonexistent"], True, (write,), None, None, -1, -1, -1,
                                      -1, -1, -1, read, write, True, True, -1, None, None, None, -1, forever, False)
'''


def _descendants(pid: int) -> dict[int, int]:
    """The processes below ``pid`` (pid -> start time), read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        stat = sandbox._stat(int(entry)) if entry.isdigit() else None
        if stat:
            children.setdefault(stat[0], []).append(int(entry))
    found, todo = {}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found[child] = sandbox.start_time(child)
            todo.append(child)
    return found


@pytest.fixture(scope="module", params=["bubblewrap", "fallback"])
def confined(request, tmp_path_factory):
    """A worker with an 8 MB scratch, inside bubblewrap or (bwrap pointed at nothing) with the fallback's layers."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the sandbox is Linux's")
    with pytest.MonkeyPatch.context() as patch:
        if request.param == "fallback":
            patch.setenv(sandbox.BWRAP_ENV, "/nonexistent/bwrap")
            patch.delenv(sandbox.REQUIRE_ENV, raising=False)
        elif sandbox.bubblewrap()[0] is None:
            pytest.skip(f"bubblewrap is not usable here: {sandbox.bubblewrap()[1]}")
        folder = tmp_path_factory.mktemp("confined")
        (folder / "lesson99.py").write_text(CONFINED)
        worker = WorkerProcess(folder, call_timeout=20, memory_mb=1024, scratch_mb=8)
        try:
            yield request.param, worker
        finally:
            worker.close()


def run_in(worker: WorkerProcess, name: str, *args):
    """Call ``name`` in the worker straight through its transport: the sandbox must hold for code that got past
    every check the judge makes before a call."""
    document, arrays = evidence.pack((list(args), {}))
    document.update({"op": "call", "lesson": "lesson99", "name": name, "timeout": 20, "probe": ""})
    reply, out = evidence.decode(worker.request(evidence.encode(document, arrays), time.monotonic() + 200))
    assert reply.get("ok"), reply
    return evidence.unpack(reply, out)


def test_the_worker_in_bubblewrap_sees_nothing_of_the_course_folder(confined):
    mode, worker = confined
    course = [str(ROOT / name) for name in ("solutions", "lessons", "tests", ".git", "README.md")]
    seen = run_in(worker, "visible", [*course, sys.prefix, sys.base_prefix])
    if mode == "bubblewrap":
        assert worker.sandbox.startswith("bubblewrap ") and "PID, network" in worker.sandbox
        assert seen == [False] * len(course) + [True, True], "only the Python installation is there, not the course"
    else:
        assert worker.sandbox.startswith("no bubblewrap (") and "audit hook" in worker.sandbox
        assert seen[0], "without bubblewrap, names stay visible (their content does not: Landlock, audit hook)"


def test_the_worker_in_bubblewrap_has_no_network(confined):
    mode, worker = confined
    found = run_in(worker, "interfaces")
    if mode == "bubblewrap":
        assert found == ["lo"], found
    else:
        assert found, "the fallback sees the machine's interfaces (Landlock and the audit hook refuse connections)"


def test_the_scratch_is_limited_to_its_size(confined):
    mode, worker = confined
    written, error = run_in(worker, "fill")
    assert written <= 8 * 2**20
    # bubblewrap: a tmpfs of 8 MB in all; the fallback: 8 MB per file (RLIMIT_FSIZE), no quota on the total
    assert ("No space left on device" if mode == "bubblewrap" else "File too large") in error, error


def _namespace_pid(pid: int) -> int:
    """A process's PID in its own PID namespace (the last of NSpid)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return int(line.split()[-1])
    return pid


def test_processes_the_worker_starts_end_with_it(confined):
    mode, worker = confined
    inner = run_in(worker, "escape")
    below = _descendants(worker.proc.pid)
    escaped = [pid for pid in below if _namespace_pid(pid) == inner and pid != worker.proc.pid]
    assert len(escaped) == 1, "the escaping process runs, below the worker"
    worker.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(sandbox.start_time(pid) == start for pid, start in below.items()):
        time.sleep(0.1)
    alive = [pid for pid, start in below.items() if sandbox.start_time(pid) == start]
    assert not alive, f"{mode}: {alive} outlived the worker"
    assert not worker.folder.exists()


def test_the_results_table_of_a_worker_answer_is_data_only():
    """An answer is JSON plus an npz archive: nothing in it is executed to read it."""
    document, arrays = evidence.pack({"w": np.ones((2, 2))})
    blob = evidence.encode(document, arrays)
    size = int.from_bytes(blob[:8], "big")
    assert json.loads(blob[8:8 + size])["root"]["dict"][0][0] == "w"


# ------------------------------------------------------------------------------------------------ intake
# What a submission may hand the judge: the files grading reads, never through a link, bounded in size and number.

import threading  # noqa: E402

from gradekit import intake, notebook  # noqa: E402

SOLUTION = ROOT / "solutions" / "lesson01.py"
STUDENT_CODE = b"def build_functional_mlp():\n    return 'mine'\n"


def _bad_lesson01(folder: Path, kind: str) -> None:
    """lesson01.py in ``folder`` made into ``kind`` of file the intake must refuse."""
    target = folder / "lesson01.py"
    if kind == "relative link":
        target.symlink_to(os.path.relpath(SOLUTION, folder))
    elif kind == "absolute link":
        target.symlink_to(SOLUTION)
    elif kind == "link through /proc/self/cwd":
        target.symlink_to("/proc/self/cwd/solutions/lesson01.py")
    elif kind == "link to /dev/zero":
        target.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "hard link":
        (folder.parent / "elsewhere.py").write_bytes(STUDENT_CODE)
        os.link(folder.parent / "elsewhere.py", target)
    elif kind == "oversized":
        target.write_bytes(b"#" * (intake.MAX_MODULE_BYTES + 1))
    elif kind == "folder":
        target.mkdir()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc, FIFOs and O_NOFOLLOW as on Linux")
@pytest.mark.parametrize("kind, message", [
    ("relative link", "lesson01.py is a symbolic link: hand in the file itself"),
    ("absolute link", "lesson01.py is a symbolic link: hand in the file itself"),
    ("link through /proc/self/cwd", "lesson01.py is a symbolic link: hand in the file itself"),
    ("link to /dev/zero", "lesson01.py is a symbolic link: hand in the file itself"),
    ("fifo", "lesson01.py is not a regular file (a pipe, device or socket): hand in the file itself"),
    ("hard link", "lesson01.py is a hard link"),
    ("oversized", "lesson01.py is larger than 2 MB: hand in only your code"),
    ("folder", "lesson01.py is a folder, not a file: hand in the file itself"),
])
def test_the_intake_refuses_links_special_files_and_oversized_files(tmp_path, monkeypatch, kind, message):
    """Each refused file costs its own lesson, with a message naming it; nothing is read through it, and the other
    lessons' files are copied exactly."""
    monkeypatch.chdir(ROOT)  # where /proc/self/cwd leads in the judge
    folder = tmp_path / "ada"
    folder.mkdir()
    _bad_lesson01(folder, kind)
    (folder / "lesson02.py").write_bytes(STUDENT_CODE)
    if "link" in kind and kind != "hard link":
        assert os.path.exists(folder / "lesson01.py"), "the link leads somewhere readable: the attack is real"
    result: list = []
    thread = threading.Thread(target=lambda: result.append(intake.take(folder, tmp_path / "judge")), daemon=True)
    thread.start()
    thread.join(20)
    assert result, "the intake blocked (on a FIFO?)"
    taken = result[0]
    assert taken.problem("lesson01").startswith(message)
    assert taken.problem("lesson02") == "" and taken.submission == tmp_path / "judge"
    assert sorted(p.name for p in (tmp_path / "judge").iterdir()) == ["lesson02.py"]
    assert (tmp_path / "judge" / "lesson02.py").read_bytes() == STUDENT_CODE


def test_the_intake_refuses_an_oversized_notebook_with_what_to_do(tmp_path):
    folder = tmp_path / "ada"
    folder.mkdir()
    with open(folder / "01_sequential_to_functional.ipynb", "wb") as handle:
        handle.truncate(intake.MAX_NOTEBOOK_BYTES + 1)  # sparse: large without filling the disk
    taken = intake.take(folder, tmp_path / "judge")
    assert taken.problem("lesson01") == ("01_sequential_to_functional.ipynb is larger than 50 MB: clear its outputs "
                                         "(Kernel → Restart and clear outputs) and hand it in again")
    assert not any((tmp_path / "judge").iterdir())


def test_the_intake_takes_only_the_files_grading_reads(tmp_path):
    """Top-level lesson files, one per lesson as the worker picks it (lessonNN.py, else the first NN_*.ipynb):
    no sub-folder (a real one or a link to the solutions), no hidden file, no other file."""
    folder = tmp_path / "ada"
    (folder / "nested").mkdir(parents=True)
    (folder / "nested" / "lesson03.py").write_bytes(STUDENT_CODE)
    (folder / "solutions").symlink_to(ROOT / "solutions")
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / "02_a-checkpoint.ipynb").write_text("{}")
    (folder / ".lesson04.py").write_bytes(STUDENT_CODE)
    (folder / "notes.txt").write_text("notes")
    (folder / "lesson01.py").write_bytes(STUDENT_CODE)
    (folder / "01_draft.ipynb").write_text("{}")  # lesson01.py is what the worker reads
    (folder / "02_b.ipynb").write_text('{"b": 1}')
    (folder / "02_a.ipynb").write_text('{"a": 1}')  # the first in sorted order
    taken = intake.take(folder, tmp_path / "judge")
    assert taken.problems == {}
    assert sorted(p.name for p in (tmp_path / "judge").iterdir()) == ["02_a.ipynb", "lesson01.py"]
    assert (tmp_path / "judge" / "02_a.ipynb").read_text() == '{"a": 1}'
    # a lesson with no file (lesson03's is in a sub-folder, lesson04's hidden) is refused in the judge, with the
    # worker's message: no worker starts just to say it
    assert taken.problem("lesson01") == taken.problem("lesson02") == ""
    assert taken.problem("lesson03") == ("neither lesson03.py nor a notebook 03_*.ipynb was found in the submission "
                                         "folder ada")
    assert "lesson04.py" in taken.problem("lesson04")
    notebook = tmp_path / "ada.ipynb"
    notebook.write_text("{}")
    assert intake.take(notebook, tmp_path / "judge2").problem("lesson03") == "", "one notebook: the worker matches it"


@pytest.mark.parametrize("what", ["folder", "notebook"])
def test_a_submission_that_is_itself_a_link_is_not_followed(tmp_path, what):
    real = tmp_path / ("real" if what == "folder" else "real.ipynb")
    if what == "folder":
        real.mkdir()
        (real / "lesson01.py").write_bytes(STUDENT_CODE)
    else:
        real.write_text('{"cells": []}')
    link = tmp_path / ("eve" if what == "folder" else "eve.ipynb")
    link.symlink_to(real)
    taken = intake.take(link, tmp_path / "judge")
    assert taken.problem("lesson01") == f"{link.name} is a symbolic link: hand in the folder or notebook itself"
    assert not any((tmp_path / "judge").iterdir())
    single = intake.take(real, tmp_path / "judge2")  # the real thing is taken
    assert single.problems == {} and any((tmp_path / "judge2").iterdir())


def test_the_intake_looks_at_a_bounded_number_of_entries(tmp_path, monkeypatch):
    monkeypatch.setattr(intake, "MAX_ENTRIES", 5)
    folder = tmp_path / "ada"
    folder.mkdir()
    for k in range(6):
        (folder / f"file{k}.txt").write_text("x")
    taken = intake.take(folder, tmp_path / "judge")
    assert "holds more than 5 entries" in taken.problem("lesson01")
    assert not any((tmp_path / "judge").iterdir())


@pytest.mark.parametrize("text, expected", [
    ("RuntimeError: /work/main/solutions/lesson01.py", "RuntimeError: lesson01.py"),
    ("Permission denied: '/work/main/x'", "Permission denied: 'x'"),
    ('File "/tmp/grading-worker-1x/submission/lesson01.py", line 3', 'File "lesson01.py", line 3'),
    ("(line 3 of /tmp/grading-judge-2/ada.ipynb (cell 4))", "(line 3 of ada.ipynb (cell 4))"),
    ("see https://keras.io/api/layers/ and 1/2", "see https://keras.io/api/layers/ and 1/2"),
])
def test_absolute_paths_are_removed_from_feedback(text, expected):
    assert intake.scrub_paths(text) == expected


def test_the_notebook_reader_is_bounded(tmp_path, monkeypatch):
    path = tmp_path / "01_x.ipynb"
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "x = 1\n", "metadata": {}}] * 3}))
    assert len(notebook.read_cells(path)) == 3
    monkeypatch.setattr(notebook, "MAX_CELLS", 2)
    with pytest.raises(notebook.NotebookError, match="has 3 cells, more than the 2 graded"):
        notebook.read_cells(path)
    monkeypatch.setattr(notebook, "MAX_JSON_CONTAINERS", 5)
    with pytest.raises(notebook.NotebookError, match="more than 5 JSON lists and objects: clear its outputs"):
        notebook.read_cells(path)
    monkeypatch.setattr(notebook, "MAX_JSON_CONTAINERS", 10**6)
    monkeypatch.setattr(notebook, "MAX_CELLS", 10)
    monkeypatch.setattr(notebook, "MAX_CODE_CHARS", 10)
    with pytest.raises(notebook.NotebookError, match="code cells of 01_x.ipynb hold more than"):
        notebook.exercise_programs(path)
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(notebook.NotebookError, match="nested too deeply|lists and objects"):
        notebook.read_cells(path)


# ------------------------------------------------------------------------------------------------ weights it creates
# The judge creates no more weights than the evidence sends: a forged layer of millions of units is refused before
# its memory is allocated.


def _forged_dense(units: int, build: bool) -> dict:
    """A document holding one Dense layer of ``units`` and no weights (with a build_config: built as it is read)."""
    config = keras.saving.serialize_keras_object(L.Dense(units, name="forged"))
    if build:
        config["build_config"] = {"input_shape": [None, 64]}
    else:
        config.pop("build_config", None)
    return config


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("build", [True, False], ids=["built-from-config", "built-by-a-call"])
def test_a_layer_that_would_create_weights_it_was_not_sent_is_refused_without_allocating(build):
    keras.backend.clear_session()
    inputs = keras.Input((64,), name="x")
    document, arrays = evidence.pack(keras.Model(inputs, L.Dense(8, name="forged")(inputs)))
    layer = next(r for r in document["objects"] if "layer" in r and r["layer"]["class_name"] == "Dense")
    layer["layer"], layer["weights"] = _forged_dense(10**7, build), []
    before, started = _peak_mb(), time.perf_counter()
    with pytest.raises(evidence.EvidenceError, match=r"'forged' \(Dense\) would create 640,000,000 weights here, "
                                                     r"but the answer sent 0"):
        evidence.unpack(document, arrays)
    assert time.perf_counter() - started < 5
    assert _peak_mb() - before < 200, "the refused layer's 2.5 GB were not allocated"
    document = {"root": {"object": 0}, "objects": [{"layer": _forged_dense(8, True), "weights": []}], "nodes": []}
    with pytest.raises(evidence.EvidenceError, match="would create 512 weights here, but the answer sent 0"):
        evidence.unpack(document, [])


def test_models_rebuild_within_the_weights_they_send_and_a_total_bound(monkeypatch):
    """Sub-layers (attention's projections, an LSTM's cell), seed states (Dropout) and compile settings stay within
    what the layers send; all weights together stay within MAX_PARAMETERS."""
    keras.backend.clear_session()
    sequence, tokens = keras.Input((5, 8), name="sequence"), keras.Input((6,), dtype="int32", name="tokens")
    x = L.BatchNormalization()(L.Dropout(0.2)(L.LSTM(4)(sequence)))
    embedded = L.Embedding(50, 8)(tokens)
    y = L.GlobalAveragePooling1D()(L.MultiHeadAttention(2, 4)(embedded, embedded))
    model = keras.Model([sequence, tokens], L.Dense(3)(L.concatenate([x, y])))
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    back = round_trip(model)
    data = [np.random.default_rng(0).random((2, 5, 8)).astype("float32"), np.arange(12).reshape(2, 6) % 50]
    assert np.allclose(back.predict(data, verbose=0), model.predict(data, verbose=0), atol=1e-5)
    monkeypatch.setattr(evidence, "MAX_PARAMETERS", 100)
    with pytest.raises(evidence.EvidenceError, match="would create more than 100 weights"):
        round_trip(model)


def test_objects_the_judge_handed_in_build_their_own_weights_uncounted():
    """A layer the judge handed in is its own: built while the answer is rebuilt, it is not charged to the answer."""
    keras.backend.clear_session()
    handed = L.Dense(8, name="handed")
    inputs = keras.Input((4,))
    document, arrays = evidence.pack(keras.Model(inputs, handed(inputs)), [handed])
    mine = L.Dense(8, name="mine")  # the judge's, not built yet: 32 + 8 weights appear while rebuilding
    back = evidence.unpack(document, arrays, [mine])
    assert mine.built and back.layers[-1] is mine


# ------------------------------------------------------------------------------------------------ source facts


def test_the_judge_parses_sources_within_bounds():
    from gradekit import source

    with pytest.raises(source.SourceError, match="syntax error on line 1"):
        source.parse("def f(:\n", "lesson01.py")
    with pytest.raises(source.SourceError, match="nests brackets more than"):
        source.parse("x = " + "(" * 10_000 + ")" * 10_000, "lesson01.py")
    with pytest.raises(source.SourceError, match="longer than"):
        source.parse("#" * (source.MAX_CHARS + 1), "lesson01.py")
    with pytest.raises(source.SourceError, match="too large"):
        source.parse("x = [" + "1, " * source.MAX_NODES + "]", "lesson01.py")


@pytest.mark.parametrize("code, found", [
    ("import gradekit.probes", "grading engine"),
    ("from gradekit import probes", "grading engine"),
    ("import sys\nm = sys.modules", "sys.modules"),
    ("from sys import modules", "modules"),
    ("import gc\nobjects = gc.get_objects()", "gc"),
    ("m = __import__('grade' + 'kit')", "__import__"),
    ("exec(open('x').read())", "exec"),
    ("def f():\n    return f.__globals__", "__globals__"),
    ("import sys\nframe = sys._getframe().f_back", "_getframe"),
    ("x = ().__class__.__base__.__subclasses__()", "__subclasses__"),
    ("import subprocess\nsubprocess._fork_exec", "_fork_exec"),
    ("name = 'gradekit.harness'", "in a string"),
    ("import importlib\nimportlib.import_module('x')", "importlib"),
])
def test_code_that_reaches_for_the_engine_is_found(code, found):
    from gradekit import source

    references = source.engine_references(source.parse(code, "lesson01.py"))
    assert references and any(found in r for r in references), references


def test_ordinary_exercise_code_is_not_mistaken_for_reaching_the_engine():
    from gradekit import source

    code = '''"""My answers; the grader (gradekit) reads them."""
import keras


def compile_it(model):
    """Compile the model, then evaluate it."""
    model.compile(optimizer="adam", loss="mse")
    return model.evaluate, getattr(model, "name")
'''
    assert source.engine_references(source.parse(code, "lesson01.py")) == []
    for path in sorted((ROOT / "solutions").glob("lesson*.py")):
        assert source.engine_references(source.parse(path.read_text(), path.name)) == [], path.name


def test_class_facts_resolve_bases_through_imports_aliases_and_local_classes():
    from gradekit import source

    tree = source.parse('''
import keras
from keras import layers as kl
L = keras.layers


class Base(kl.Layer):
    def build(self, input_shape):
        self._make(input_shape)

    def _make(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], 3))


class Mine(Base):
    def __init__(self, **kwargs):
        Base.__init__(self, **kwargs)

    def call(self, x):
        return x @ self.kernel


class FromDense(L.Dense):
    pass


SimpleDense = Mine
''', "lesson01.py")
    facts = source.class_facts(tree, "SimpleDense")
    assert facts.name == "Mine" and facts.base == "keras.layers.Layer" and facts.base_kind == "Layer"
    assert facts.local_bases == ["Base"] and facts.defines("build") and facts.defines("call")
    assert len(facts.reachable_calls("build", ("add_weight",))) == 1, "through a helper method of the base"
    assert facts.reachable_calls("__init__", ("add_weight",)) == []
    assert len(facts.super_init_calls()) == 1
    dense = source.class_facts(tree, "FromDense")
    assert dense.base == "keras.layers.Dense" and dense.base_kind == "Dense"
    assert source.class_facts(tree, "Missing") is None
    loop = source.parse("class A(B):\n    pass\n\n\nclass B(A):\n    pass\n", "x.py")
    assert "loop" in source.class_facts(loop, "A").problem


def test_the_judge_reads_only_the_source_it_took_in(tmp_path):
    """A copy changed after it was taken in (by code that got around the read-only view) is not read."""
    import hashlib

    from gradekit.harness import EngineReference, submitted_source

    module = tmp_path / "lesson01.py"
    module.write_text("class SimpleDense:\n    pass\n")
    digests = {"lesson01.py": hashlib.sha256(module.read_bytes()).hexdigest()}
    assert submitted_source(tmp_path, "lesson01", "SimpleDense", digests).defined == "SimpleDense"
    module.write_text("import keras\n\n\nclass SimpleDense(keras.layers.Layer):\n    pass\n")
    with pytest.raises(EngineReference, match="changed while it was being graded"):
        submitted_source(tmp_path, "lesson01", "SimpleDense", digests)


# ------------------------------------------------------------------------------------------ a batch's second pass


def _fake_grading(stopped_on: dict[str, int], log: list[tuple[str, int]]):
    """A stand-in for classroom.grade_submission: each call takes 0.3 s and records (student, how many gradings were
    running at its end); a student's first ``stopped_on[student]`` calls run out of time."""
    import threading

    lock, running, calls = threading.Lock(), [0], {}

    def grade(entry, lessons, options, student, judges, tests):
        with lock:
            running[0] += 1
            calls[student] = calls.get(student, 0) + 1
            attempt = calls[student]
        time.sleep(0.3)
        with lock:
            log.append((student, running[0]))
            running[0] -= 1
        stopped = attempt <= stopped_on.get(student, 0)
        record = {"lesson": "lesson01", "exercise": "x", "name": "test_x", "possible": 1.0,
                  "earned": 0.0 if stopped else 1.0, "feedback": "took longer than 9 s" if stopped else ""}
        return {"student": student, "submission": entry.name, "earned": record["earned"], "possible": 1.0,
                "seconds": 0.3, "tests": [record], "sandbox": "", **({"stopped": True} if stopped else {})}

    return grade


def _class_of(folder: Path, *names: str) -> Path:
    for name in names:
        (folder / name).mkdir(parents=True)
    return folder


def test_a_submission_that_ran_out_of_time_beside_others_is_graded_again_alone_and_that_grade_is_kept(
        tmp_path, monkeypatch):
    from gradekit import classroom

    log: list[tuple[str, int]] = []
    monkeypatch.setattr(classroom, "grade_submission", _fake_grading({"a": 1}, log))
    reports = classroom.batch(_class_of(tmp_path / "class", "a", "b", "c"), tmp_path / "out", 2, ["01"], {})
    assert [r["earned"] for r in reports] == [1.0, 1.0, 1.0]
    assert "stopped" not in json.loads((tmp_path / "out" / "reports" / "a.json").read_text())
    assert max(n for _, n in log[:3]) == 2, "the first pass graded side by side"
    assert log[3:] == [("a", 1)], "a was graded again, once, after the others and alone"
    assert (tmp_path / "out" / "gradebook.csv").read_text().splitlines()[1].startswith("a,1,")


def test_a_second_pass_runs_once_and_not_for_a_class_graded_one_at_a_time(tmp_path, monkeypatch):
    from gradekit import classroom

    log: list[tuple[str, int]] = []
    monkeypatch.setattr(classroom, "grade_submission", _fake_grading({"a": 5}, log))
    reports = classroom.batch(_class_of(tmp_path / "two", "a", "b"), tmp_path / "out2", 2, ["01"], {})
    assert reports[0]["earned"] == 0 and "took longer" in reports[0]["tests"][0]["feedback"]
    assert [s for s, _ in log].count("a") == 2, "ran out of time alone too: graded twice, not more"
    log.clear()
    classroom.batch(_class_of(tmp_path / "one", "a", "b"), tmp_path / "out1", 1, ["01"], {})
    assert [s for s, _ in log] == ["a", "b"], "one at a time: nothing ran beside it, so no second pass"


# ------------------------------------------------------------------------------------------------ shared answers


def _digits_mlp(units: int = 4) -> keras.Model:
    pixels = keras.Input((6,), name="pixels")
    return keras.Model(pixels, L.Dense(3, activation="softmax", name="digit")(L.Dense(units)(pixels)), name="mlp")


def _count_unpacks(monkeypatch) -> list[int]:
    calls = [0]
    unpack = evidence.unpack

    def counting(*args, **kwargs):
        calls[0] += 1
        return unpack(*args, **kwargs)

    monkeypatch.setattr(evidence, "unpack", counting)
    return calls


def test_a_shared_answer_is_rebuilt_once_and_a_plain_one_at_every_ask(monkeypatch):
    submission = Submission.from_objects("lesson99", mlp=_digits_mlp)
    submission.model("mlp", 5)  # the worker answers once: from here on every ask is answered from the cache
    unpacks = _count_unpacks(monkeypatch)
    first, second = submission.shared_model("mlp", 5), submission.shared_model("mlp", 5)
    assert first is second and unpacks[0] == 1, "one rebuilt model for every shared ask"
    assert submission.shared_call("mlp", 5) is first, "shared_call and shared_model share it"
    plain = [submission.model("mlp", 5), submission.call("mlp", 5)]
    assert unpacks[0] == 3 and len({id(first), *map(id, plain)}) == 3, "a plain ask rebuilds a model of its own"
    other = submission.shared_model("mlp", 7)
    assert other is not first and other.layers[1].units == 7, "other arguments, another answer"


def test_a_failing_shared_answer_gives_the_same_feedback_at_every_ask(monkeypatch):
    def broken():
        raise ValueError("no model today")

    def with_lambda():
        inputs = keras.Input((3,))
        return keras.Model(inputs, L.Lambda(lambda t: t * 2)(inputs))

    def not_evidence():  # an answer the judge cannot rebuild: the worker's evidence names a layer that is not one
        inputs = keras.Input((3,))
        return keras.Model(inputs, L.Dense(2)(inputs))

    submission = Submission.from_objects("lesson99", broken=broken, with_lambda=with_lambda, number=lambda: 3,
                                         not_evidence=not_evidence)
    rebuilds = [0]
    rebuild = Submission._rebuild

    def counting(self, *args, **kwargs):
        rebuilds[0] += 1
        return rebuild(self, *args, **kwargs)

    monkeypatch.setattr(Submission, "_rebuild", counting)
    refuse = evidence.Unpacker._create

    def refusing(self, record):
        if "layer" in record:
            raise evidence.EvidenceError("the answer describes a layer that is not one")
        return refuse(self, record)

    monkeypatch.setattr(evidence.Unpacker, "_create", refusing)
    for name, pattern in (("broken", "raised ValueError: no model today"),
                          ("with_lambda", "Keras' built-in layers only|Lambda"),
                          ("not_evidence", "cannot rebuild what it returned: the answer describes a layer"),
                          ("number", "returned int, not a keras.Model")):
        rebuilds[0], feedback = 0, []
        for _ in range(3):
            with pytest.raises(GradeFailure, match=pattern) as failure:
                submission.shared_model(name)
            feedback.append((type(failure.value), str(failure.value)))
        assert feedback == [feedback[0]] * 3, f"{name}: the same feedback at every ask"
        assert rebuilds[0] == 1, f"{name}: the answer was read once, its failure kept"
        with pytest.raises(GradeFailure) as plain:
            submission.model(name)
        assert (type(plain.value), str(plain.value)) == feedback[0], f"{name}: what a plain ask says"


def test_a_shared_model_outlives_a_fresh_session_with_its_names_and_weights():
    from gradekit.harness import fresh_session

    submission = Submission.from_objects("lesson99", mlp=_digits_mlp)
    fresh_session()
    model = submission.shared_model("mlp")
    names = [layer.name for layer in model.layers]
    x = np.random.default_rng(0).random((4, 6)).astype("float32")
    want = model.predict(x, verbose=0)
    fresh_session()  # keras.backend.clear_session(): Keras' names and seeds start again
    L.Dense(2), L.Dense(2)  # noqa: B018 - layers made since take Keras' generated names
    again = submission.shared_model("mlp")
    assert again is model and [layer.name for layer in again.layers] == names == ["pixels", "dense", "digit"]
    assert np.allclose(again.predict(x, verbose=0), want, atol=1e-6)
    assert [layer.name for layer in submission.model("mlp").layers] == names, "a plain rebuild reads alike"


def test_a_shared_answer_built_on_the_graders_objects_is_shared_only_while_they_are_the_same():
    def extend(given):
        return keras.Model(given.inputs, L.Dense(2, name="head")(given.outputs[0]))

    submission = Submission.from_objects("lesson99", extend=extend)
    keras.backend.clear_session()
    given = _digits_mlp()
    model = submission.shared_model("extend", given)
    assert submission.shared_model("extend", given) is model
    keras.backend.clear_session()
    fresh = _digits_mlp()  # the same request, other objects: the answer is built on them
    rebuilt = submission.shared_model("extend", fresh)
    assert rebuilt is not model and rebuilt.get_layer("digit") is fresh.get_layer("digit")


# ------------------------------------------------------------------------------------------------ a lean Keras import

_LEAN_PROBE = """
import sys
from gradekit import lean, worker
worker.warm_up()  # what a worker does before confinement: import Keras (gradekit.lean), predict, pack a model
loaded = sorted(name for name in lean.OPTIONAL if name in sys.modules)
import keras
import numpy as np
import sklearn.decomposition  # asked for afterwards, it imports as usual
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
assert model.predict(np.ones((1, 3), "float32"), verbose=0).shape == (1, 2)
print(",".join(loaded) + "|" + keras.backend.backend())
"""


def _lean_probe(backend: str | None) -> tuple[str, str]:
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    if backend:
        env["KERAS_BACKEND"] = backend
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "lessons"), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", _LEAN_PROBE], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded, _, used = done.stdout.strip().splitlines()[-1].partition("|")
    return loaded, used


def test_a_worker_imports_keras_without_the_optional_integrations_and_they_import_later():
    backend = keras.backend.backend()
    loaded, used = _lean_probe(backend)
    assert used == backend
    assert loaded == ("jax" if backend == "jax" else ""), "only the backend's own package is imported with Keras"


@pytest.mark.parametrize("backend, hidden", [("tensorflow", {"sklearn", "matplotlib", "jax"}),
                                             ("jax", {"sklearn", "matplotlib"}), ("", {"sklearn", "matplotlib"})])
def test_the_backends_own_package_is_never_hidden(backend, hidden, monkeypatch):
    from gradekit import lean

    for name in lean.OPTIONAL:
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert lean.hidden_while_importing(backend) == hidden
