"""User posts: generated social-media users whose age, income group and gender shift the topics they post about.

Nothing is downloaded and no real person is described: a seeded process makes every user and every post.

1. Each user gets three attributes: an ``age`` (a whole number of years, uniform from 18 to 70), a ``gender``
   (0 or 1, each with probability 1/2) and an ``income_group`` (0-9: the decile, ranked across all users, of an
   income score ``0.5 * standardized age + noise``).
2. The 24 TOPICS are shuffled with the seed and dealt out: eight go with age, eight with income, eight with gender;
   in each eight, half get the effect +EFFECT and half -EFFECT (``topic_effects``). Which topic goes with which
   attribute is a coin toss of the generator: it reflects no real statistic.
3. A user's preference for a topic is ``softmax(effect * z)`` over topics, where ``z`` is the user's standardized
   age, standardized income group or gender sign (-1/+1), whichever attribute the topic goes with.
4. Posts: each post picks a topic from the user's preferences and fills one of the TEMPLATES with words of that
   topic; one post in five is small talk with no topic. Posts are added until the user has at least LENGTH words;
   the loader keeps the first LENGTH words.

So every attribute changes *which words* a user writes, never how many: a model has to read the words to guess
them. The users are written to ``datasets/user_posts/{train,validation,test}.jsonl`` as JSON lines.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from coursekit.data._jsonl import read_jsonl, write_numbered_splits

SEED = 2017
SIZES = {"train": 2000, "validation": 500, "test": 500}
LENGTH = 120  # words per user
AGE_RANGE = (18, 70)
INCOME_GROUPS = 10
EFFECT = 2.0  # how strongly an attribute shifts the log-popularity of its topics
SMALL_TALK_RATE = 0.2
FOLDER = Path(__file__).resolve().parents[3] / "datasets" / "user_posts"
PAD = "<pad>"

TOPICS = {
    "cooking": ["recipe", "soup", "oven", "spices", "pasta", "curry", "dinner", "sauce"],
    "football": ["match", "goal", "striker", "league", "referee", "stadium", "penalty", "derby"],
    "gardening": ["tomatoes", "compost", "roses", "seedlings", "allotment", "hedge", "weeds", "greenhouse"],
    "music": ["album", "concert", "guitar", "playlist", "vinyl", "chorus", "drummer", "festival"],
    "travel": ["flight", "hostel", "passport", "beach", "luggage", "itinerary", "museum", "train"],
    "films": ["trailer", "sequel", "director", "cinema", "actor", "screenplay", "premiere", "popcorn"],
    "gaming": ["console", "speedrun", "boss", "controller", "multiplayer", "patch", "quest", "loot"],
    "investing": ["portfolio", "dividends", "shares", "pension", "bonds", "savings", "mortgage", "index"],
    "fitness": ["gym", "squats", "marathon", "protein", "treadmill", "stretching", "cardio", "trainers"],
    "pets": ["puppy", "kitten", "vet", "leash", "aquarium", "hamster", "parrot", "kennel"],
    "books": ["novel", "chapter", "author", "library", "paperback", "poetry", "bookshop", "bestseller"],
    "cars": ["engine", "garage", "tyres", "mileage", "hatchback", "gearbox", "motorway", "dashboard"],
    "fashion": ["jacket", "sneakers", "boutique", "denim", "scarf", "outfit", "runway", "handbag"],
    "photography": ["lens", "tripod", "aperture", "portrait", "camera", "sunset", "exposure", "darkroom"],
    "hiking": ["trail", "summit", "boots", "campsite", "ridge", "compass", "waterfall", "backpack"],
    "technology": ["laptop", "software", "update", "startup", "gadget", "coding", "battery", "smartphone"],
    "studies": ["exam", "lecture", "essay", "campus", "tutor", "deadline", "seminar", "textbook"],
    "family": ["grandchildren", "wedding", "nursery", "school", "toddler", "anniversary", "holiday", "picnic"],
    "art": ["painting", "gallery", "sketch", "canvas", "sculpture", "watercolour", "exhibition", "easel"],
    "science": ["telescope", "experiment", "physics", "fossils", "chemistry", "planet", "microscope", "genome"],
    "cycling": ["bike", "helmet", "saddle", "sprint", "velodrome", "puncture", "peloton", "gears"],
    "chess": ["opening", "gambit", "checkmate", "endgame", "rook", "tournament", "bishop", "blitz"],
    "sailing": ["yacht", "harbour", "regatta", "mast", "anchor", "tide", "marina", "dinghy"],
    "crafts": ["knitting", "pottery", "quilt", "yarn", "embroidery", "woodwork", "glue", "beads"],
}
TEMPLATES = [
    "just got back from the {0} and it was great",
    "does anyone have tips on {0} ?",
    "can not stop thinking about the {0}",
    "spent the whole day on {0} and {1}",
    "honestly {0} is so underrated",
    "new favourite thing : {0}",
    "who else is into {0} and {1} ?",
    "weekend plans : {0} , {1} and more {2}",
    "finally sorted out the {0} today",
    "anyone want to talk about {0} ?",
    "the {0} was even better than the {1}",
    "reading everything i can find about {0}",
]
SMALL_TALK = [
    "good morning everyone",
    "what a week it has been",
    "so tired today",
    "happy friday !",
    "thanks for all the messages",
    "back online after a short break",
    "lovely weather today",
    "does anyone else feel like time flies ?",
]


def tokenize(text: str) -> list[str]:
    """Lower-case words, with punctuation marks as tokens of their own."""
    return re.findall(r"[a-z]+|[?!:,]", text.lower())


def vocabulary() -> list[str]:
    """Every word the generator can write, sorted, after the padding token at index 0."""
    words = {w for words in TOPICS.values() for w in words}
    words |= {w for text in TEMPLATES + SMALL_TALK for w in tokenize(text.replace("{", " ").replace("}", " "))
              if not w.isdigit()}
    return [PAD] + sorted(words)


def topic_effects(rng: np.random.Generator) -> dict[str, tuple[str, float]]:
    """Which attribute shifts each topic, and how: topic -> (attribute, effect). ``rng`` is the generator's, fresh
    from ``np.random.default_rng(SEED)`` (this is its first draw).

    The topics are shuffled and dealt out: a third go with age, a third with income, a third with gender; in each
    third, half the topics get the effect +EFFECT and half -EFFECT.
    """
    order = [list(TOPICS)[i] for i in rng.permutation(len(TOPICS))]
    per = len(order) // 3
    effects = {}
    for k, attribute in enumerate(("age", "income", "gender")):
        for j, topic in enumerate(order[k * per:(k + 1) * per]):
            effects[topic] = (attribute, EFFECT if j % 2 == 0 else -EFFECT)
    return effects


def _users(rng: np.random.Generator, n: int) -> list[dict]:
    topics = list(TOPICS)
    effects = topic_effects(rng)
    age = rng.integers(AGE_RANGE[0], AGE_RANGE[1] + 1, n)
    age_z = (age - age.mean()) / age.std()
    score = 0.5 * age_z + np.sqrt(1 - 0.25) * rng.normal(size=n)
    income_group = (np.argsort(np.argsort(score)) * INCOME_GROUPS // n).astype(int)
    income_z = (income_group - (INCOME_GROUPS - 1) / 2) / np.std(np.arange(INCOME_GROUPS))
    gender = rng.integers(0, 2, n)
    latent = {"age": age_z, "income": income_z, "gender": 2.0 * gender - 1.0}
    logits = np.stack([effects[t][1] * latent[effects[t][0]] for t in topics], axis=1)
    prefs = np.exp(logits - logits.max(axis=1, keepdims=True))
    prefs /= prefs.sum(axis=1, keepdims=True)
    users = []
    for u in range(n):
        posts, words = [], 0
        while words < LENGTH:
            if rng.random() < SMALL_TALK_RATE:
                post = SMALL_TALK[int(rng.integers(len(SMALL_TALK)))]
            else:
                topic = TOPICS[topics[int(rng.choice(len(topics), p=prefs[u]))]]
                template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
                post = template.format(*(topic[int(i)] for i in rng.integers(len(topic), size=3)))
            posts.append(post)
            words += len(tokenize(post))
        users.append({"posts": posts, "age": int(age[u]), "income_group": int(income_group[u]),
                      "gender": int(gender[u])})
    return users


def build(folder: Path) -> None:
    """Write the users of each split as JSON lines, all drawn from one population with one fixed seed."""
    rng = np.random.default_rng(SEED)
    users = _users(rng, sum(SIZES.values()))
    write_numbered_splits(folder, users, SIZES, "user")


def read(split: str, folder: Path = FOLDER) -> list[dict]:
    """The raw records of one split: dicts with 'user', 'posts', 'age', 'income_group' and 'gender'."""
    return read_jsonl(folder / f"{split}.jsonl")


def encode(records: list[dict], words: list[str]) -> np.ndarray:
    """Each user's posts as LENGTH word indices (int32): the first LENGTH words of the posts, in order."""
    index = {w: i for i, w in enumerate(words)}
    out = np.zeros((len(records), LENGTH), dtype="int32")
    for i, record in enumerate(records):
        ids = [index[w] for post in record["posts"] for w in tokenize(post)][:LENGTH]
        out[i, :len(ids)] = ids
    return out


def load_user_posts(folder: Path = FOLDER):
    """The users as ``(x_train, y_train), (x_val, y_val), (x_test, y_test)``.

    ``x`` holds int32 word indices, shape (n, LENGTH). ``y`` is a dict keyed by the model's output names:
    ``"age"`` float32 years (n, 1), ``"income"`` one-hot float32 (n, 10), ``"gender"`` float32 0/1 (n, 1).
    """
    words = vocabulary()
    splits = []
    for split in SIZES:
        records = read(split, folder)
        y = {"age": np.array([[r["age"]] for r in records], dtype="float32"),
             "income": np.eye(INCOME_GROUPS, dtype="float32")[[r["income_group"] for r in records]],
             "gender": np.array([[r["gender"]] for r in records], dtype="float32")}
        splits.append((encode(records, words), y))
    return tuple(splits)
