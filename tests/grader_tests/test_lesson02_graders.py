"""The lesson 02 grader, tested: wrong question-answering and headline models lose the right points with the right
feedback, and correct ones written differently get full marks."""

from __future__ import annotations

import keras

from grader_tests.graderkit import Wrong, self_tests
from grading import test_lesson02 as grader

L = keras.layers


# ------------------------------------------------------------------ build_qa_model


def qa(swap=False, mask=True, out_act="softmax", hidden=0, fixed=False, dtype="int32", question=True,
       trainable=True, share=False):
    """A QA builder with one thing changed (the defaults give the correct model)."""

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
            q_lstm = lstm if share else L.LSTM(question_units, trainable=trainable)
            branches.append(q_lstm(q_embed(q)))
            inputs.append(q)
        x = L.concatenate(branches) if len(branches) > 1 else branches[0]
        if hidden:
            x = L.Dense(hidden, activation="relu")(x)
        answer = L.Dense(answer_vocabulary_size, activation=out_act, name="answer", trainable=trainable)(x)
        return keras.Model(inputs, answer)

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


# ------------------------------------------------------------------ build_headline_model


def headline(aux_from="lstm", n_dense=3, aux_concat=True, losses="dict", weights=(1.0, 0.2), swap=False,
             aux_act="sigmoid", fixed=False, compiled=True, trainable=True, aux_dtype="float32"):
    """A headline builder with one thing changed (the defaults give the correct model)."""

    def build_headline_model(vocabulary_size=10000, sequence_length=100, embedding_dim=512):
        if fixed:
            vocabulary_size, sequence_length, embedding_dim = 10000, 100, 512
        main_input = keras.Input((sequence_length,), dtype="int32", name="main_input")
        embed = L.Embedding(embedding_dim, vocabulary_size) if swap else L.Embedding(vocabulary_size, embedding_dim)
        lstm_out = L.LSTM(32, trainable=trainable)(embed(main_input))
        aux_input = keras.Input((5,), dtype=aux_dtype, name="aux_input")
        x = L.concatenate([lstm_out, aux_input]) if aux_concat else lstm_out
        first = None
        for _ in range(n_dense):
            x = L.Dense(64, activation="relu", trainable=trainable)(x)
            first = first if first is not None else x
        if not aux_concat:
            x = L.concatenate([x, aux_input])
        main_output = L.Dense(1, activation="sigmoid", name="main_output", trainable=trainable)(x)
        tap = lstm_out if aux_from == "lstm" else first
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
              {"test_qa_branches": "the two inputs share"}),
        Wrong("frozen", {"build_qa_model": qa(trainable=False)}, {"test_qa_learns": "took the loss"}),
        Wrong("not-implemented", {"build_qa_model": stub}, {"test_qa_output": "not implemented yet"}),
    ],
    "build_headline_model": [
        Wrong("aux-after-dense", {"build_headline_model": headline(aux_from="dense")},
              {"test_headline_aux_taps_lstm": "read the LSTM's output directly", "test_headline_main_path":
               "read the LSTM's output directly"}),
        Wrong("single-loss-list-weights", {"build_headline_model": headline(losses="single-with-list")},
              {"test_headline_compiled": "cannot match the compiled losses", "test_headline_learns": "raised"}),
        Wrong("weights-swapped", {"build_headline_model": headline(weights=(0.2, 1.0))},
              {"test_headline_compiled": "'main_output' should have loss weight 1.0"}),
        Wrong("list-losses-dict-weights", {"build_headline_model": headline(losses="list-with-dict")},
              {"test_headline_compiled": "should have loss weight"}),
        Wrong("adam", {"build_headline_model": headline(losses="adam")}, {"test_headline_compiled": "rmsprop"}),
        Wrong("two-dense", {"build_headline_model": headline(n_dense=2)},
              {"test_headline_main_path": r"three Dense\(64, relu\) layers, found Dense\(64, relu\) ← "
                                          r"Dense\(64, relu\)$|found Dense\(64, relu\) ← Dense\(64, relu\)\."}),
        Wrong("aux-input-late", {"build_headline_model": headline(aux_concat=False)},
              {"test_headline_main_path": "three Dense"}),
        Wrong("aux-without-sigmoid", {"build_headline_model": headline(aux_act="linear")},
              {"test_headline_outputs": "'aux_output' needs activation='sigmoid'"}),
        Wrong("swapped-embedding", {"build_headline_model": headline(swap=True)},
              {"test_headline_aux_taps_lstm": r"Embedding\(512, 10000\)"}),
        Wrong("ignores-its-arguments", {"build_headline_model": headline(fixed=True)},
              {"test_headline_uses_sizes": r"shape \(None, 12\)"}),
        Wrong("not-compiled", {"build_headline_model": headline(compiled=False)},
              {"test_headline_compiled": "not compiled"}),
        Wrong("int-aux-input", {"build_headline_model": headline(aux_dtype="int32")},
              {"test_headline_inputs": "dtype float32"}),
        Wrong("frozen", {"build_headline_model": headline(trainable=False)},
              {"test_headline_learns": "took the main output's loss"}),
    ],
}

RIGHT = {
    "build_qa_model": [{"build_qa_model": qa()}, {"build_qa_model": qa_written_differently}],
    "build_headline_model": [{"build_headline_model": headline()},
                             {"build_headline_model": headline_written_differently}],
}


test_wrong_submission_loses_points, test_correct_variant_gets_full_marks, test_every_check_can_fail = \
    self_tests(grader, "lesson02", WRONG, RIGHT)
