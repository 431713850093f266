"""Used cars: generated adverts with a table of facts, an owner's review and a photo; a price and a condition grade.

Nothing is downloaded and no real car, make or person is described: a seeded process makes every car (the makes
are invented names). Each car has two hidden factors, drawn independently of each other and of the table:
``mechanical`` (how well the engine, gearbox and brakes have been kept) and ``body`` (dents and rust), both N(0, 1).

1. The table: a ``make`` (one of MAKES, each with its new price), an ``age`` (0 to 14 years, uniform) and a
   ``mileage`` in km (about 12,000 km a year, times a log-normal factor for how much the owner drives).
2. The review: four short phrases in random order. Three are about the mechanics, each *good* with probability
   ``sigmoid(3 * mechanical)`` (e.g. "the engine runs smooth" against "the gearbox grinds"); one is small talk that
   says nothing (e.g. "nice colour"). Only the review tells the mechanical factor.
3. The photo: a side view of the car, 24 x 32 grey pixels, drawn from a spec: the body ``style`` (hatchback, saloon
   or SUV, uniform), a shade, a small shift, and dark spots for dents and rust, ``Poisson(exp(0.8 - 1.1 * body))``
   of them (at most 10). Only the photo tells the style and the body factor.
4. The price, in thousands of euros: new price x style factor x 0.9^age x exp(-0.25 * mileage / 100,000 km)
   x exp(0.3 * mechanical + 0.3 * body) x log-normal noise (sigma 0.04), rounded to 0.1.
5. The condition grade: ``q = mechanical + body - 0.5 * standardized mileage + N(0, 0.3^2)``, then ``poor`` below
   -0.6, ``good`` above 0.6, ``fair`` between.

So each input carries something the others do not (the table: make, age and mileage; the review: the mechanics;
the photo: the style and the body), and the two targets share the hidden factors. The cars are written to
``datasets/used_cars/{train,validation,test}.jsonl`` as JSON lines; the photos are rendered from their specs when
the data is loaded, the same way on every machine.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from coursekit.data._jsonl import read_jsonl, write_numbered_splits

SEED = 2009
SIZES = {"train": 2000, "validation": 400, "test": 1000}
FOLDER = Path(__file__).resolve().parents[3] / "datasets" / "used_cars"
MAKES = {"Corvo": 9.0, "Lumen": 13.0, "Pavia": 17.0, "Sorrel": 24.0, "Vanta": 32.0}  # new price, k€ (invented)
STYLES = {"hatchback": 0.85, "saloon": 1.0, "suv": 1.3}  # style -> price factor
GRADES = ["poor", "fair", "good"]
HEIGHT, WIDTH = 24, 32  # photo size, pixels
REVIEW_LENGTH = 20  # words per review, after padding
MAX_SPOTS = 10
GOOD = ["the engine runs smooth", "the gearbox shifts cleanly", "the brakes feel sharp", "it never broke down",
        "the clutch is light", "it starts first time"]
BAD = ["the engine knocks when cold", "the gearbox grinds", "the brakes squeal", "the clutch slips",
       "a warning light keeps coming on", "it burns oil"]
SMALL_TALK = ["nice colour", "the seats are comfortable", "plenty of boot space", "the stereo is fine",
              "cheap to insure", "my kids love it"]


def tokenize(text: str) -> list[str]:
    """Lower-case words; punctuation is dropped (as ``TextVectorization``'s default standardization does)."""
    return re.findall(r"[a-z]+", text.lower())


def vocabulary() -> list[str]:
    """Every word a review can hold, sorted (without padding or out-of-vocabulary entries)."""
    return sorted({w for phrase in GOOD + BAD + SMALL_TALK for w in tokenize(phrase)})


def _cars(rng: np.random.Generator, n: int) -> list[dict]:
    makes = list(MAKES)
    make = rng.integers(0, len(makes), n)
    age = rng.integers(0, 15, n)
    mileage = np.round(np.maximum(age, 0.3) * 12_000 * rng.lognormal(0.0, 0.35, n), -2)
    style = rng.integers(0, len(STYLES), n)
    mechanical = rng.normal(size=n)
    body = rng.normal(size=n)
    styles = list(STYLES)
    price = (np.array([MAKES[makes[m]] for m in make]) * np.array([STYLES[styles[s]] for s in style])
             * 0.9 ** age * np.exp(-0.25 * mileage / 100_000) * np.exp(0.3 * mechanical + 0.3 * body)
             * rng.lognormal(0.0, 0.04, n))
    mileage_z = (mileage - mileage.mean()) / mileage.std()
    q = mechanical + body - 0.5 * mileage_z + rng.normal(0.0, 0.3, n)
    grade = np.where(q < -0.6, 0, np.where(q > 0.6, 2, 1))
    cars = []
    for i in range(n):
        good = rng.random(3) < 1 / (1 + np.exp(-3 * mechanical[i]))
        phrases = [GOOD[int(k)] if g else BAD[int(k)] for g, k in zip(good, rng.permutation(len(GOOD))[:3])]
        phrases.append(SMALL_TALK[int(rng.integers(len(SMALL_TALK)))])
        review = ", ".join(phrases[int(k)] for k in rng.permutation(4)) + "."
        spots = int(min(MAX_SPOTS, rng.poisson(np.exp(0.8 - 1.1 * body[i]))))
        cars.append({
            "make": makes[make[i]], "age": int(age[i]), "mileage": int(mileage[i]), "review": review,
            "photo": {"style": styles[style[i]], "shade": int(rng.integers(150, 231)),
                      "shift": [int(rng.integers(0, 2)), int(rng.integers(-2, 3))],
                      "spots": [[round(float(u), 3), round(float(v), 3)] for u, v in rng.random((spots, 2))]},
            "price": float(np.round(price[i], 1)), "grade": GRADES[int(grade[i])],
            "hidden": {"mechanical": float(np.round(mechanical[i], 3)), "body": float(np.round(body[i], 3))},
        })
    return cars


def build(folder: Path) -> None:
    """Write the cars of each split as JSON lines, all drawn from one population with one fixed seed."""
    cars = _cars(np.random.default_rng(SEED), sum(SIZES.values()))
    write_numbered_splits(folder, cars, SIZES, "car")


def read(split: str, folder: Path = FOLDER) -> list[dict]:
    """The raw records of one split (dicts as written by ``build``)."""
    return read_jsonl(folder / f"{split}.jsonl")


# rows of the body and of the cabin (top, bottom) and the cabin's columns (left, right), per style, before the shift
_SHAPES = {"hatchback": ((12, 18), (7, 12), (8, 21)), "saloon": ((12, 18), (7, 12), (10, 20)),
           "suv": ((10, 18), (4, 10), (7, 24))}


def render(photo: dict) -> np.ndarray:
    """One photo from its spec: uint8 (HEIGHT, WIDTH, 1), a car's side view on a dark background."""
    image = np.zeros((HEIGHT, WIDTH), dtype="float64")
    (top, bottom), (cab_top, cab_bottom), (cab_left, cab_right) = _SHAPES[photo["style"]]
    dr, dc = photo["shift"]
    left, right = 3 + dc, 28 + dc
    shade = photo["shade"]
    image[top + dr:bottom + dr, left:right] = shade  # the body
    for row in range(cab_top + dr, cab_bottom + dr):  # the cabin: a trapezium, its roof narrower than its base
        inset = (cab_bottom + dr - row) // 2
        image[row, cab_left + dc + inset:cab_right + dc - inset] = shade
    for row in range(cab_top + 1 + dr, cab_bottom + dr):  # windows, split by a pillar
        inset = (cab_bottom + dr - row) // 2
        middle = (cab_left + cab_right) // 2 + dc
        image[row, cab_left + dc + inset + 1:middle] = 70
        image[row, middle + 1:cab_right + dc - inset - 1] = 70
    if photo["style"] == "saloon":  # a boot behind the cabin: the saloon's body steps down at the back
        image[top + dr:top + dr + 1, right - 4:right] = 0
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    for centre in (left + 5, right - 5):  # wheels: white tyres with a grey hub
        distance = (yy - (bottom + dr)) ** 2 + (xx - centre) ** 2
        image[distance <= 9] = 255
        image[distance <= 1] = 120
    for u, v in photo["spots"]:  # dents and rust: dark 2x2 marks on the body panel
        row = top + dr + 1 + int(u * (bottom - top - 3))
        col = left + 1 + int(v * (right - left - 3))
        image[row:row + 2, col:col + 2] = 25
    return image.astype("uint8")[..., None]


def load_used_cars(folder: Path = FOLDER):
    """The cars, as raw features: ``(x_train, y_train), (x_val, y_val), (x_test, y_test)``.

    ``x`` is a dict: ``"make"`` the make's name (str, shape (n,)), ``"age"`` years and ``"mileage"`` km (float32,
    (n, 1)), ``"review"`` the owner's review (str, (n,)), ``"photo"`` uint8 pixels (n, HEIGHT, WIDTH, 1), 0-255.
    ``y`` is a dict: ``"price"`` float32 thousands of euros (n, 1), ``"grade"`` int64 indices into GRADES (n,).
    """
    out = []
    for split in SIZES:
        records = read(split, folder)
        x = {"make": np.array([r["make"] for r in records]),
             "age": np.array([[r["age"]] for r in records], dtype="float32"),
             "mileage": np.array([[r["mileage"]] for r in records], dtype="float32"),
             "review": np.array([r["review"] for r in records]),
             "photo": np.stack([render(r["photo"]) for r in records])}
        y = {"price": np.array([[r["price"]] for r in records], dtype="float32"),
             "grade": np.array([GRADES.index(r["grade"]) for r in records], dtype="int64")}
        out.append((x, y))
    return tuple(out)
