"""The lesson 10 grader, tested: wrong car models and compile functions lose the right points with the right
feedback, and correct ones written differently get full marks."""

from __future__ import annotations

import keras
import numpy as np

from grader_tests.graderkit import Wrong, self_tests
from grading import test_lesson10 as grader

L = keras.layers
KINDS, HEADS = ("table", "review", "photo"), ("price", "grade")


# ------------------------------------------------------------------ build_car_model


def car(adapt_to=None, one_hot="one_hot", embedding_first=True, scale=1 / 255, strides=2, shared_units=32,
        price_act=None, grade_act="softmax", compiled=False, frozen=False, ignore_inputs=False, ignore_heads=False,
        drop_make=False, fixed_shapes=False, separate_shared=False, review_dense=False, name_shared="shared",
        nested=False):
    """A car-model builder with one thing changed (the defaults give the correct model); ``nested``: the review and
    photo branches written as nested Sequential models (a correct way to write them)."""

    def chain(steps, tensor, name):
        if nested:
            return keras.Sequential(steps, name=name)(tensor)
        for step in steps:
            tensor = step(tensor)
        return tensor

    def build_car_model(x_train, makes, words, grades=3, inputs=KINDS, heads=HEADS, name="cars"):
        inputs = KINDS if ignore_inputs else inputs
        heads = HEADS if ignore_heads else heads
        ins, branches = {}, []
        if "table" in inputs:
            ins["make"] = keras.Input((1,), dtype="int32", name="make")
            ins["age"] = keras.Input((1,), name="age")
            ins["mileage"] = keras.Input((1,), name="mileage")
            parts = [] if drop_make else [L.CategoryEncoding(makes, output_mode=one_hot)(ins["make"])]
            for feature in ("age", "mileage"):
                norm = L.Normalization()
                norm.adapt(x_train[(adapt_to or {}).get(feature, feature)])
                parts.append(norm(ins[feature]))
            branches.append(L.Dense(16, activation="relu", trainable=not frozen)(L.concatenate(parts)))
        if "review" in inputs:
            length = (7,) if fixed_shapes else x_train["review"].shape[1:]
            ins["review"] = keras.Input(length, dtype="int32", name="review")
            steps = [L.Embedding(words, 16) if embedding_first else L.Embedding(16, words),
                     L.Dense(32, activation="relu") if review_dense else L.Conv1D(32, 3, activation="relu"),
                     L.GlobalMaxPooling1D()]
            branches.append(chain(steps, ins["review"], "review_branch"))
        if "photo" in inputs:
            ins["photo"] = keras.Input(x_train["photo"].shape[1:], name="photo")
            steps = [L.Rescaling(scale), L.Conv2D(8, 3, strides=strides, activation="relu"),
                     L.Conv2D(16, 3, strides=strides, activation="relu"), L.Flatten(),
                     L.Dense(16, activation="relu")]
            branches.append(chain(steps, ins["photo"], "photo_branch"))
        merged = L.concatenate(branches) if len(branches) > 1 else branches[0]
        shared = L.Dense(shared_units, activation="relu", name=name_shared, trainable=not frozen)(merged)
        outputs = {}
        if "price" in heads:
            outputs["price"] = L.Dense(1, activation=price_act, name="price")(shared)
        if "grade" in heads:
            reads = L.Dense(32, activation="relu", name="grade_own")(merged) if separate_shared else shared
            outputs["grade"] = L.Dense(grades, activation=grade_act, name="grade", trainable=not frozen)(reads)
        model = keras.Model(ins, outputs, name=name)
        if compiled:
            model.compile("adam", loss=dict.fromkeys(outputs, "mse"))
        if frozen:
            for layer in model.layers:
                layer.trainable = False
        return model

    return build_car_model


def car_written_differently(x_train, makes, words, grades=3, inputs=KINDS, heads=HEADS, name="cars"):
    """Right: activation layers and keras.ops instead of activation=, a Dropout, Normalization given its mean and
    variance, lists instead of dicts, branches built in another order, the heads in another order."""
    model_inputs, branches = [], []
    if "photo" in inputs:
        photo = L.Input(shape=tuple(x_train["photo"].shape[1:]), name="photo")
        x = L.Rescaling(scale=1.0 / 255.0, offset=0.0)(photo)
        x = L.ReLU()(L.Conv2D(filters=8, kernel_size=(3, 3), strides=(2, 2))(x))
        x = L.Activation("relu")(L.Conv2D(16, (3, 3), strides=2, padding="valid")(x))
        branches.append(keras.ops.relu(L.Dense(16)(L.Flatten()(x))))
        model_inputs.append(photo)
    if "review" in inputs:
        review = L.Input(shape=(x_train["review"].shape[1],), dtype="int32", name="review")
        x = L.Conv1D(32, kernel_size=3, activation=keras.activations.relu)(L.Embedding(input_dim=words,
                                                                                        output_dim=16)(review))
        branches.append(L.GlobalMaxPool1D()(x))
        model_inputs.append(review)
    if "table" in inputs:
        make = L.Input(shape=(1,), dtype="int32", name="make")
        age = L.Input(shape=(1,), name="age")
        mileage = L.Input(shape=(1,), name="mileage")
        age_n = L.Normalization(mean=float(np.mean(x_train["age"])), variance=float(np.var(x_train["age"])))(age)
        mileage_norm = L.Normalization(axis=-1)
        mileage_norm.adapt(x_train["mileage"])
        table = L.Concatenate()([age_n, mileage_norm(mileage), L.CategoryEncoding(num_tokens=makes)(make)])
        branches.insert(0, L.Dense(16, activation="relu")(table))
        model_inputs += [make, age, mileage]
    merged = L.Concatenate()(branches) if len(branches) > 1 else branches[0]
    shared = L.Dropout(0.1)(L.Dense(32, activation="relu", name="shared")(merged))
    outputs = []
    if "grade" in heads:
        outputs.append(L.Softmax(name="grade")(L.Dense(grades)(shared)))
    if "price" in heads:
        outputs.append(L.Dense(units=1, activation="linear", name="price")(shared))
    return keras.Model(inputs=model_inputs, outputs=outputs, name=name)


# ------------------------------------------------------------------ compile_car_model


def compile_with(loss=None, weights=None, metrics=None, optimizer=None, only_own_heads=True, returns="model"):
    """A compile function with one thing changed (the defaults give a correct one)."""

    def compile_car_model(model, loss_weights, optimizer_arg="adam"):
        names = [n for n in ("price", "grade") if n in model.output_names] if only_own_heads else ["price", "grade"]
        losses = loss or {"price": "mse", "grade": "sparse_categorical_crossentropy"}
        given = weights or loss_weights
        wanted = metrics or {"price": ["mae"], "grade": ["accuracy"]}
        model.compile(optimizer=optimizer or optimizer_arg, loss={n: losses[n] for n in names},
                      loss_weights={n: given[n] for n in names}, metrics={n: wanted[n] for n in names})
        if returns == "copy":
            copy = keras.models.clone_model(model)
            copy.compile(optimizer="adam", loss="mse")
            return copy
        return model if returns == "model" else None

    return compile_car_model


def compile_as_lists(model, loss_weights, optimizer="adam"):
    """Wrong: lists in a fixed order (price, grade), whatever the order of model.outputs."""
    model.compile(optimizer=optimizer, loss=["mse", "sparse_categorical_crossentropy"],
                  loss_weights=[loss_weights["price"], loss_weights["grade"]], metrics=[["mae"], ["accuracy"]])
    return model


def compile_written_differently(model, loss_weights, optimizer="adam"):
    """Right: lists in the order of model.outputs, loss and metric objects, optimizer by keyword."""
    losses = {"price": keras.losses.MeanSquaredError(), "grade": keras.losses.SparseCategoricalCrossentropy()}
    metrics = {"price": keras.metrics.MeanAbsoluteError(), "grade": keras.metrics.SparseCategoricalAccuracy()}
    names = list(model.output_names)
    model.compile(loss=[losses[n] for n in names], loss_weights=[loss_weights[n] for n in names],
                  metrics=[[metrics[n]] for n in names], optimizer=optimizer)
    return model


CORRECT_COMPILE = compile_with()


def compile_fast_default(model, loss_weights, optimizer=None):
    """Wrong: without an optimizer argument, Adam with a learning rate of its own, not optimizer='adam'."""
    return CORRECT_COMPILE(model, loss_weights, optimizer or keras.optimizers.Adam(learning_rate=0.05))

WRONG = {
    "build_car_model": [
        Wrong("price-with-relu", {"build_car_model": car(price_act="relu")},
              {"test_car_heads": "'price' head should be Dense.1. with no activation; found Dense.1, relu."}),
        Wrong("grade-with-sigmoid", {"build_car_model": car(grade_act="sigmoid")},
              {"test_car_heads": r"'grade' head should be Dense\(3, softmax\); found Dense\(3, sigmoid\)"}),
        Wrong("age-adapted-to-mileage", {"build_car_model": car(adapt_to={"age": "mileage"})},
              {"test_car_normalizes_the_numbers": "Normalization of 'age' should hold the mean and variance"}),
        Wrong("make-as-counts", {"build_car_model": car(one_hot="count")},
              {"test_car_table_branch": r"CategoryEncoding\(4, output_mode='one_hot'\).*found CategoryEncoding\(4, "
                                        "output_mode='count'\\)"}),
        Wrong("make-left-out", {"build_car_model": car(drop_make=True)},
              {"test_car_table_branch": "'make' input should go through",
               "test_car_outputs_depend_on_every_input": "does not change when the 'make' input does"}),
        Wrong("embedding-swapped", {"build_car_model": car(embedding_first=False)},
              {"test_car_review_branch": r"found Embedding\(16, 9\)"}),
        Wrong("review-dense-not-conv", {"build_car_model": car(review_dense=True)},
              {"test_car_review_branch": r"Conv1D\(32, 3, relu\).*found Embedding\(9, 16\), Dense\(32, relu\)"}),
        Wrong("pixels-not-scaled", {"build_car_model": car(scale=1.0)},
              {"test_car_photo_branch": r"found Rescaling\(1, offset=0\)"}),
        Wrong("nested-branches-no-strides", {"build_car_model": car(nested=True, strides=1)},
              {"test_car_photo_branch": r"found Rescaling\(1/255\), Conv2D\(8, 3, relu\)"}),
        Wrong("nested-branches-review-dense", {"build_car_model": car(nested=True, review_dense=True)},
              {"test_car_review_branch": r"found Embedding\(9, 16\), Dense\(32, relu\)"}),
        Wrong("no-strides", {"build_car_model": car(strides=1)},
              {"test_car_photo_branch": r"found Rescaling\(1/255\), Conv2D\(8, 3, relu\)"}),
        Wrong("narrow-shared", {"build_car_model": car(shared_units=16)},
              {"test_car_merge": r"Dense\(32, relu\) named 'shared'; it is Dense\(16, relu\)"}),
        Wrong("grade-has-its-own-layer", {"build_car_model": car(separate_shared=True)},
              {"test_car_merge": "both heads should read one and the same"}),
        Wrong("shared-unnamed", {"build_car_model": car(name_shared="dense_shared")},
              {"test_car_merge": "named 'dense_shared'",
               "test_car_inputs_of_the_named_kinds_only": "should still read the Dense.32, relu. named 'shared'"}),
        Wrong("ignores-inputs", {"build_car_model": car(ignore_inputs=True)},
              {"test_car_inputs_of_the_named_kinds_only": r"with inputs=\('review', 'photo'\).*2 input"}),
        Wrong("ignores-heads", {"build_car_model": car(ignore_heads=True)},
              {"test_car_heads_of_the_named_kinds_only": r"with heads=\('price',\).*1 output"}),
        Wrong("hard-coded-review-length", {"build_car_model": car(fixed_shapes=True)},
              {"test_car_inputs": r"input 'review' should have shape \(None, 5\)"}),
        Wrong("compiled", {"build_car_model": car(compiled=True)},
              {"test_car_uncompiled_and_named": "returned uncompiled"}),
        Wrong("frozen", {"build_car_model": car(frozen=True)}, {"test_car_learns": "took the loss"}),
    ],
    "compile_car_model": [
        Wrong("lists-in-a-fixed-order", {"compile_car_model": compile_as_lists},
              {"test_compile_losses": "'price' should be trained with mean squared error.*it gets "
                                      "sparse_categorical_crossentropy",
               "test_compile_weights": "got the weights"}),
        Wrong("one-hot-loss", {"compile_car_model": compile_with(
            loss={"price": "mse", "grade": "categorical_crossentropy"})},
              {"test_compile_losses": "'grade' should be trained with sparse categorical cross-entropy.*it gets "
                                      "categorical_crossentropy"}),
        Wrong("grade-from-logits", {"compile_car_model": compile_with(
            loss={"price": "mse", "grade": keras.losses.SparseCategoricalCrossentropy(from_logits=True)})},
              {"test_compile_losses": "'grade' computes .*configured with from_logits=True; leave that setting "
                                      "at what sparse categorical cross-entropy.*uses \\(from_logits=False\\)"}),
        Wrong("price-summed", {"compile_car_model": compile_with(
            loss={"price": keras.losses.MeanSquaredError(reduction="sum"),
                  "grade": "sparse_categorical_crossentropy"})},
              {"test_compile_losses": "'price' computes .*configured with reduction='sum'"}),
        Wrong("default-optimizer-with-its-own-learning-rate", {"compile_car_model": compile_fast_default},
              {"test_compile_optimizer": "Adam with learning_rate=0.05.*optimizer='adam'"}),
        Wrong("weights-hard-coded", {"compile_car_model": compile_with(weights={"price": 0.02, "grade": 1.0})},
              {"test_compile_weights": r"loss_weights=\{'price': 3.0"}),
        Wrong("every-head-for-every-model", {"compile_car_model": compile_with(only_own_heads=False)},
              {"test_compile_a_model_with_one_head": "cannot match|only the 'price' head"}),
        Wrong("price-metric-mse", {"compile_car_model": compile_with(
            metrics={"price": ["mse"], "grade": ["accuracy"]})},
              {"test_compile_metrics": "'price' output should report 'mae'"}),
        Wrong("grade-top-5-accuracy", {"compile_car_model": compile_with(
            metrics={"price": ["mae"], "grade": ["sparse_top_k_categorical_accuracy"]})},
              {"test_compile_metrics": "'grade' output should report 'accuracy'"}),
        Wrong("ignores-the-optimizer", {"compile_car_model": compile_with(optimizer="sgd")},
              {"test_compile_optimizer": "uses SGD"}),
        Wrong("returns-nothing", {"compile_car_model": compile_with(returns="none")},
              {"test_compile_losses": "forget to return"}),
        Wrong("compiles-a-copy", {"compile_car_model": compile_with(returns="copy")},
              {"test_compile_weights": "another model"}),
    ],
}

RIGHT = {
    "build_car_model": [{"build_car_model": car()}, {"build_car_model": car_written_differently},
                        {"build_car_model": car(nested=True)}],
    "compile_car_model": [{"compile_car_model": CORRECT_COMPILE},
                          {"compile_car_model": compile_written_differently}],
}


test_wrong_submission_loses_points, test_correct_variant_gets_full_marks, test_every_check_can_fail = \
    self_tests(grader, "lesson10", WRONG, RIGHT)
