"""The lesson 08 grader, tested: wrong submissions lose the right points with the right feedback, and correct
answers written differently get full marks."""

from __future__ import annotations

import keras
import numpy as np

from grader_tests.graderkit import Wrong, self_tests
from grading import test_lesson08 as grader

L = keras.layers


# ------------------------------------------------------------------ SubclassedMLP: wrong answers


class MLPWithoutConfig(keras.Model):
    """The layers and the forward pass of a subclassed MLP, and no get_config."""

    hidden_activation, output_activation = "relu", "softmax"

    def __init__(self, units, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.units, self.num_classes = units, num_classes
        self.hidden_1 = L.Dense(units, activation=self.hidden_activation)
        self.hidden_2 = L.Dense(units, activation=self.hidden_activation)
        self.digit = L.Dense(num_classes, activation=self.output_activation)

    def call(self, inputs):
        return self.digit(self.hidden_2(self.hidden_1(inputs)))


class MLP(MLPWithoutConfig):
    """A subclassed MLP with one thing changed by its subclasses below (as it stands, a correct answer)."""

    def get_config(self):
        return {**super().get_config(), "units": self.units, "num_classes": self.num_classes}


class TanhMLP(MLP):
    hidden_activation = "tanh"


class LogitsMLP(MLP):
    output_activation = None


class OneHiddenLayerMLP(MLP):
    def call(self, inputs):
        return self.digit(self.hidden_1(inputs))

    def __init__(self, units, num_classes, **kwargs):
        keras.Model.__init__(self, **kwargs)
        self.units, self.num_classes = units, num_classes
        self.hidden_1 = L.Dense(units, activation="relu")
        self.digit = L.Dense(num_classes, activation="softmax")


class OutputLayerFirstMLP(MLP):
    """Right computation, but the output layer is created first: the weights come in another order."""

    def __init__(self, units, num_classes, **kwargs):
        keras.Model.__init__(self, **kwargs)
        self.units, self.num_classes = units, num_classes
        self.digit = L.Dense(num_classes, activation="softmax")
        self.hidden_1 = L.Dense(units, activation="relu")
        self.hidden_2 = L.Dense(units, activation="relu")


class TenClassesMLP(MLP):
    def __init__(self, units, num_classes, **kwargs):
        super().__init__(units, 10, **kwargs)
        self.num_classes = num_classes


class FrozenHiddenLayerMLP(MLP):
    def __init__(self, units, num_classes, **kwargs):
        super().__init__(units, num_classes, **kwargs)
        self.hidden_1.trainable = False


class NumPyInCallMLP(MLP):
    def call(self, inputs):
        hidden = np.maximum(np.asarray(self.hidden_1(inputs)), 0.0)  # NumPy: fine on data, not on a keras.Input
        return self.digit(self.hidden_2(hidden))


class ConfigWithoutClassesMLP(MLPWithoutConfig):
    def get_config(self):
        return {**super().get_config(), "units": self.units}


class SequentialMLP(keras.Sequential):
    def __init__(self, units, num_classes, **kwargs):
        super().__init__([L.Dense(units, activation="relu"), L.Dense(units, activation="relu"),
                          L.Dense(num_classes, activation="softmax")], **kwargs)


class FunctionalSubclassMLP(keras.Model):
    """The functional style inside a class: the graph is built in __init__ (for 7 input features)."""

    def __init__(self, units, num_classes, **kwargs):
        inputs = keras.Input((7,))
        hidden = L.Dense(units, activation="relu")(L.Dense(units, activation="relu")(inputs))
        super().__init__(inputs, L.Dense(num_classes, activation="softmax")(hidden), **kwargs)


class LayerNotModel(L.Layer):
    def __init__(self, units, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.dense = L.Dense(num_classes, activation="softmax")

    def call(self, inputs):
        return self.dense(inputs)


class StubMLP(keras.Model):
    def __init__(self, units, num_classes, **kwargs):
        raise NotImplementedError

    def call(self, inputs):
        raise NotImplementedError

    def get_config(self):
        raise NotImplementedError


class EngineMLP(MLP):
    """A right model whose code reaches for the grading engine: it earns nothing, and the teacher is told."""

    def get_config(self):
        if "gradekit.probes" in __import__("sys").modules:
            pass
        return super().get_config()


# ------------------------------------------------------------------ SubclassedMLP: right, written differently


class RawWeightsMLP(keras.Model):
    """No Dense layers: the weights are made with add_weight in build(), the forward pass with keras.ops."""

    def __init__(self, units=32, num_classes=10, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.units, self.num_classes = units, num_classes

    def build(self, input_shape):
        sizes = [int(input_shape[-1]), self.units, self.units, self.num_classes]
        self.params = []
        for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
            self.params.append(self.add_weight(shape=(n_in, n_out), initializer="glorot_uniform", name=f"w{i}"))
            self.params.append(self.add_weight(shape=(n_out,), initializer="zeros", name=f"b{i}"))

    def call(self, x):
        w1, b1, w2, b2, w3, b3 = self.params
        x = keras.ops.relu(keras.ops.matmul(x, w1) + b1)
        x = keras.ops.relu(keras.ops.matmul(x, w2) + b2)
        return keras.ops.softmax(keras.ops.matmul(x, w3) + b3, axis=-1)

    def get_config(self):
        return super().get_config() | {"num_classes": self.num_classes, "units": self.units}


class LayerListMLP(keras.Model):
    """The layers in a list, linear Dense layers with the activations applied in call()."""

    def __init__(self, units, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.width, self.classes = units, num_classes
        self.stack = [L.Dense(units, name="one"), L.Dense(units, name="two"), L.Dense(num_classes, name="out")]
        self.softmax = L.Softmax()

    def call(self, inputs, training=False):
        x = inputs
        for layer in self.stack[:-1]:
            x = keras.ops.maximum(layer(x), 0.0)
        return self.softmax(self.stack[-1](x))

    def get_config(self):
        config = super().get_config()
        config.update(units=self.width, num_classes=self.classes)
        return config


# ------------------------------------------------------------------ build_ensemble


def ensemble(members_used=None, merge="average", copy=False, own_inputs=False, input_name="inputs",
             output_name="average", fixed_name=None, retrain=False, freeze=False, twice=False):
    """A family of ensemble builders, right or wrong depending on the arguments."""

    def build(models, name="ensemble"):
        chosen = list(models) if members_used is None else members_used(list(models))
        if twice:
            chosen = [chosen[0]] + chosen
        if copy:
            chosen = [keras.models.clone_model(m) for m in chosen]
        for model in chosen:
            if retrain:
                x = np.ones((4,) + tuple(model.input_shape[1:]), "float32")
                model.compile(optimizer="sgd", loss="mse")
                model.fit(x, np.zeros((4,) + tuple(model.output_shape[1:])), epochs=1, verbose=0)
            if freeze:
                model.trainable = False
        if own_inputs:
            inputs = [keras.Input(m.input_shape[1:], name=f"inputs_{i}") for i, m in enumerate(chosen)]
            outputs = [m(t) for m, t in zip(chosen, inputs)]
        else:
            inputs = keras.Input(models[0].input_shape[1:], name=input_name)
            outputs = [m(inputs) for m in chosen]
        if merge == "average":
            merged = L.average(outputs, name=output_name)
        elif merge == "add":
            merged = L.add(outputs, name=output_name)
        elif merge == "maximum":
            merged = L.maximum(outputs, name=output_name)
        else:  # a Dense layer over the concatenated predictions: learnt weights, not an average
            merged = L.Dense(outputs[0].shape[-1], activation="softmax", name=output_name)(L.concatenate(outputs))
        return keras.Model(inputs, merged, name=fixed_name or name)

    return build


def ensemble_stub(models, name="ensemble"):
    raise NotImplementedError


def ensemble_with_average_layer(models, name="ensemble"):
    """layers.Input, the members called in reverse order in a loop, and Average() as a layer object."""
    x = keras.layers.Input(shape=tuple(models[0].inputs[0].shape[1:]), dtype="float32", name="inputs")
    predictions = []
    for member in reversed(models):
        predictions.append(member(x))
    return keras.Model(inputs=x, outputs=keras.layers.Average(name="average")(predictions), name=name)


def ensemble_with_dict_io(models, name="ensemble"):
    """Batch shape given in full, outputs as a dict keyed by the output's name."""
    inputs = keras.Input(batch_shape=(None, *models[0].input_shape[1:]), name="inputs")
    average = keras.layers.average([member(inputs) for member in models], name="average")
    return keras.Model(inputs=inputs, outputs={"average": average}, name=name)


WRONG = {
    "SubclassedMLP": [
        Wrong("tanh-hidden", {"SubclassedMLP": TanhMLP},
              {"test_subclassed_mlp_same_predictions": "tanh instead of relu",
               "test_subclassed_mlp_inside_a_functional_model": "tanh instead of relu"}),
        Wrong("no-softmax", {"SubclassedMLP": LogitsMLP},
              {"test_subclassed_mlp_same_predictions": "the logits, without the softmax"}),
        Wrong("one-hidden-layer", {"SubclassedMLP": OneHiddenLayerMLP},
              {"test_subclassed_mlp_parameter_count": r"has \d+ parameters; the functional MLP .* has \d+",
               "test_subclassed_mlp_weight_order": r"has weights of shapes \(\d+, \d+\), \(\d+,\), \(\d+, \d+\), "
                                                   r"\(\d+,\);",
               "test_subclassed_mlp_same_predictions": "set_weights, then predicting, failed"}),
        Wrong("output-layer-created-first", {"SubclassedMLP": OutputLayerFirstMLP},
              {"test_subclassed_mlp_weight_order": r"in the order \(\d+, \d+\), \(\d+,\), \(\d+, \d+\).* "
                                                   "create hidden_1, hidden_2 and the output layer in that order",
               "test_subclassed_mlp_same_predictions": "set_weights, then predicting, failed",
               "test_subclassed_mlp_save_load": "with set_weights, before saving it, failed"}),
        Wrong("ten-classes-hard-coded", {"SubclassedMLP": TenClassesMLP},
              {"test_subclassed_mlp_output_shape": r"returns shape \(2, 10\); it should return \(2, \d+\)",
               "test_subclassed_mlp_parameter_count": r"has \d+ parameters"}),
        Wrong("frozen-hidden-layer", {"SubclassedMLP": FrozenHiddenLayerMLP},
              {"test_subclassed_mlp_weight_order": "only 4 of the 6 weights"}),
        Wrong("numpy-in-call", {"SubclassedMLP": NumPyInCallMLP},
              {"test_subclassed_mlp_inside_a_functional_model": "failed: it raised .*keras.ops"}),
        Wrong("no-get-config", {"SubclassedMLP": MLPWithoutConfig},
              {"test_subclassed_mlp_config": "defines no get_config",
               "test_subclassed_mlp_save_load": "failed: SubclassedMLP defines no get_config"}),
        Wrong("config-without-num-classes", {"SubclassedMLP": ConfigWithoutClassesMLP},
              {"test_subclassed_mlp_config": "lacks num_classes",
               "test_subclassed_mlp_save_load": "failed"}),
        Wrong("reaches-the-engine", {"SubclassedMLP": EngineMLP},
              dict.fromkeys(("test_subclassed_mlp_output_shape", "test_subclassed_mlp_same_predictions",
                             "test_subclassed_mlp_config"), r"earns no points: its code .*sys.modules")),
        Wrong("sequential-subclass", {"SubclassedMLP": SequentialMLP},
              {"test_subclassed_mlp_is_a_model_subclass": "subclasses keras.Sequential"}),
        Wrong("functional-subclass", {"SubclassedMLP": FunctionalSubclassMLP},
              {"test_subclassed_mlp_is_a_model_subclass": "is a functional model"}),
        Wrong("layer-not-model", {"SubclassedMLP": LayerNotModel},
              {"test_subclassed_mlp_is_a_model_subclass": "subclass of keras.layers.Layer, not of keras.Model",
               "test_subclassed_mlp_config": "subclasses keras.Model"}),
        Wrong("function-not-class", {"SubclassedMLP": lambda units, num_classes: None},
              {"test_subclassed_mlp_is_a_model_subclass": "must be a class that subclasses keras.Model"}),
        Wrong("not-implemented", {"SubclassedMLP": StubMLP},
              dict.fromkeys(("test_subclassed_mlp_is_a_model_subclass", "test_subclassed_mlp_output_shape",
                             "test_subclassed_mlp_parameter_count", "test_subclassed_mlp_weight_order",
                             "test_subclassed_mlp_same_predictions", "test_subclassed_mlp_inside_a_functional_model",
                             "test_subclassed_mlp_config", "test_subclassed_mlp_save_load"), "not implemented yet")),
    ],
    "build_ensemble": [
        Wrong("members-cloned", {"build_ensemble": ensemble(copy=True)},
              {"test_ensemble_members_are_the_given_models": "a model with weights of its own",
               "test_ensemble_calls_every_member_once": "is not called in the ensemble",
               "test_ensemble_predictions": "not the mean"}),
        Wrong("two-members-hard-coded", {"build_ensemble": ensemble(members_used=lambda m: m[:2])},
              {"test_ensemble_calls_every_member_once": "'member_c' is not called in the ensemble of 3",
               "test_ensemble_members_are_the_given_models": "'member_c' is not part of the ensemble",
               "test_ensemble_averages": r"with 3 members, the Average layer receives 'member_a' \(Sequential\), "
                                         r"'member_b' \(Functional\);",
               "test_ensemble_predictions": "with 3 members, .* the mean of all members but the last"}),
        Wrong("first-member-twice", {"build_ensemble": ensemble(twice=True)},
              {"test_ensemble_calls_every_member_once": "'member_a' is called 2 times",
               "test_ensemble_averages": "with 2 members, the Average layer receives"}),
        Wrong("sum", {"build_ensemble": ensemble(merge="add")},
              {"test_ensemble_averages": r"made by 'average' \(Add\)",
               "test_ensemble_predictions": "the sum of the members' predictions"}),
        Wrong("maximum", {"build_ensemble": ensemble(merge="maximum")},
              {"test_ensemble_averages": r"\(Maximum\), not by an Average layer",
               "test_ensemble_predictions": "the largest of the members' predictions"}),
        Wrong("dense-over-concatenation", {"build_ensemble": ensemble(merge="dense")},
              {"test_ensemble_averages": r"\(Dense\), not by an Average layer",
               "test_ensemble_predictions": "something else"}),
        Wrong("an-input-per-member", {"build_ensemble": ensemble(own_inputs=True)},
              {"test_ensemble_input": "should have 1 input", "test_ensemble_calls_every_member_once": "has 2 inputs"}),
        Wrong("input-misnamed", {"build_ensemble": ensemble(input_name="pixels")},
              {"test_ensemble_input": "no input named 'inputs'"}),
        Wrong("output-misnamed", {"build_ensemble": ensemble(output_name="mean")},
              {"test_ensemble_output": "no output named 'average'"}),
        Wrong("name-ignored", {"build_ensemble": ensemble(fixed_name="my_ensemble")},
              {"test_ensemble_name": "with no name returns a model named 'my_ensemble'"}),
        Wrong("members-retrained", {"build_ensemble": ensemble(retrain=True)},
              {"test_ensemble_leaves_members_unchanged": "changed the weights of the given model 'member_a'"}),
        Wrong("members-frozen", {"build_ensemble": ensemble(freeze=True)},
              {"test_ensemble_leaves_members_unchanged": "froze the given model 'member_a'"}),
        Wrong("not-implemented", {"build_ensemble": ensemble_stub},
              {"test_ensemble_input": "not implemented yet", "test_ensemble_predictions": "not implemented yet"}),
    ],
}

RIGHT = {
    "SubclassedMLP": [{"SubclassedMLP": MLP}, {"SubclassedMLP": RawWeightsMLP}, {"SubclassedMLP": LayerListMLP}],
    "build_ensemble": [{"build_ensemble": ensemble()}, {"build_ensemble": ensemble_with_average_layer},
                       {"build_ensemble": ensemble_with_dict_io}],
}


test_wrong_submission_loses_points, test_correct_variant_gets_full_marks, test_every_check_can_fail = \
    self_tests(grader, "lesson08", WRONG, RIGHT)
