"""Evidence: what crosses between the judge and the worker, as plain data.

The judge (the process that decides pass or fail) never runs submitted code. It hands the worker the arguments of
a call (models, inputs, arrays, plain values) and gets back *evidence*: the value the submitted function returned,
written as JSON plus numeric arrays. A Keras model comes back as a graph of built-in layers (each layer's Keras
config and weights, each call of a layer with the tensors it received), never as code or pickles, and the judge
rebuilds it with its own Keras. So evidence that passes a grader's checks describes a model that really has the
checked properties: forging it means writing the correct answer down.

Objects the judge handed in come back as references to the judge's own objects (``{"given": k}``), with what the
submission did to them (trainable flags, weights, compile settings), so "the model uses the given model's own
variables" is a fact about the rebuilt graph: a reused layer is the judge's very layer, a copy is a new layer.

Both directions use the same functions: :func:`pack` turns values into ``(document, arrays)`` and :func:`unpack`
turns them back. :func:`unpack` checks what it reads first (sizes, nesting, allowed Keras classes) and raises
:class:`EvidenceError` with a sentence a student can act on when the evidence cannot be rebuilt.
"""

from __future__ import annotations

import io
import json
import math
import threading
from typing import Any

import numpy as np


def to_numpy(x: Any) -> np.ndarray:
    """``keras.ops.convert_to_numpy(x)`` without the NumPy 2 deprecation notice Keras gives converting a TensorFlow
    tensor, or a Keras variable on JAX (``np.array`` on an object whose ``__array__`` takes no ``copy``)."""
    import keras

    value = x.value if isinstance(x, keras.Variable) else x
    if keras.backend.backend() == "tensorflow" and hasattr(value, "numpy"):
        return np.asarray(value.numpy())
    return np.asarray(keras.ops.convert_to_numpy(value))


def weight_arrays(obj: Any) -> list[np.ndarray]:
    """``obj.get_weights()`` (copies of its weights, in order), without that notice on either backend."""
    return [np.array(to_numpy(w)) for w in obj.weights]


# Limits on what the judge accepts from a worker.
MAX_DOCUMENT_BYTES = 16 * 2**20
MAX_ARRAY_ELEMENTS = 160 * 2**20  # all arrays of one answer together (640 MB of float32)
MAX_OBJECTS = 4000
MAX_NODES = 8000
MAX_DEPTH = 60
MAX_CONFIG_INT = 10_000_000
MAX_STRING = 20_000
# Weight elements the judge creates rebuilding one answer (objects it handed in aside). A layer creates only what
# the evidence sent for it, but for bookkeeping variables of at most BOOKKEEPING elements (a seed's state, a count);
# in all, at most half of what an answer may send (a model's weights travel with its layers and in its state), so a
# wrong but real answer (lesson 03's Embedding(256, 50000): 45 million) is still read and gets its feedback.
MAX_PARAMETERS = MAX_ARRAY_ELEMENTS // 2
BOOKKEEPING = 16

NUMERIC_KINDS = "biuf"  # bool, int, unsigned, float: arrays of anything else (objects, strings) are refused
WRAPPERS = ("TimeDistributed",)  # wrappers whose inner layer may be an object of its own (a given model, say)
# Keras classes that would load or run code or files from their config: never rebuilt from evidence.
REFUSED_CLASSES = {"Lambda", "TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer", "__lambda__",
                   "__typespec__"}
SPECIAL_CLASSES = {"__keras_tensor__", "__numpy__", "__tensor__", "__bytes__", "__ellipsis__", "__slice__"}


class EvidenceError(Exception):
    """The value cannot be written as evidence, or evidence cannot be rebuilt. The message is for the student."""


def _keras():
    import keras

    return keras


def _serialization():
    from keras.src.saving import serialization_lib

    return serialization_lib


def _is_builtin(obj: Any) -> bool:
    """Keras' own class, or one of the engine's (:mod:`gradekit.blocks`), which both sides know."""
    return (type(obj).__module__ or "").split(".")[0] == "keras" or _engine_class(type(obj).__name__,
                                                                                 type(obj).__module__)


def _engine_class(name: Any, module: Any) -> bool:
    from gradekit.blocks import ENGINE_CLASSES

    return module == "gradekit.blocks" and name in ENGINE_CLASSES


# ------------------------------------------------------------------------------------------------------- packing


class Packer:
    """Writes values as evidence. ``given`` lists the objects that came from the other side, by index: they are
    written as references to it, with their state."""

    def __init__(self, given: list[Any] | None = None, given_arrays: dict[int, list[np.ndarray]] | None = None):
        keras = _keras()
        self.keras = keras
        self.objects: list[dict] = []
        self.nodes: list[dict] = []
        self.arrays: list[np.ndarray] = []
        self._object_index: dict[int, int] = {}
        self._tensor_ref: dict[int, list] = {}
        self._given = {id(obj): k for k, obj in enumerate(given or []) if not isinstance(obj, keras.KerasTensor)}
        self._given_tensors = {id(obj): k for k, obj in enumerate(given or []) if isinstance(obj, keras.KerasTensor)}
        self._given_arrays = given_arrays or {}
        self._keep: list[Any] = []  # keeps packed objects alive, so that ids stay unique

    # values -------------------------------------------------------------------------------------------------
    def value(self, v: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise EvidenceError("the value is nested too deeply to be graded")
        keras = self.keras
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, int) and type(v) is int:
            return v
        if type(v) is float:
            return {"float": repr(v)} if not math.isfinite(v) else v
        if isinstance(v, (np.ndarray, np.generic)):
            return {"array": self._array(np.asarray(v)), "scalar": isinstance(v, np.generic)}
        if isinstance(v, keras.KerasTensor):
            return {"tensor": self.tensor(v)}
        if isinstance(v, keras.Variable):
            return {"array": self._array(to_numpy(v))}
        if isinstance(v, (list, tuple)):
            return {"list" if isinstance(v, list) else "tuple": [self.value(x, depth + 1) for x in v]}
        if isinstance(v, slice):  # x[:, 0] in a graph
            return {"slice": [self.value(x, depth + 1) for x in (v.start, v.stop, v.step)]}
        if v is Ellipsis:
            return {"ellipsis": True}
        if isinstance(v, dict):
            if not all(isinstance(k, (str, int)) and not isinstance(k, bool) for k in v):
                raise EvidenceError("a dict with keys other than strings or integers cannot be graded")
            return {"dict": [[k, self.value(x, depth + 1)] for k, x in v.items()]}
        if hasattr(v, "shape") and hasattr(v, "dtype") and type(v).__module__.split(".")[0] in (
                "tensorflow", "jax", "jaxlib", "torch", "keras"):
            return {"array": self._array(to_numpy(v))}
        if isinstance(v, (keras.layers.Layer, keras.optimizers.Optimizer)) or _is_operation(v):
            return {"object": self.object(v)}
        if isinstance(v, (keras.losses.Loss, keras.metrics.Metric)):
            return {"keras": self._builtin_config(v, "loss or metric")}
        if callable(v) and not isinstance(v, type):
            namespace = _keras_function(v)
            if namespace:
                return {"function": [namespace, v.__name__]}
            raise EvidenceError(f"the function {getattr(v, '__name__', '?')} is defined in your own code; the grader "
                                "reads Keras' built-in losses, metrics and activations only (by name or as "
                                "keras.losses.X())")
        raise EvidenceError(f"a value of type {type(v).__name__} cannot be graded: return Keras models, tensors, "
                            "NumPy arrays, numbers, strings, or lists and dicts of these")

    def _array(self, a: np.ndarray) -> int:
        if a.dtype.kind not in NUMERIC_KINDS:
            raise EvidenceError(f"an array of dtype {a.dtype} cannot be graded (numbers only)")
        self.arrays.append(np.array(a, order="C", copy=True))
        return len(self.arrays) - 1

    def _builtin_config(self, obj: Any, what: str) -> Any:
        if not _is_builtin(obj) and not (callable(obj) and getattr(obj, "__module__", "").startswith("keras")):
            raise EvidenceError(f"the {what} {getattr(obj, '__name__', type(obj).__name__)} is defined in your own "
                                "code; the grader reads Keras' built-in ones only")
        return _serialization().serialize_keras_object(obj)

    # tensors and graphs -------------------------------------------------------------------------------------
    def tensor(self, t: Any) -> list:
        """A reference to a symbolic tensor: one handed in, or an output of a call (node) written in ``nodes``."""
        key = id(t)
        if key in self._given_tensors:
            return ["given", self._given_tensors[key]]
        if key in self._tensor_ref:
            return self._tensor_ref[key]
        history = getattr(t, "_keras_history", None)
        if history is None:
            raise EvidenceError("a tensor that no layer produced (not from keras.Input or a layer call) cannot be "
                                "graded")
        operation, node_index, tensor_index = history
        node = operation._inbound_nodes[node_index]
        ref = ["node", self._node(node), tensor_index]
        self._tensor_ref[key] = ref
        return ref

    def _node(self, node: Any) -> int:
        key = ("node", id(node))
        if key in self._object_index:
            return self._object_index[key]
        if len(self.nodes) >= MAX_NODES:
            raise EvidenceError("the graph has too many layer calls to be graded")
        operation = node.operation
        if type(operation).__name__ == "InputLayer" and id(operation) in self._given:
            record = {"given_input": self._given[id(operation)]}
        elif type(operation).__name__ == "InputLayer":
            t = node.outputs[0]
            record = {"input": {"shape": list(t.shape), "dtype": str(t.dtype), "name": operation.name,
                                "sparse": bool(getattr(t, "sparse", False))}}
        else:
            record = {"op": self.object(operation),
                      "args": self.value(list(node.arguments.args)),
                      "kwargs": self.value(dict(node.arguments.kwargs)),
                      "outputs": len(node.outputs)}
        self.nodes.append(record)
        self._keep.append(node)
        index = len(self.nodes) - 1
        self._object_index[key] = index
        return index

    # objects ------------------------------------------------------------------------------------------------
    def object(self, obj: Any) -> int:
        key = id(obj)
        if key in self._object_index:
            return self._object_index[key]
        if len(self.objects) >= MAX_OBJECTS:
            raise EvidenceError("the model has too many layers to be graded")
        index = len(self.objects)
        self._object_index[key] = index
        self.objects.append({})  # placeholder: a record may refer to itself through its graph
        self._keep.append(obj)
        self.objects[index] = self._record(obj)
        return index

    def _record(self, obj: Any) -> dict:
        keras = self.keras
        if id(obj) in self._given:
            k = self._given[id(obj)]
            return {"given": k, "state": self._state(obj, self._given_arrays.get(k))}
        kind = type(obj).__name__
        if isinstance(obj, keras.optimizers.Optimizer):
            return {"keras": self._builtin_config(obj, "optimizer")}
        if isinstance(obj, keras.Sequential):
            if type(obj) is not keras.Sequential:
                raise EvidenceError(f"the model is a subclass of keras.Sequential defined in your code ({kind}); "
                                    "use keras.Sequential itself")
            first = obj._layers[0] if obj._layers else None
            spec = None
            if first is not None and type(first).__name__ == "InputLayer":
                t = first.output
                spec = {"shape": list(t.shape), "dtype": str(t.dtype), "name": first.name}
            return {"sequential": {"name": obj.name, "layers": [self.object(layer) for layer in obj.layers],
                                   "input": spec}, "state": self._state(obj)}
        if isinstance(obj, keras.Model):
            if not _is_functional(obj):
                raise EvidenceError(f"the model is a subclass of keras.Model defined in your code ({kind}); the "
                                    "grader reads models built as keras.Model(inputs, outputs) or "
                                    "keras.Sequential")
            inputs, outputs = getattr(obj, "_inputs_struct", None), getattr(obj, "_outputs_struct", None)
            return {"functional": {"name": obj.name,
                                   "inputs": self.value(obj.inputs if inputs is None else inputs),
                                   "outputs": self.value(obj.outputs if outputs is None else outputs)},
                    "state": self._state(obj)}
        if not _is_builtin(obj):
            raise EvidenceError(f"'{getattr(obj, 'name', kind)}' is a layer of class {kind}, defined in your own "
                                "code; the grader rebuilds models from Keras' built-in layers only (a rule of the "
                                "grader, in the student README's \"What the grader accepts\"): build the model "
                                "from keras.layers, and compute on symbolic tensors with keras.ops")
        if kind in WRAPPERS:
            config = _serialization().serialize_keras_object(obj)
            config["config"].pop("layer", None)
            return {"wrapper": config, "inner": self.object(obj.layer)}
        config = _serialization().serialize_keras_object(obj)
        weights = [self._array(w) for w in weight_arrays(obj)] if hasattr(obj, "get_weights") else []
        return {"layer": config, "weights": weights, "trainable": bool(getattr(obj, "trainable", True))}

    def _state(self, obj: Any, received: list[np.ndarray] | None = None) -> dict:
        """What a model or layer is like now: trainable flags, weights (only where they changed from what was
        received), and how it was compiled."""
        state: dict[str, Any] = {}
        if hasattr(obj, "trainable"):
            flags = [bool(obj.trainable)]
            if hasattr(obj, "_flatten_layers"):
                flags += [bool(layer.trainable) for layer in obj._flatten_layers(include_self=False)]
            state["trainable"] = flags
        if hasattr(obj, "get_weights"):
            current = weight_arrays(obj)
            same = received is not None and len(received) == len(current) and all(
                a.shape == b.shape and np.array_equal(a, b) for a, b in zip(received, current))
            if not same:
                state["weights"] = [self._array(np.asarray(w)) for w in current]
        compile_config = getattr(obj, "_compile_config", None)
        if getattr(obj, "compiled", False) and compile_config is not None:
            state["compile"] = {k: self.value(v) for k, v in compile_config.config.items()}
        return state

    def document(self, root: Any) -> dict:
        return {"root": root, "objects": self.objects, "nodes": self.nodes}


FUNCTION_NAMESPACES = ("losses", "metrics", "activations")


def _keras_function(v: Any) -> str:
    """The Keras namespace (losses, metrics, activations) that offers this very function, or ''."""
    keras = _keras()
    name = getattr(v, "__name__", None)
    for namespace in FUNCTION_NAMESPACES:
        if isinstance(name, str) and getattr(getattr(keras, namespace), name, None) is v:
            return namespace
    return ""


def _is_operation(v: Any) -> bool:
    from keras.src.ops.operation import Operation

    return isinstance(v, Operation)


def _is_functional(model: Any) -> bool:
    from keras.src.models.functional import Functional

    return isinstance(model, Functional)


def given_objects(args: Any, kwargs: Any) -> list[Any]:
    """Every Keras object and symbolic tensor handed in, in a fixed order: each model is followed by its layers.
    The judge lists its own arguments the same way, so index k means the same object on both sides."""
    import keras

    found: list[Any] = []
    seen: set[int] = set()

    def add(obj: Any) -> None:
        if id(obj) not in seen:
            seen.add(id(obj))
            found.append(obj)

    def walk(value: Any) -> None:
        if isinstance(value, (list, tuple)):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, keras.KerasTensor):
            add(value)
        elif isinstance(value, (keras.layers.Layer, keras.optimizers.Optimizer)) or _is_operation(value):
            add(value)
            if hasattr(value, "_flatten_layers"):
                for layer in value._flatten_layers(include_self=False, recursive=True):
                    add(layer)
            if isinstance(value, keras.Model):  # its InputLayers: reusing model.inputs reuses them
                try:
                    inputs = list(value.inputs or [])
                except (AttributeError, ValueError):  # a Sequential that was never built
                    inputs = []
                for tensor in inputs:
                    add(tensor._keras_history.operation)

    walk(args)
    walk(kwargs)
    return found



def pack(value: Any, given: list[Any] | None = None,
         given_arrays: dict[int, list[np.ndarray]] | None = None) -> tuple[dict, list[np.ndarray]]:
    """``value`` as evidence: a JSON-able document and its arrays. ``given``: objects received from the other
    side (written as references); ``given_arrays``: the weights each was received with (to send only changes)."""
    packer = Packer(given, given_arrays)
    root = packer.value(value)
    return packer.document(root), packer.arrays


# ------------------------------------------------------------------------------------------------------ checking


def check_config(config: Any, depth: int = 0) -> None:
    """Refuse configs that are too large or name anything but Keras' own classes and functions."""
    if depth > MAX_DEPTH:
        raise EvidenceError("a layer's configuration is nested too deeply")
    if isinstance(config, bool) or config is None or isinstance(config, float):
        return
    if isinstance(config, int):
        if abs(config) > MAX_CONFIG_INT:
            raise EvidenceError(f"a layer's configuration holds the number {config}, too large to build here")
        return
    if isinstance(config, str):
        if len(config) > MAX_STRING:
            raise EvidenceError("a layer's configuration holds a string that is too long")
        return
    if isinstance(config, list):
        for item in config:
            check_config(item, depth + 1)
        return
    if not isinstance(config, dict):
        raise EvidenceError("a layer's configuration is not plain data")
    if "class_name" in config:
        name = config.get("class_name")
        module = config.get("module")
        registered = config.get("registered_name")
        if not isinstance(name, str) or name in REFUSED_CLASSES:
            what = "a Lambda layer" if name in ("Lambda", "__lambda__") else f"the class {name!r}"
            raise EvidenceError(f"the model uses {what}, which the grader does not rebuild: it would run code from "
                                "the submission (a rule of the grader, in the student README's \"What the grader "
                                "accepts\"); call keras.ops on the symbolic tensors instead, e.g. keras.ops.abs(x) "
                                "in place of Lambda(lambda t: abs(t))(x), or use a Keras layer")
        if _engine_class(name, module):
            from gradekit.blocks import PACKAGE

            if registered != f"{PACKAGE}>{name}":
                raise EvidenceError(f"the class {name!r} is not the grading engine's")
        elif name not in SPECIAL_CLASSES:
            if not (isinstance(module, str) and module.split(".")[0] == "keras"):
                raise EvidenceError(f"the model uses {name!r} from {module!r}, not a Keras built-in; the grader "
                                    "rebuilds Keras' own layers, losses and optimizers only")
            if registered not in (None, name):
                raise EvidenceError(f"the model uses the registered custom object {registered!r}; the grader "
                                    "rebuilds Keras' own layers only")
    for key, item in config.items():
        if not isinstance(key, str):
            raise EvidenceError("a layer's configuration has a key that is not a string")
        check_config(item, depth + 1)


def check_document(document: Any, arrays: list[np.ndarray]) -> None:
    if not isinstance(document, dict) or not {"root", "objects", "nodes"} <= set(document):
        raise EvidenceError("the worker's answer is not evidence")
    if not isinstance(document["objects"], list) or not isinstance(document["nodes"], list):
        raise EvidenceError("the worker's answer is not evidence")
    if len(document["objects"]) > MAX_OBJECTS or len(document["nodes"]) > MAX_NODES:
        raise EvidenceError("the model has too many layers or layer calls to be graded")
    if sum(int(a.size) for a in arrays) > MAX_ARRAY_ELEMENTS:
        raise EvidenceError("the answer holds more numbers than the grader accepts (is the model far too large?)")
    for a in arrays:
        if a.dtype.kind not in NUMERIC_KINDS:
            raise EvidenceError("the answer holds an array that is not numeric")
    for record in document["objects"]:
        if not isinstance(record, dict):
            raise EvidenceError("the worker's answer is not evidence")
        for key in ("layer", "wrapper", "keras"):
            if key in record:
                check_config(record[key])
    for node in document["nodes"]:
        if not isinstance(node, dict):
            raise EvidenceError("the worker's answer is not evidence")


# ----------------------------------------------------------------------------------------------------- unpacking


class Unpacker:
    """Rebuilds evidence with the judge's own Keras: objects from checked configs, graphs by calling them."""

    def __init__(self, document: dict, arrays: list[np.ndarray], given: list[Any] | None = None):
        self.keras = _keras()
        self.doc, self.arrays, self.given = document, arrays, list(given or [])
        self._objects: dict[int, Any] = {}
        self._building: set[int] = set()
        self._node_outputs: dict[int, list[Any]] = {}
        self._pending_weights: list[tuple[Any, list[int]]] = []
        self._pending_state: list[tuple[Any, dict]] = []
        self.budget = _Budget(self.given)

    def array(self, index: Any) -> np.ndarray:
        if not isinstance(index, int) or not 0 <= index < len(self.arrays):
            raise EvidenceError("the answer refers to data it does not hold")
        return self.arrays[index]

    def value(self, v: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise EvidenceError("the value is nested too deeply to be graded")
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, list):  # a plain list only appears inside Keras configs
            raise EvidenceError("the worker's answer is not evidence")
        if not isinstance(v, dict) or len(v) < 1:
            raise EvidenceError("the worker's answer is not evidence")
        if "float" in v:
            return float(v["float"]) if v["float"] in ("nan", "inf", "-inf") else 0.0
        if "array" in v:
            a = self.array(v["array"])
            return a[()] if v.get("scalar") and a.ndim == 0 else a.copy()
        if "list" in v:
            return [self.value(x, depth + 1) for x in _items(v["list"])]
        if "tuple" in v:
            return tuple(self.value(x, depth + 1) for x in _items(v["tuple"]))
        if "slice" in v:
            parts = [self.value(x, depth + 1) for x in _items(v["slice"])]
            if len(parts) != 3 or not all(p is None or isinstance(p, int) for p in parts):
                raise EvidenceError("the worker's answer is not evidence")
            return slice(*parts)
        if "ellipsis" in v:
            return Ellipsis
        if "dict" in v:
            out = {}
            for pair in _items(v["dict"]):
                if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], (str, int))):
                    raise EvidenceError("the worker's answer is not evidence")
                out[pair[0]] = self.value(pair[1], depth + 1)
            return out
        if "tensor" in v:
            return self.tensor(v["tensor"])
        if "function" in v:
            ref = v["function"]
            if not (isinstance(ref, list) and len(ref) == 2 and ref[0] in FUNCTION_NAMESPACES
                    and isinstance(ref[1], str) and not ref[1].startswith("_")):
                raise EvidenceError("the answer refers to a function the grader does not know")
            fn = getattr(getattr(self.keras, ref[0]), ref[1], None)
            if fn is None or isinstance(fn, type) or not callable(fn):
                raise EvidenceError(f"keras.{ref[0]} has no function {ref[1]!r}")
            return fn
        if "object" in v:
            return self.object(v["object"])
        if "keras" in v:
            check_config(v["keras"])
            return _serialization().deserialize_keras_object(v["keras"], safe_mode=True)
        raise EvidenceError("the worker's answer is not evidence")

    def tensor(self, ref: Any) -> Any:
        if not (isinstance(ref, list) and len(ref) in (2, 3) and all(isinstance(x, (str, int)) for x in ref)):
            raise EvidenceError("the worker's answer is not evidence")
        if ref[0] == "given":
            k = ref[1]
            if not (isinstance(k, int) and 0 <= k < len(self.given)
                    and isinstance(self.given[k], self.keras.KerasTensor)):
                raise EvidenceError("the answer refers to an input it was not given")
            return self.given[k]
        if ref[0] != "node" or len(ref) != 3:
            raise EvidenceError("the worker's answer is not evidence")
        outputs = self.node(ref[1])
        if not isinstance(ref[2], int) or not 0 <= ref[2] < len(outputs):
            raise EvidenceError("the answer refers to a layer output that does not exist")
        return outputs[ref[2]]

    def node(self, index: Any) -> list[Any]:
        if not isinstance(index, int) or not 0 <= index < len(self.doc["nodes"]):
            raise EvidenceError("the answer refers to a layer call it does not hold")
        if index in self._node_outputs:
            return self._node_outputs[index]
        if ("node", index) in self._building:
            raise EvidenceError("the graph in the answer has a loop")
        self._building.add(("node", index))
        record = self.doc["nodes"][index]
        keras = self.keras
        if "given_input" in record:
            k = record["given_input"]
            if not (isinstance(k, int) and 0 <= k < len(self.given) and type(self.given[k]).__name__ == "InputLayer"):
                raise EvidenceError("the answer refers to an input it was not given")
            outputs = [self.given[k].output]
        elif "input" in record:
            spec = record["input"]
            shape = spec.get("shape")
            if not isinstance(shape, list) or not all(d is None or (isinstance(d, int) and 0 <= d <= MAX_CONFIG_INT)
                                                      for d in shape):
                raise EvidenceError("an input in the answer has an impossible shape")
            tensor = keras.Input(batch_shape=tuple(shape), dtype=str(spec.get("dtype", "float32")),
                                 name=str(spec.get("name", "input")), sparse=bool(spec.get("sparse", False)))
            outputs = [tensor]
        else:
            op = self.object(record.get("op"))
            args = self.value(record.get("args"))
            kwargs = self.value(record.get("kwargs"))
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise EvidenceError("the worker's answer is not evidence")
            try:
                result = op(*args, **kwargs)
            except EvidenceError:
                raise
            except Exception as error:  # noqa: BLE001 - a graph that does not fit together
                raise EvidenceError(f"the graph could not be rebuilt: calling '{getattr(op, 'name', op)}' failed "
                                    f"({_why(error)})") from None
            outputs = self.keras.tree.flatten(result)
        self._node_outputs[index] = outputs
        self._building.discard(("node", index))
        return outputs

    def object(self, index: Any) -> Any:
        if not isinstance(index, int) or not 0 <= index < len(self.doc["objects"]):
            raise EvidenceError("the answer refers to a layer it does not hold")
        if index in self._objects:
            return self._objects[index]
        if index in self._building:
            raise EvidenceError("the answer's layers refer to each other in a loop")
        self._building.add(index)
        obj = self._create(self.doc["objects"][index])
        self._objects[index] = obj
        self._building.discard(index)
        return obj

    def _create(self, record: dict) -> Any:
        keras = self.keras
        if not isinstance(record, dict):
            raise EvidenceError("the worker's answer is not evidence")
        if "given" in record:
            k = record["given"]
            if not (isinstance(k, int) and 0 <= k < len(self.given)):
                raise EvidenceError("the answer refers to an object it was not given")
            obj = self.given[k]
            self._pending_state.append((obj, record.get("state") or {}))
            return obj
        if "keras" in record:  # every object record's config was checked by check_document
            return _serialization().deserialize_keras_object(record["keras"], safe_mode=True)
        if "layer" in record:
            config = record["layer"]
            weights = record.get("weights") or []
            if not isinstance(weights, list):
                raise EvidenceError("the worker's answer is not evidence")
            sent = sum(int(self.array(i).size) for i in weights)
            self.budget.pending = sent  # a config with a build_config builds the layer while it is deserialized
            try:
                layer = _serialization().deserialize_keras_object(config, safe_mode=True)
            except EvidenceError:
                raise
            except Exception as error:  # noqa: BLE001
                raise EvidenceError(f"a layer could not be rebuilt from its configuration ({_why(error)})") from None
            finally:
                self.budget.pending = None
            if not _is_operation(layer) or isinstance(layer, keras.Model):
                raise EvidenceError("the answer describes a layer that is not one")
            self.budget.sent.setdefault(id(layer), sent)
            if weights:
                self._pending_weights.append((layer, weights))
            return layer
        if "wrapper" in record:
            config = record["wrapper"]
            name = config.get("class_name") if isinstance(config, dict) else None
            if name not in WRAPPERS:
                raise EvidenceError("the answer describes a wrapper layer the grader does not know")
            inner = self.object(record.get("inner"))
            options = {k: v for k, v in (config.get("config") or {}).items() if k in ("name", "trainable")}
            return keras.layers.TimeDistributed(inner, **options)
        if "sequential" in record:
            spec = record["sequential"]
            layers = [self.object(i) for i in _items(spec.get("layers"))]
            first = []
            if spec.get("input"):
                shape = spec["input"].get("shape")
                if not isinstance(shape, list):
                    raise EvidenceError("an input in the answer has an impossible shape")
                first = [keras.Input(batch_shape=tuple(shape), dtype=str(spec["input"].get("dtype", "float32")),
                                     name=str(spec["input"].get("name", "input")))]
            try:
                model = keras.Sequential(first + layers, name=str(spec.get("name", "sequential")))
            except Exception as error:  # noqa: BLE001
                raise EvidenceError(f"the Sequential model could not be rebuilt ({type(error).__name__})") from None
            self._pending_state.append((model, record.get("state") or {}))
            return model
        if "functional" in record:
            spec = record["functional"]
            inputs = self.value(spec.get("inputs"))
            outputs = self.value(spec.get("outputs"))
            try:
                model = keras.Model(inputs, outputs, name=str(spec.get("name", "model")))
            except Exception as error:  # noqa: BLE001
                raise EvidenceError(f"the model could not be rebuilt from its graph ({_why(error)})") from None
            self._pending_state.append((model, record.get("state") or {}))
            return model
        raise EvidenceError("the worker's answer is not evidence")

    def finish(self) -> None:
        """Weights, trainable flags and compile settings, once every object exists (layers are built by then)."""
        for layer, indices in self._pending_weights:
            values = [self.array(i) for i in indices]
            _set_weights(layer, values)
        for obj, state in self._pending_state:
            if not isinstance(state, dict):
                raise EvidenceError("the worker's answer is not evidence")
            if "weights" in state:
                _set_weights(obj, [self.array(i) for i in _items(state["weights"])])
            flags = state.get("trainable")
            if isinstance(flags, list) and flags and hasattr(obj, "trainable"):
                layers = list(obj._flatten_layers(include_self=False)) if hasattr(obj, "_flatten_layers") else []
                if not flags[0]:
                    obj.trainable = False
                if len(flags) == len(layers) + 1:
                    for layer, flag in zip(layers, flags[1:]):
                        if bool(layer.trainable) != bool(flag):
                            layer.trainable = bool(flag)
            if "compile" in state:
                settings = self.value({"dict": [[k, v] for k, v in (state["compile"] or {}).items()]})
                allowed = {"optimizer", "loss", "loss_weights", "metrics", "weighted_metrics", "run_eagerly",
                           "steps_per_execution", "jit_compile", "auto_scale_loss"}
                settings = {k: v for k, v in settings.items() if k in allowed}
                try:
                    obj.compile(**settings)
                except Exception as error:  # noqa: BLE001
                    raise EvidenceError(f"compiling the model as the submission did failed here "
                                        f"({_why(error)})") from None


def _why(error: BaseException) -> str:
    """``Type: first line of the message`` (200 characters at most)."""
    text = str(error).splitlines()[0][:200] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _set_weights(obj: Any, values: list[np.ndarray]) -> None:
    try:
        current = obj.weights
        if len(current) != len(values) or any(tuple(v.shape) != tuple(a.shape) for v, a in zip(current, values)):
            raise ValueError("shapes differ")
        obj.set_weights(values)
        # An adapted Normalization computes with constants made from its variables, which set_weights leaves stale:
        # Keras' own loader calls finalize_state after loading them (Normalization.load_own_variables); so do we.
        for layer in [obj, *(obj._flatten_layers(include_self=False) if hasattr(obj, "_flatten_layers") else [])]:
            if isinstance(layer, _keras().layers.Normalization):
                layer.finalize_state()
    except Exception as error:  # noqa: BLE001
        raise EvidenceError(f"the weights in the answer do not fit '{getattr(obj, 'name', '?')}' "
                            f"({type(error).__name__})") from None


def _items(v: Any) -> list:
    if not isinstance(v, list):
        raise EvidenceError("the worker's answer is not evidence")
    return v


def unpack(document: Any, arrays: list[np.ndarray], given: list[Any] | None = None) -> Any:
    """Rebuild the value the evidence describes; objects referred to as given are ``given``'s. The weights it
    creates are bounded by what the evidence sent (:class:`_Budget`)."""
    check_document(document, arrays)
    unpacker = Unpacker(document, arrays, given)
    _watch_variables()
    outer, _CHARGING.budget = getattr(_CHARGING, "budget", None), unpacker.budget
    try:
        value = unpacker.value(document["root"])
        unpacker.finish()
    except _OverBudget as over:
        raise EvidenceError(str(over)) from None
    finally:
        _CHARGING.budget = outer
    return value


# ------------------------------------------------------------------------------------------ weights it creates


class _OverBudget(BaseException):
    """A rebuilt layer would create weights the evidence did not send (a BaseException: Keras, which rewrites the
    exceptions raised while it builds a layer, lets it through untouched)."""


class _Budget:
    """The weights the judge may create while rebuilding one answer: for each layer, as many elements as the
    evidence sent for it (plus bookkeeping variables), MAX_PARAMETERS in all. Checked as each variable is about
    to be initialised, so memory is never allocated for a refused one. Objects the judge handed in are its own."""

    def __init__(self, given: list[Any]):
        self.given = {id(obj) for obj in given}
        self.sent: dict[int, int] = {}  # id(layer) -> elements of the weights the evidence sent for it
        self.used: dict[int | None, int] = {}
        self.pending: int | None = None  # elements sent for the layer being deserialized right now
        self.total = 0

    def charge(self, variable: Any) -> None:
        from keras.src.backend.common import global_state

        keras = _keras()
        size = math.prod(int(d) for d in variable.shape)
        scopes = global_state.get_global_attribute("name_scope_stack", default=[]) or []
        callers = [getattr(scope, "caller", None) for scope in scopes]
        if any(id(caller) in self.given for caller in callers if caller is not None):
            return  # the judge's own object builds its own weights
        # the outermost layer being built owns the variable (a sub-layer's weights are sent with their layer's)
        owner = next((caller for caller in callers if _is_operation(caller) and not isinstance(caller, keras.Model)),
                     None)
        name = f"'{owner.name}' ({type(owner).__name__})" if owner is not None else f"'{variable.path}'"
        self.total += size
        if size > BOOKKEEPING:
            key = id(owner) if owner is not None else None
            if key is not None and key not in self.sent and self.pending is not None:
                self.sent[key] = self.pending
            self.used[key] = self.used.get(key, 0) + size
            allowed = self.sent.get(key, 0) if key is not None else 0
            if self.used[key] > allowed:
                raise _OverBudget(f"the layer {name} would create {self.used[key]:,} weights here, but the answer "
                                  f"sent {allowed:,} for it; the grader rebuilds a layer with the weights it was sent "
                                  "only")
        if self.total > MAX_PARAMETERS:
            raise _OverBudget(f"rebuilding the answer would create more than {MAX_PARAMETERS:,} weights (at the layer "
                              f"{name}); is the model far too large?")


_CHARGING = threading.local()  # .budget: the budget of the unpack running in this thread, if any


def _watch_variables() -> None:
    """Have every Keras variable initialised from an initializer charged to the running unpack's budget first (once
    per process; outside an unpack nothing changes)."""
    cls = _keras().Variable
    if getattr(cls, "_gradekit_charged", False):
        return
    original = cls._initialize_with_initializer

    def charged(self: Any, initializer: Any) -> Any:
        budget = getattr(_CHARGING, "budget", None)
        if budget is not None:
            budget.charge(self)
        return original(self, initializer)

    cls._initialize_with_initializer = charged
    cls._gradekit_charged = True


# ------------------------------------------------------------------------------------------------------ the wire


def encode(document: dict, arrays: list[np.ndarray]) -> bytes:
    """One message: JSON, then the arrays as an ``.npz`` archive (no pickles)."""
    text = json.dumps(document, allow_nan=False).encode()
    buffer = io.BytesIO()
    np.savez(buffer, *arrays)
    blob = buffer.getvalue()
    return len(text).to_bytes(8, "big") + text + len(blob).to_bytes(8, "big") + blob


def decode(data: bytes) -> tuple[Any, list[np.ndarray]]:
    if len(data) < 16:
        raise EvidenceError("the worker's answer is cut short")
    size = int.from_bytes(data[:8], "big")
    if size > MAX_DOCUMENT_BYTES or 8 + size + 8 > len(data):
        raise EvidenceError("the worker's answer is too large or cut short")
    try:
        document = json.loads(data[8:8 + size])
    except (ValueError, RecursionError):
        raise EvidenceError("the worker's answer is not valid JSON") from None
    blob_size = int.from_bytes(data[8 + size:16 + size], "big")
    blob = data[16 + size:16 + size + blob_size]
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
            names = sorted(archive.files, key=lambda n: int(n.split("_")[-1]))
            if len(names) > MAX_OBJECTS * 8:
                raise EvidenceError("the answer holds too many arrays")
            arrays = []
            total = 0
            for name in names:
                a = archive[name]
                total += a.size
                if total > MAX_ARRAY_ELEMENTS:
                    raise EvidenceError("the answer holds more numbers than the grader accepts")
                arrays.append(a)
    except EvidenceError:
        raise
    except Exception:  # noqa: BLE001 - anything that is not a plain npz archive
        raise EvidenceError("the worker's answer holds data that is not plain arrays") from None
    return document, arrays
