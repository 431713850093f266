"""Short videos of a real handwritten digit moving across a small canvas, with a question about each (lesson 07).

The committed files hold only a compact, readable *spec* of every video; the frames are rendered from the real 8x8
digits (``coursekit.data.digits``) when the data is loaded, the same way on every machine. Videos are drawn inside
each split of the digits, so a test video shows an image of a digit that no model saw during training.

Generative story, for each video: a digit image is drawn from the split; a direction is drawn uniformly from up,
down, left and right; the digit is pasted on a dark ``CANVAS`` x ``CANVAS`` canvas at a random start position from
which it can move ``STEP`` pixel per frame for ``FRAMES`` frames without leaving the canvas (the other coordinate is
uniform). A question is then asked, of one of two kinds, each worded in one of three ways: *which digit* (answer:
the digit's name, "zero" ... "nine") or *which direction* (answer: "up", "down", "left" or "right"). Every other
video gets a digit question.

What each input can tell: the question alone says which kind of answer is wanted, but not which one (a "blind"
model that answers the most frequent training answer of each kind is right about one time in ten for digits and one
in four for directions). One frame shows the digit but not where it is going; its position is only a hint (a digit
at the left edge of the first frame is not moving left), with which a perfect reader of the first frame alone would
be right on 60% of the direction questions. The whole video answers both kinds.

One JSON object per line in ``datasets/digit_videos/{train,validation,test}.jsonl``, for example
``{"image": 1203, "digit": 3, "direction": "left", "start": [2, 7], "question": "which way does it move", "answer":
"left"}``: ``image`` indexes the scikit-learn digits, ``start`` is the (row, column) of the digit's top-left corner in
the first frame.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from coursekit.data import digits
from coursekit.data._jsonl import read_jsonl, write_jsonl

SEED = 7
SIZES = {"train": 2400, "validation": 400, "test": 800}
FOLDER = Path(__file__).resolve().parents[3] / "datasets" / "digit_videos"
CANVAS = 12  # pixels per side of a frame
FRAMES = 4  # frames per video
STEP = 1  # pixels moved per frame
DIGIT = 8  # pixels per side of a digit image
DIRECTIONS = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}
DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
QUESTIONS = {
    "digit": ["which digit is it", "what digit is moving", "what number do you see"],
    "direction": ["which way does it move", "where is the digit going", "in which direction does it move"],
}
PAD = "<pad>"
ANSWERS = DIGIT_NAMES + list(DIRECTIONS)  # the answer vocabulary: 14 words, the model's output classes
QUESTION_WORDS = [PAD] + sorted({w for qs in QUESTIONS.values() for q in qs for w in q.split()})
QUESTION_LENGTH = max(len(q.split()) for qs in QUESTIONS.values() for q in qs)


def _video(image: int, digit: int, kind: str, rng: np.random.Generator) -> dict:
    direction = list(DIRECTIONS)[int(rng.integers(len(DIRECTIONS)))]
    dr, dc = DIRECTIONS[direction]
    travel = STEP * (FRAMES - 1)
    last = CANVAS - DIGIT  # the largest top-left coordinate that keeps the digit inside the canvas

    def start(delta: int) -> int:  # a start coordinate from which the move stays on the canvas
        low, high = (travel, last) if delta < 0 else (0, last - travel) if delta > 0 else (0, last)
        return int(rng.integers(low, high + 1))

    question = QUESTIONS[kind][int(rng.integers(len(QUESTIONS[kind])))]
    answer = DIGIT_NAMES[digit] if kind == "digit" else direction
    return {"image": image, "digit": digit, "direction": direction, "start": [start(dr), start(dc)],
            "question": question, "answer": answer}


def build(folder: Path) -> None:
    """Write the train / validation / test video specs as JSON lines, drawn with one fixed seed."""
    _, labels = digits._raw()
    splits = json.loads(digits.SPLITS_FILE.read_text())
    rng = np.random.default_rng(SEED)
    folder.mkdir(parents=True, exist_ok=True)
    for split, size in SIZES.items():
        indices = np.array(splits[split])
        records = []
        for i in range(size):
            image = int(rng.choice(indices))
            records.append(_video(image, int(labels[image]), "digit" if i % 2 == 0 else "direction", rng))
        write_jsonl(folder / f"{split}.jsonl", records)


def read(split: str, folder: Path = FOLDER) -> list[dict]:
    """The raw records of one split (dicts as in the module docstring)."""
    return read_jsonl(folder / f"{split}.jsonl")


def render(image: np.ndarray, start: list[int], direction: str) -> np.ndarray:
    """The frames of one video: float32 (FRAMES, CANVAS, CANVAS, 1), the 8x8 ``image`` moving from ``start``."""
    dr, dc = DIRECTIONS[direction]
    frames = np.zeros((FRAMES, CANVAS, CANVAS, 1), dtype="float32")
    for t in range(FRAMES):
        r, c = start[0] + dr * STEP * t, start[1] + dc * STEP * t
        frames[t, r:r + DIGIT, c:c + DIGIT, 0] = image
    return frames


def encode_questions(questions: list[str]) -> np.ndarray:
    """Word indices of each question, padded with 0 at the end: int32 (n, QUESTION_LENGTH)."""
    index = {w: i for i, w in enumerate(QUESTION_WORDS)}
    out = np.zeros((len(questions), QUESTION_LENGTH), dtype="int32")
    for row, question in enumerate(questions):
        words = [index[w] for w in question.split()]
        out[row, :len(words)] = words
    return out


def load_digit_videos(folder: Path = FOLDER):
    """The videos as ``(x_train, y_train), (x_val, y_val), (x_test, y_test)``.

    ``x`` is a dict: ``"video"`` float32 (n, FRAMES, CANVAS, CANVAS, 1) in [0, 1] and ``"question"`` int32
    (n, QUESTION_LENGTH) word indices into ``QUESTION_WORDS``. ``y`` holds int64 indices into ``ANSWERS``.
    """
    images, _ = digits._raw()
    images = images / 16.0
    answer_index = {a: i for i, a in enumerate(ANSWERS)}
    out = []
    for split in ("train", "validation", "test"):
        records = read(split, folder)
        video = np.stack([render(images[r["image"]], r["start"], r["direction"]) for r in records])
        question = encode_questions([r["question"] for r in records])
        answer = np.array([answer_index[r["answer"]] for r in records], dtype="int64")
        out.append(({"video": video, "question": question}, answer))
    return tuple(out)
