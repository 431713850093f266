"""digit_videos: specs are valid, frames render the right digit moving the right way, answers match questions."""

from __future__ import annotations

import json

import numpy as np

from coursekit.data import digit_videos as dv
from coursekit.data import digits


def test_specs_are_valid():
    _, labels = digits._raw()
    splits = json.loads(digits.SPLITS_FILE.read_text())
    kind_of = {q: kind for kind, qs in dv.QUESTIONS.items() for q in qs}
    for split, size in dv.SIZES.items():
        records = dv.read(split)
        assert len(records) == size
        for r in records:
            assert r["image"] in set(splits[split]) and r["digit"] == labels[r["image"]]
            expected = dv.DIGIT_NAMES[r["digit"]] if kind_of[r["question"]] == "digit" else r["direction"]
            assert r["answer"] == expected
            dr, dc = dv.DIRECTIONS[r["direction"]]
            for t in (0, dv.FRAMES - 1):  # the digit stays on the canvas from the first frame to the last
                row, col = r["start"][0] + dr * dv.STEP * t, r["start"][1] + dc * dv.STEP * t
                assert 0 <= row <= dv.CANVAS - dv.DIGIT and 0 <= col <= dv.CANVAS - dv.DIGIT
        kinds = [kind_of[r["question"]] for r in records]
        assert kinds.count("digit") == size // 2


def test_frames_show_the_digit_moving():
    images, _ = digits._raw()
    record = dv.read("train")[1]
    frames = dv.render(images[record["image"]] / 16.0, record["start"], record["direction"])
    assert frames.shape == (dv.FRAMES, dv.CANVAS, dv.CANVAS, 1)
    dr, dc = dv.DIRECTIONS[record["direction"]]
    for t in range(dv.FRAMES):
        r, c = record["start"][0] + dr * t, record["start"][1] + dc * t
        assert np.allclose(frames[t, r:r + 8, c:c + 8, 0], images[record["image"]] / 16.0)
        assert np.isclose(frames[t].sum(), images[record["image"]].sum() / 16.0)  # nothing else on the canvas


def test_loader_shapes_and_encoding():
    (x_train, y_train), _, (x_test, y_test) = dv.load_digit_videos()
    assert x_train["video"].shape == (2400, dv.FRAMES, dv.CANVAS, dv.CANVAS, 1)
    assert x_train["question"].dtype == np.int32 and x_train["question"].shape == (2400, dv.QUESTION_LENGTH)
    assert y_test.dtype == np.int64 and y_test.max() < len(dv.ANSWERS)
    first = dv.read("test")[0]
    words = [dv.QUESTION_WORDS[i] for i in x_test["question"][0] if i]
    assert " ".join(words) == first["question"] and dv.ANSWERS[y_test[0]] == first["answer"]
