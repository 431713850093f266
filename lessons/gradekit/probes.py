"""Probes: fixed procedures the worker runs on an exercise that is a class, to collect outputs for the judge.

A class written by the student cannot travel to the judge (that would mean running its code there). Instead the
judge chooses the configuration, the weights and the inputs, drawn afresh for every grading run; the worker builds
the student's class with them and sends back what came out: outputs on those inputs (eager, inside a functional
model, after a config round trip, after a ``.keras`` save and load) and the configs it returned. The judge compares
the outputs with what it computes itself, so an answer that passes has to compute them; the class's structure
(what it subclasses, where it makes its weights) is read by the judge from the submitted source
(:mod:`gradekit.source`), never from here.

This code runs in the worker, beside the submission, which can reach and change it: nothing it reports is taken
on its word except where the judge's check says so. A few diagnostics (weight shapes, parameter counts) only word
the feedback or are listed in the README as resting on the worker's word.

Each step is guarded on its own: a step that raises records ``{"error": ...}`` and the others still run.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gradekit.evidence import to_numpy


def _plain(value: Any, depth: int = 0) -> Any:
    """A config value as plain data (anything else becomes its repr, so the judge can quote it)."""
    if depth > 20:
        return repr(value)[:200]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    return {"repr": repr(value)[:200]}


def _step(record: dict, key: str, timeout: float, fn: Callable[[], Any], filename: str) -> Any:
    from gradekit.worker import SubmissionTimeout, guarded, short, where

    try:
        with guarded(timeout, key):
            value = fn()
        record[key] = value
        return value
    except NotImplementedError as error:  # a stub's bare raise; one with a message (TensorFlow's, say) is an error
        record[key] = {"error": "not_implemented"} if not str(error) else \
            {"error": f"{short(error)}{where(error, filename)}"}
    except SubmissionTimeout:
        record[key] = {"error": "timeout"}
    except MemoryError:
        record[key] = {"error": "memory"}
    except BaseException as error:  # noqa: BLE001
        record[key] = {"error": f"{short(error)}{where(error, filename)}"}
    return None


def _assign_by_shape(layer: Any, spec: dict) -> None:
    """Give a layer the judge's kernel and bias, each to the trainable weight of its shape (in any order)."""
    by_shape = {tuple(w.shape): w for w in layer.trainable_weights}
    by_shape[tuple(spec["kernel"].shape)].assign(spec["kernel"])
    by_shape[tuple(spec["bias"].shape)].assign(spec["bias"])


def _set_weights(model: Any, spec: dict) -> None:
    model.set_weights([np.asarray(w) for w in spec["weights"]])


def _config_round_trip(cls: Any, spec: dict, timeout: float, filename: str, give: Callable[[Any, dict], None]) -> dict:
    """Create ``cls(**spec["kwargs"])``, take its ``get_config()`` and make it again with ``from_config``; the
    clone, called once on ``spec["x"]`` (which builds it), is given the judge's weights (``give``) and its outputs on
    ``spec["x"]`` are recorded. What each step gave, or its error (the same record for a layer and a model class)."""
    import keras

    record: dict[str, Any] = {}
    keras.backend.clear_session(free_memory=False)
    made = _step(record, "create", timeout, lambda: cls(**spec["kwargs"]), filename)
    if made is not None:
        record["create"] = True
        config = _step(record, "config", timeout, made.get_config, filename)
        if isinstance(config, dict):
            record["config"] = _plain(config)

            def round_trip() -> dict:
                clone = type(made).from_config(config)
                return {"config": _plain(clone.get_config()), "name": str(clone.name)}

            clone_record = _step(record, "round_trip", timeout, round_trip, filename)
            if clone_record is not None:
                def clone_outputs() -> np.ndarray:
                    clone = type(made).from_config(config)
                    clone(spec["x"])
                    give(clone, spec)
                    return _numpy(clone(spec["x"]))

                _step(record, "outputs", timeout, clone_outputs, filename)
        elif config is not None:
            record["config"] = {"error": f"returned {type(config).__name__}"}
    return record


def probe_layer_class(cls: Any, filename: str, timeout: float, plan: dict) -> dict:
    """Build a Layer subclass as ``plan`` says and report what it does.

    ``plan``: ``{"cases": [{"kwargs", "input_dim", "kernel", "bias", "x"}], "config": {the same keys}, "save":
    {"kwargs", "input_dim", "kernel", "bias", "dense_kernel", "dense_bias", "x"}}``. For each case: outputs on ``x``
    called directly and inside a functional model, after the judge's kernel and bias are given to the weights of
    their shapes; ``config``: ``get_config``, ``from_config`` and the clone's outputs; ``save``: a model of the layer
    and a Dense, saved as ``.keras`` and loaded back (given the class), predicting on ``x``.
    """
    import keras

    out: dict[str, Any] = {"is_layer_class": bool(isinstance(cls, type) and issubclass(cls, keras.layers.Layer))}
    if not out["is_layer_class"]:
        out["kind"] = type(cls).__name__
        return out
    cases = []
    for case in plan.get("cases", []):
        record: dict[str, Any] = {}
        keras.backend.clear_session(free_memory=False)
        layer = _step(record, "create", timeout, lambda: cls(**case["kwargs"]), filename)
        if layer is None:
            cases.append(record)
            continue
        record["create"] = True
        record["weights_before_call"] = len(getattr(layer, "weights", []) or [])
        inputs = keras.Input((case["input_dim"],))
        tensor = _step(record, "symbolic_call", timeout, lambda: layer(inputs), filename)
        if tensor is not None:
            record["symbolic_call"] = True
            record["output_shape"] = list(getattr(tensor, "shape", ()) or ())
            record["trainable_shapes"] = sorted([list(w.shape) for w in layer.trainable_weights])
            record["non_trainable_count"] = len(layer.non_trainable_weights)

            def compute() -> np.ndarray:
                _assign_by_shape(layer, case)
                return np.asarray(to_numpy(layer(case["x"])), dtype="float64")

            if _step(record, "outputs", timeout, compute, filename) is not None:
                def functional() -> np.ndarray:
                    wrapper = keras.Model(inputs, tensor)
                    return np.asarray(wrapper.predict(case["x"], verbose=0), dtype="float64")

                _step(record, "functional_outputs", timeout, functional, filename)
        cases.append(record)
    out["cases"] = cases

    out["config"] = _config_round_trip(cls, plan["config"], timeout, filename, _assign_by_shape)

    save = plan.get("save")
    if save:
        save_record: dict[str, Any] = {}

        def save_and_load() -> np.ndarray:
            keras.backend.clear_session(free_memory=False)
            layer = cls(**save["kwargs"])
            inputs = keras.Input((save["input_dim"],), name="x")
            hidden = layer(inputs)
            dense = keras.layers.Dense(save["dense_kernel"].shape[1], name="after")
            model = keras.Model(inputs, dense(hidden))
            _assign_by_shape(layer, save)
            dense.set_weights([save["dense_kernel"], save["dense_bias"]])
            with tempfile.TemporaryDirectory(prefix="probe-") as folder:  # in the worker: its scratch folder
                path = Path(folder) / "probe_model.keras"
                model.save(path)
                loaded = keras.saving.load_model(path, custom_objects={"SimpleDense": cls, cls.__name__: cls})
            return np.asarray(loaded.predict(save["x"], verbose=0), dtype="float64")

        _step(save_record, "outputs", timeout, save_and_load, filename)
        out["save"] = save_record
    json.dumps(_plain({k: v for k, v in out.items() if k != "cases"}))  # plain data, or fail here
    return out


def _numpy(value: Any) -> np.ndarray:
    return np.asarray(to_numpy(value), dtype="float64")


def probe_model_class(cls: Any, filename: str, timeout: float, plan: dict) -> dict:
    """Build a keras.Model subclass as ``plan`` says and report what it does.

    ``plan``: ``{"cases": [{"kwargs", "input_dim", "weights", "x"}], "symbolic": {the same keys}, "config": {the
    same keys}, "save": {the same keys}}``. For each case the worker creates the
    model with ``kwargs``, calls it on a batch of two zero rows of ``input_dim`` features (which creates its weights),
    reports its output shape, parameter count and weight shapes in the model's own order, sets ``weights`` with
    ``set_weights`` and returns its outputs on ``x``. ``symbolic``: the same, with the model called on a
    ``keras.Input`` inside a functional model. ``config``: ``get_config``, ``from_config`` and the clone's outputs with
    ``weights``. ``save``: a
    ``.keras`` save and load (in a temporary folder), given the class as a custom object.
    """
    import keras

    out: dict[str, Any] = {"is_model_class": bool(isinstance(cls, type) and issubclass(cls, keras.Model))}
    if not out["is_model_class"]:
        out["kind"] = cls.__name__ if isinstance(cls, type) else type(cls).__name__
        return out

    def built(record: dict, spec: dict, symbolic: bool = False) -> Any:
        """Create the model and give it its weights; record what was seen. The model, or None."""
        keras.backend.clear_session(free_memory=False)
        model = _step(record, "create", timeout, lambda: cls(**spec["kwargs"]), filename)
        if model is None:
            return None
        record["create"] = True
        if symbolic:
            def call() -> Any:
                inputs = keras.Input((spec["input_dim"],))
                return keras.Model(inputs, model(inputs))

            wrapper = _step(record, "call", timeout, call, filename)
            if wrapper is None:
                return None
            record["call"] = True
            record["output_shape"] = list(wrapper.outputs[0].shape)
            return wrapper
        outputs = _step(record, "call", timeout, lambda: model(np.zeros((2, spec["input_dim"]), "float32")),
                        filename)
        if outputs is None:
            return None
        record["call"] = True
        record["output_shape"] = list(getattr(outputs, "shape", ()) or ())

        def measure() -> dict:
            return {"parameters": int(model.count_params()),
                    "weight_shapes": [[int(d) for d in w.shape] for w in model.weights],
                    "trainable_count": len(model.trainable_weights)}

        measured = _step(record, "measure", timeout, measure, filename)
        if measured is not None:
            record.update(measured)
        return model

    def computed(record: dict, model: Any, spec: dict) -> None:
        def compute() -> np.ndarray:
            model.set_weights([np.asarray(w) for w in spec["weights"]])
            return _numpy(model(spec["x"]))

        _step(record, "outputs", timeout, compute, filename)

    cases = []
    for spec in plan.get("cases", []):
        record: dict[str, Any] = {}
        model = built(record, spec)
        if model is not None:
            computed(record, model, spec)
        cases.append(record)
    out["cases"] = cases

    spec = plan.get("symbolic")
    if spec:
        record = {}
        wrapper = built(record, spec, symbolic=True)
        if wrapper is not None:
            computed(record, wrapper, spec)
        out["symbolic"] = record

    out["config"] = _config_round_trip(cls, plan["config"], timeout, filename, _set_weights)

    spec = plan.get("save")
    if spec:
        save_record: dict[str, Any] = {}
        model = built(save_record, spec)
        weights = None if model is None else _step(
            save_record, "weights", timeout,
            lambda: model.set_weights([np.asarray(w) for w in spec["weights"]]) or True, filename)
        if weights is not None:
            def save_and_load() -> np.ndarray:
                with tempfile.TemporaryDirectory(prefix="probe-") as folder:  # in the worker: its scratch folder
                    path = Path(folder) / "probe_model.keras"
                    model.save(path)
                    loaded = keras.saving.load_model(path, custom_objects={cls.__name__: cls})
                return _numpy(loaded(spec["x"]))

            _step(save_record, "outputs", timeout, save_and_load, filename)
        out["save"] = save_record
    json.dumps(_plain({k: v for k, v in out.items() if k not in ("cases", "symbolic", "save")}))  # plain data
    return out


PROBES: dict[str, Callable[..., dict]] = {"layer_class": probe_layer_class, "model_class": probe_model_class}
