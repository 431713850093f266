"""The lesson 02 grader, tested: wrong question-answering and headline models lose the right points with the right
feedback, and correct ones written differently get full marks."""

from __future__ import annotations

import keras

from grader_tests.graderkit import Wrong, self_tests
from grading import test_lesson02 as grader

L = keras.layers


# ------------------------------------------------------------------ build_qa_model


def qa(swap=False, mask=True, out_act="softmax", hidden=0, fixed=False, dtype="int32", question=True,
       trainable=True, share=False, compiled=False, text_twice=False):
    """A QA builder with one thing changed (the defaults give the correct model). ``share``: True shares both
    layers, "embedding" only the Embedding."""

    def build_qa_model(text_vocabulary_size=10000, question_vocabulary_size=10000, answer_vocabulary_size=500,
                       text_embedding_dim=64, question_embedding_dim=32, text_units=32, question_units=16):
        if fixed:
            text_vocabulary_size, question_vocabulary_size, answer_vocabulary_size = 10000, 10000, 500
            text_embedding_dim, question_embedding_dim, text_units, question_units = 64, 32, 32, 16
        text = keras.Input((None,), dtype=dtype, name="text")
        embed = (L.Embedding(text_embedding_dim, text_vocabulary_size, mask_zero=mask, trainable=trainable) if swap
                 else L.Embedding(text_vocabulary_size, text_embedding_dim, mask_zero=mask, trainable=trainable))
        lstm = L.LSTM(text_units, trainable=trainable)
        branches, inputs = [lstm(embed(text))], [text]
        if question:
            q = keras.Input((None,), dtype=dtype, name="question")
            q_embed = embed if share else L.Embedding(question_vocabulary_size, question_embedding_dim,
                                                      mask_zero=mask, trainable=trainable)
            q_lstm = lstm if share is True else L.LSTM(question_units, trainable=trainable)
            branches.append(q_lstm(q_embed(q)))
            inputs.append(q)
        if text_twice:
            branches.append(branches[0])
        x = L.concatenate(branches) if len(branches) > 1 else branches[0]
        if hidden:
            x = L.Dense(hidden, activation="relu")(x)
        answer = L.Dense(answer_vocabulary_size, activation=out_act, name="answer", trainable=trainable)(x)
        model = keras.Model(inputs, answer)
        if compiled:
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return model

    return build_qa_model


def qa_written_differently(text_vocabulary_size=10000, question_vocabulary_size=10000, answer_vocabulary_size=500,
                           text_embedding_dim=64, question_embedding_dim=32, text_units=32, question_units=16):
    question_words = L.Input(shape=(None,), dtype="int32", name="question")  # question first
    story_words = L.Input(shape=(None,), dtype="int32", name="text")
    q = L.LSTM(units=question_units)(L.Embedding(input_dim=question_vocabulary_size,
                                                 output_dim=question_embedding_dim, mask_zero=True)(question_words))
    t = L.LSTM(units=text_units)(L.Embedding(input_dim=text_vocabulary_size, output_dim=text_embedding_dim,
                                             mask_zero=True)(story_words))
    merged = L.Dropout(0.1)(L.Concatenate(axis=-1)([t, q]))
    logits = L.Dense(answer_vocabulary_size)(merged)
    return keras.Model(inputs={"question": question_words, "text": story_words},
                       outputs=L.Activation("softmax", name="answer")(logits))


def qa_question_first(text_vocabulary_size=10000, question_vocabulary_size=10000, answer_vocabulary_size=500,
                      text_embedding_dim=64, question_embedding_dim=32, text_units=32, question_units=16):
    def branch(name, vocabulary, dim, units):
        words = keras.Input((None,), dtype="int32", name=name)
        return words, L.LSTM(units)(L.Embedding(vocabulary, dim, mask_zero=True)(words))

    text, encoded_text = branch("text", text_vocabulary_size, text_embedding_dim, text_units)
    question, encoded_question = branch("question", question_vocabulary_size, question_embedding_dim, question_units)
    merged = L.Concatenate(axis=1)([encoded_question, encoded_text])  # the docstring states no order
    answer = L.Softmax(name="answer")(L.Dense(answer_vocabulary_size, activation=None)(merged))
    return keras.Model(inputs=[question, text], outputs=answer)


# ------------------------------------------------------------------ build_headline_model


def headline(aux_from="lstm", n_dense=3, aux_concat=True, losses="dict", weights=(1.0, 0.2), swap=False,
             aux_act="sigmoid", fixed=False, compiled=True, trainable=True, aux_dtype="float32", lstm_units=32,
             then=None, lstm_twice=False):
    """A headline builder with one thing changed (the defaults give the correct model). ``aux_from``: "lstm",
    "dense" (the first hidden Dense) or "dropout" (the LSTM through a Dropout); ``then``: an activation layer
    added after the first hidden Dense."""

    def build_headline_model(vocabulary_size=10000, sequence_length=100, embedding_dim=512):
        if fixed:
            vocabulary_size, sequence_length, embedding_dim = 10000, 100, 512
        main_input = keras.Input((sequence_length,), dtype="int32", name="main_input")
        embed = L.Embedding(embedding_dim, vocabulary_size) if swap else L.Embedding(vocabulary_size, embedding_dim)
        lstm_out = L.LSTM(lstm_units, trainable=trainable)(embed(main_input))
        aux_input = keras.Input((5,), dtype=aux_dtype, name="aux_input")
        merged = [lstm_out, aux_input] + ([lstm_out] if lstm_twice else [])
        x = L.concatenate(merged) if aux_concat else lstm_out
        first = None
        for _ in range(n_dense):
            x = L.Dense(64, activation="relu", trainable=trainable)(x)
            if then and first is None:
                x = L.Activation(then)(x)
            first = first if first is not None else x
        if not aux_concat:
            x = L.concatenate([x, aux_input])
        main_output = L.Dense(1, activation="sigmoid", name="main_output", trainable=trainable)(x)
        tap = {"lstm": lstm_out, "dense": first, "dropout": L.Dropout(0.5)(lstm_out)}[aux_from]
        aux_output = L.Dense(1, activation=aux_act, name="aux_output", trainable=trainable)(tap)
        model = keras.Model([main_input, aux_input], [main_output, aux_output])
        if not compiled:
            return model
        main_w, aux_w = weights
        if losses == "dict":
            model.compile(optimizer="rmsprop", loss={"main_output": "binary_crossentropy",
                                                     "aux_output": "binary_crossentropy"},
                          loss_weights={"main_output": main_w, "aux_output": aux_w})
        elif losses == "single-with-list":
            model.compile(optimizer="rmsprop", loss="binary_crossentropy", loss_weights=[main_w, aux_w])
        elif losses == "list-with-dict":
            model.compile(optimizer="rmsprop", loss=["binary_crossentropy", "binary_crossentropy"],
                          loss_weights={"main_output": main_w, "aux_output": aux_w})
        elif losses == "adam":
            model.compile(optimizer="adam", loss=["binary_crossentropy"] * 2, loss_weights=[main_w, aux_w])
        elif losses == "from-logits":
            model.compile(optimizer="rmsprop", loss={"main_output": keras.losses.BinaryCrossentropy(from_logits=True),
                                                     "aux_output": "binary_crossentropy"},
                          loss_weights={"main_output": main_w, "aux_output": aux_w})
        elif losses in ("label-smoothing", "sum", "rmsprop-lr"):  # the right kinds, configured otherwise
            loss = {"label-smoothing": keras.losses.BinaryCrossentropy(label_smoothing=0.2),
                    "sum": keras.losses.BinaryCrossentropy(reduction="sum")}.get(losses, "binary_crossentropy")
            optimizer = keras.optimizers.RMSprop(learning_rate=0.1) if losses == "rmsprop-lr" else "rmsprop"
            model.compile(optimizer=optimizer, loss={"main_output": "binary_crossentropy", "aux_output": loss},
                          loss_weights={"main_output": main_w, "aux_output": aux_w})
        elif losses == "mse-aux":
            model.compile(optimizer="rmsprop", loss={"main_output": "binary_crossentropy", "aux_output": "mse"},
                          loss_weights={"main_output": main_w, "aux_output": aux_w})
        return model

    return build_headline_model


def headline_written_differently(vocabulary_size=10000, sequence_length=100, embedding_dim=512):
    extra = keras.Input(shape=(5,), name="aux_input")  # the auxiliary input first
    words = keras.Input(shape=(sequence_length,), dtype="int32", name="main_input")
    encoded = L.LSTM(units=32)(L.Embedding(input_dim=vocabulary_size, output_dim=embedding_dim)(words))
    aux = L.Activation("sigmoid", name="aux_output")(L.Dense(1)(encoded))
    x = L.Concatenate()([extra, encoded])
    for _ in range(3):
        x = L.Activation("relu")(L.Dense(64)(x))
    main = L.Dense(1, activation="sigmoid", name="main_output")(x)
    model = keras.Model(inputs=[words, extra], outputs=[aux, main])  # outputs in the other order
    model.compile(optimizer=keras.optimizers.RMSprop(),
                  loss=[keras.losses.BinaryCrossentropy(), keras.losses.binary_crossentropy],
                  loss_weights=[0.2, 1.0])  # a list, in the order of model.outputs
    return model


def headline_with_dicts(vocabulary_size=10000, sequence_length=100, embedding_dim=512):
    main_input = keras.Input(shape=(sequence_length,), dtype="int32", name="main_input")
    aux_input = keras.Input(shape=(5,), dtype="float32", name="aux_input")
    lstm_out = L.LSTM(32)(L.Embedding(vocabulary_size, embedding_dim)(main_input))
    x = keras.layers.concatenate([lstm_out, aux_input])
    for _ in range(3):
        x = L.ReLU()(L.Dense(64, activation=keras.activations.relu)(x))  # relu twice is still relu
    model = keras.Model({"main_input": main_input, "aux_input": aux_input},
                        {"main_output": L.Dense(1, activation="sigmoid", name="main_output")(x),
                         "aux_output": L.Dense(1, activation="sigmoid", name="aux_output")(lstm_out)})
    model.compile(optimizer="RMSprop",
                  loss={"aux_output": keras.losses.BinaryCrossentropy(from_logits=False), "main_output": "bce"},
                  loss_weights={"aux_output": 0.2, "main_output": 1.0})
    return model


def qa_nested_branches(text_vocabulary_size=10000, question_vocabulary_size=10000, answer_vocabulary_size=500,
                       text_embedding_dim=64, question_embedding_dim=32, text_units=32, question_units=16):
    """Right: each branch written as a nested Sequential (Embedding, then LSTM), called on its input."""
    text = keras.Input((None,), dtype="int32", name="text")
    question = keras.Input((None,), dtype="int32", name="question")
    read_text = keras.Sequential([L.Embedding(text_vocabulary_size, text_embedding_dim, mask_zero=True),
                                  L.LSTM(text_units)], name="text_encoder")
    read_question = keras.Sequential([L.Embedding(question_vocabulary_size, question_embedding_dim, mask_zero=True),
                                      L.LSTM(question_units)], name="question_encoder")
    merged = L.concatenate([read_text(text), read_question(question)])
    return keras.Model([text, question], L.Dense(answer_vocabulary_size, activation="softmax", name="answer")(merged))


def qa_one_nested_branch_for_both(text_vocabulary_size=10000, question_vocabulary_size=10000,
                                  answer_vocabulary_size=500, text_embedding_dim=64, question_embedding_dim=32,
                                  text_units=32, question_units=16):
    """Wrong: one nested Sequential branch called on both inputs (the branches share its layers)."""
    text = keras.Input((None,), dtype="int32", name="text")
    question = keras.Input((None,), dtype="int32", name="question")
    encoder = keras.Sequential([L.Embedding(text_vocabulary_size, text_embedding_dim, mask_zero=True),
                                L.LSTM(text_units)], name="encoder")
    merged = L.concatenate([encoder(text), encoder(question)])
    return keras.Model([text, question], L.Dense(answer_vocabulary_size, activation="softmax", name="answer")(merged))


def headline_nested_blocks(vocabulary_size=10000, sequence_length=100, embedding_dim=512, hidden=3):
    """Right (with hidden=3): the encoder (Embedding, LSTM) and the three Dense(64, relu) layers written as nested
    Sequential blocks."""
    main_input = keras.Input(shape=(sequence_length,), dtype="int32", name="main_input")
    aux_input = keras.Input(shape=(5,), name="aux_input")
    encoder = keras.Sequential([L.Embedding(vocabulary_size, embedding_dim), L.LSTM(32)], name="encoder")
    encoded = encoder(main_input)
    aux = L.Dense(1, activation="sigmoid", name="aux_output")(encoded)
    top = keras.Sequential([L.Dense(64, activation="relu") for _ in range(hidden)], name="top")
    main = L.Dense(1, activation="sigmoid", name="main_output")(top(L.concatenate([encoded, aux_input])))
    model = keras.Model([main_input, aux_input], [main, aux])
    model.compile(optimizer="rmsprop", loss=["binary_crossentropy"] * 2, loss_weights=[1.0, 0.2])
    return model


def stub(*args, **kwargs):
    raise NotImplementedError


WRONG = {
    "build_qa_model": [
        Wrong("swapped-embedding", {"build_qa_model": qa(swap=True)},
              {"test_qa_branches": "arguments are swapped", "test_qa_uses_sizes": "swapped"}),
        Wrong("no-mask", {"build_qa_model": qa(mask=False)}, {"test_qa_masks_padding": "mask_zero=True"}),
        Wrong("relu-answer", {"build_qa_model": qa(out_act="relu")},
              {"test_qa_output": "softmax"}),
        Wrong("hidden-layer-after-merge", {"build_qa_model": qa(hidden=64)},
              {"test_qa_merge": r"reads Dense\(64, relu\)"}),
        Wrong("ignores-its-arguments", {"build_qa_model": qa(fixed=True)},
              {"test_qa_uses_sizes": r"shape \(None, 7\)"}),
        Wrong("float-inputs", {"build_qa_model": qa(dtype="float32")}, {"test_qa_inputs": "dtype int32"}),
        Wrong("text-only", {"build_qa_model": qa(question=False)},
              {"test_qa_inputs": "2 input", "test_qa_branches": "input 'question'"}),
        Wrong("shared-branch", {"build_qa_model": qa(share=True)},
              {"test_qa_branches": "the two inputs share",
               "test_qa_branches_share_nothing": r"branches share them: 'embedding' \(Embedding\), "
                                                 r"'lstm' \(LSTM\)"}),
        Wrong("shared-embedding", {"build_qa_model": qa(share="embedding")},
              {"test_qa_branches_share_nothing": r"should share nothing, but .*'embedding' \(Embedding\);"}),
        Wrong("compiled", {"build_qa_model": qa(compiled=True)},
              {"test_qa_uncompiled": "should be returned uncompiled"}),
        Wrong("text-lstm-concatenated-twice", {"build_qa_model": qa(text_twice=True)},
              {"test_qa_merge": "each once .* it joins lstm, lstm, lstm_1"}),
        Wrong("one-nested-branch-for-both-inputs", {"build_qa_model": qa_one_nested_branch_for_both},
              {"test_qa_branches_share_nothing": r"branches share them: 'embedding' \(Embedding\), 'lstm' \(LSTM\)",
               "test_qa_branches": "the two inputs share"}),
        Wrong("frozen", {"build_qa_model": qa(trainable=False)}, {"test_qa_learns": "took the loss"}),
        Wrong("not-implemented", {"build_qa_model": stub}, {"test_qa_output": "not implemented yet"}),
    ],
    "build_headline_model": [
        Wrong("aux-after-dense", {"build_headline_model": headline(aux_from="dense")},
              {"test_headline_aux_taps_lstm": "read the LSTM's output directly", "test_headline_main_path":
               "read the LSTM's output directly"}),
        Wrong("dropout-before-aux", {"build_headline_model": headline(aux_from="dropout")},
              {"test_headline_aux_taps_lstm": r"should read the LSTM's output directly, it reads 'dropout' "
                                              r"\(Dropout\)"}),
        Wrong("single-loss-list-weights", {"build_headline_model": headline(losses="single-with-list")},
              {"test_headline_losses": "cannot match the compiled losses",
               "test_headline_loss_weights": "cannot match the compiled losses", "test_headline_learns": "raised"}),
        Wrong("weights-swapped", {"build_headline_model": headline(weights=(0.2, 1.0))},
              {"test_headline_loss_weights": "'main_output' should have loss weight 1.0"}),
        Wrong("list-losses-dict-weights", {"build_headline_model": headline(losses="list-with-dict")},
              {"test_headline_loss_weights": "should have loss weight"}),
        Wrong("adam", {"build_headline_model": headline(losses="adam")}, {"test_headline_optimizer": "rmsprop"}),
        Wrong("from-logits", {"build_headline_model": headline(losses="from-logits")},
              {"test_headline_losses": "'main_output' computes .* where binary cross-entropy.* computes .*: it is "
                                       "configured with from_logits=True; leave that setting at .*from_logits=False"}),
        Wrong("label-smoothing", {"build_headline_model": headline(losses="label-smoothing")},
              {"test_headline_losses": "'aux_output' computes .*configured with label_smoothing=0.2"}),
        Wrong("reduction-sum", {"build_headline_model": headline(losses="sum")},
              {"test_headline_losses": "'aux_output' computes .*configured with reduction='sum'.*"
                                       "'sum_over_batch_size'"}),
        Wrong("rmsprop-learning-rate", {"build_headline_model": headline(losses="rmsprop-lr")},
              {"test_headline_optimizer": "RMSprop with learning_rate=0.1.*Keras' defaults"}),
        Wrong("mse-for-aux", {"build_headline_model": headline(losses="mse-aux")},
              {"test_headline_losses": "'aux_output' should be trained with binary cross-entropy.*, it gets "
                                       "mean_squared_error"}),
        Wrong("sigmoid-after-relu", {"build_headline_model": headline(then="sigmoid")},
              {"test_headline_main_path": r"found Dense\(64, relu\) ← Dense\(64, relu\) ← "
                                          r"Dense\(64, relu then sigmoid\)"}),
        Wrong("lstm-concatenated-twice", {"build_headline_model": headline(lstm_twice=True)},
              {"test_headline_main_path": "each once, it joins aux_input, lstm, lstm"}),
        Wrong("lstm-64", {"build_headline_model": headline(lstm_units=64)},
              {"test_headline_encoder": "32 units, it has 64"}),
        Wrong("two-dense", {"build_headline_model": headline(n_dense=2)},
              {"test_headline_main_path": r"three Dense\(64, relu\) layers, found Dense\(64, relu\) ← "
                                          r"Dense\(64, relu\)$|found Dense\(64, relu\) ← Dense\(64, relu\)\."}),
        Wrong("nested-block-of-two-dense", {"build_headline_model": lambda *a: headline_nested_blocks(*a, hidden=2)},
              {"test_headline_main_path": r"found Dense\(64, relu\) ← Dense\(64, relu\)\."}),
        Wrong("aux-input-late", {"build_headline_model": headline(aux_concat=False)},
              {"test_headline_main_path": "three Dense"}),
        Wrong("aux-without-sigmoid", {"build_headline_model": headline(aux_act="linear")},
              {"test_headline_outputs": "'aux_output' needs activation='sigmoid'"}),
        Wrong("swapped-embedding", {"build_headline_model": headline(swap=True)},
              {"test_headline_encoder": r"Embedding\(512, 10000\)"}),
        Wrong("ignores-its-arguments", {"build_headline_model": headline(fixed=True)},
              {"test_headline_uses_sizes": r"shape \(None, 12\)"}),
        Wrong("not-compiled", {"build_headline_model": headline(compiled=False)},
              {"test_headline_losses": "not compiled", "test_headline_loss_weights": "not compiled",
               "test_headline_optimizer": "not compiled"}),
        Wrong("int-aux-input", {"build_headline_model": headline(aux_dtype="int32")},
              {"test_headline_inputs": "dtype float32"}),
        Wrong("frozen", {"build_headline_model": headline(trainable=False)},
              {"test_headline_learns": "took the main output's loss"}),
    ],
}

RIGHT = {
    "build_qa_model": [{"build_qa_model": qa()}, {"build_qa_model": qa_written_differently},
                       {"build_qa_model": qa_question_first}, {"build_qa_model": qa_nested_branches}],
    "build_headline_model": [{"build_headline_model": headline()},
                             {"build_headline_model": headline_written_differently},
                             {"build_headline_model": headline_with_dicts},
                             {"build_headline_model": headline_nested_blocks}],
}


test_wrong_submission_loses_points, test_correct_variant_gets_full_marks, test_every_check_can_fail = \
    self_tests(grader, "lesson02", WRONG, RIGHT)
