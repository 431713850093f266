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

from gradekit import evidence
from gradekit.harness import GradeFailure, Submission, close_workers, same_variables

ROOT = Path(__file__).resolve().parents[2]
L = keras.layers


def round_trip(value, given=None):
    """Pack on one side, send, unpack on the other: what the judge gets back."""
    document, arrays = evidence.pack(value, given)
    document, arrays = evidence.decode(evidence.encode(document, arrays))
    return evidence.unpack(document, arrays, given)


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
    and Rescaling come back with their settings (lesson 09's model takes raw features)."""
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
    assert np.allclose(keras.ops.convert_to_numpy(back.get_layer("age_norm").mean), years.mean(), atol=1e-5)
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
    plan = {"cases": [spec], "symbolic": spec, "config_kwargs": {"units": 4, "num_classes": 2, "name": "mine"},
            "save": spec}
    return plan, np.maximum(x @ w1 + b1, 0) @ w2 + b2


def test_the_model_class_probe_reports_shapes_weights_outputs_config_and_a_save(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    plan, want = _model_plan()
    seen = Submission.from_objects("lesson99", TinyModel=TinyModel).probe("TinyModel", "model_class", plan)
    assert seen["is_model_class"] and seen["defines_call"] and seen["defines_get_config"]
    assert not seen["is_sequential_class"]
    case = seen["cases"][0]
    assert case["output_shape"] == [2, 2] and case["parameters"] == 26 and not case["functional_instance"]
    assert case["weight_shapes"] == [[3, 4], [4], [4, 2], [2]] and case["trainable_count"] == 4
    assert seen["symbolic"]["output_shape"] == [None, 2]
    for record in (case, seen["symbolic"], seen["save"]):
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
    assert seen == {"is_model_class": False, "kind": "function", "is_layer_class": False}


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


def test_the_results_table_of_a_worker_answer_is_data_only():
    """An answer is JSON plus an npz archive: nothing in it is executed to read it."""
    document, arrays = evidence.pack({"w": np.ones((2, 2))})
    blob = evidence.encode(document, arrays)
    size = int.from_bytes(blob[:8], "big")
    assert json.loads(blob[8:8 + size])["root"]["dict"][0][0] == "w"
