"""bAbI-style question answering: short generated stories about people moving between rooms, and "Where is X?".

The generator follows the recipe of the first bAbI task (Weston et al., 2015, "single supporting fact"); the stories
are made here by a seeded process, nothing is downloaded. People keep to ROUTINES: each of the six NAMES only ever
goes to three of the six PLACES. A story picks three people, then tells three to five moves ("Sandra travelled to
the office."): every picked person moves at least once, each move goes to a place of that person's routine, with
one of the VERBS. The question asks where one of the three is; the answer is the place of that person's *last*
move. The stories are written to ``datasets/babi_qa/{train,validation,test}.jsonl``, one JSON object per line.

Neither input alone is enough: the question alone narrows the answer to the person's three places (about one in
three right), and the story alone does not say who is asked about (its best guess is right about half the time).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from coursekit.data._jsonl import read_jsonl, write_jsonl

SEED = 2015
NAMES = ["Mary", "John", "Sandra", "Daniel", "Bill", "Julie"]
PLACES = ["kitchen", "garden", "hallway", "bathroom", "bedroom", "office"]
VERBS = ["went to", "moved to", "journeyed to", "travelled to", "went back to"]
PEOPLE_PER_STORY = 3
# Routines: each person only ever goes to three of the six places (each place is in three routines).
ROUTINES = {name: [PLACES[(i + k) % len(PLACES)] for k in range(3)] for i, name in enumerate(NAMES)}
MOVES = (3, 5)  # inclusive range of sentences per story
SIZES = {"train": 6000, "validation": 1000, "test": 1000}
FOLDER = Path(__file__).resolve().parents[3] / "datasets" / "babi_qa"
PAD = "<pad>"


def _story(rng: np.random.Generator) -> dict:
    people = [NAMES[i] for i in rng.choice(len(NAMES), PEOPLE_PER_STORY, replace=False)]
    n_moves = int(rng.integers(MOVES[0], MOVES[1] + 1))
    movers = list(people) + [people[i] for i in rng.integers(0, len(people), n_moves - len(people))]
    movers = [movers[i] for i in rng.permutation(n_moves)]
    where: dict[str, str] = {}
    sentences = []
    for person in movers:
        place = ROUTINES[person][int(rng.integers(len(ROUTINES[person])))]
        verb = VERBS[int(rng.integers(len(VERBS)))]
        sentences.append(f"{person} {verb} the {place}.")
        where[person] = place
    asked = people[int(rng.integers(len(people)))]
    return {"story": " ".join(sentences), "question": f"Where is {asked}?", "answer": where[asked]}


def build(folder: Path) -> None:
    """Write train / validation / test stories as JSON lines, drawn with one fixed seed."""
    rng = np.random.default_rng(SEED)
    folder.mkdir(parents=True, exist_ok=True)
    for split, size in SIZES.items():
        write_jsonl(folder / f"{split}.jsonl", [_story(rng) for _ in range(size)])


def tokenize(text: str) -> list[str]:
    """Lower-case words, with '.' and '?' as tokens of their own: "Where is Mary?" -> ['where', 'is', 'mary', '?']."""
    return re.findall(r"[a-z]+|[.?]", text.lower())


def vocabularies() -> tuple[list[str], list[str], list[str]]:
    """The story words, the question words and the answers. Index 0 of the first two is the padding token."""
    words = sorted({w for verb in VERBS for w in tokenize(verb)} | {"the", "."})
    names = sorted(n.lower() for n in NAMES)
    text_vocabulary = [PAD] + names + words + sorted(PLACES)
    question_vocabulary = [PAD, "where", "is"] + names + ["?"]
    return text_vocabulary, question_vocabulary, sorted(PLACES)


def read(split: str, folder: Path = FOLDER) -> list[dict]:
    """The raw records of one split: dicts with 'story', 'question' and 'answer'."""
    return read_jsonl(folder / f"{split}.jsonl")


def encode(texts: list[str], vocabulary: list[str]) -> np.ndarray:
    """Word indices, padded with 0 at the end to the longest text: an int32 array (n, longest)."""
    index = {w: i for i, w in enumerate(vocabulary)}
    rows = [[index[w] for w in tokenize(t)] for t in texts]
    out = np.zeros((len(rows), max(len(r) for r in rows)), dtype="int32")
    for i, row in enumerate(rows):
        out[i, :len(row)] = row
    return out


def load_babi_qa(folder: Path = FOLDER):
    """The stories as ``(x_train, y_train), (x_val, y_val), (x_test, y_test)``.

    Each ``x`` is a dict keyed by the model's input names: ``"text"`` (the story) and ``"question"``, int32 word
    indices padded with 0 at the end. ``y`` holds int64 indices into the answer vocabulary (``vocabularies()[2]``).
    """
    text_vocabulary, question_vocabulary, answers = vocabularies()
    answer_index = {a: i for i, a in enumerate(answers)}
    splits = []
    for split in SIZES:
        records = read(split, folder)
        x = {"text": encode([r["story"] for r in records], text_vocabulary),
             "question": encode([r["question"] for r in records], question_vocabulary)}
        splits.append((x, np.array([answer_index[r["answer"]] for r in records], dtype="int64")))
    return tuple(splits)
