"""used_cars: records follow the generative story, photos show the car of their spec, the loader's raw features."""

from __future__ import annotations

import numpy as np

from coursekit.data import used_cars as uc


def test_records_follow_the_story():
    records = [r for split in uc.SIZES for r in uc.read(split)]
    assert len(records) == sum(uc.SIZES.values())
    assert [r["car"] for r in records] == list(range(len(records)))
    words = set(uc.vocabulary())
    for r in records:
        assert r["make"] in uc.MAKES and 0 <= r["age"] <= 14 and r["mileage"] > 0
        assert r["grade"] in uc.GRADES and r["price"] > 0
        phrases = [p.strip() for p in r["review"].rstrip(".").split(",")]
        assert len(phrases) == 4 and set(uc.tokenize(r["review"])) <= words
        assert sum(p in uc.SMALL_TALK for p in phrases) == 1 and sum(p in uc.GOOD + uc.BAD for p in phrases) == 3
        assert r["photo"]["style"] in uc.STYLES and len(r["photo"]["spots"]) <= uc.MAX_SPOTS
        assert len(uc.tokenize(r["review"])) <= uc.REVIEW_LENGTH


def test_the_hidden_factors_drive_both_targets_and_each_input_tells_its_own():
    records = uc.read("train")
    mechanical = np.array([r["hidden"]["mechanical"] for r in records])
    body = np.array([r["hidden"]["body"] for r in records])
    grade = np.array([uc.GRADES.index(r["grade"]) for r in records])
    good = np.array([sum(p.strip() in uc.GOOD for p in r["review"].rstrip(".").split(",")) for r in records])
    spots = np.array([len(r["photo"]["spots"]) for r in records])
    age = np.array([r["age"] for r in records])
    assert np.corrcoef(good, mechanical)[0, 1] > 0.6 and abs(np.corrcoef(good, body)[0, 1]) < 0.1
    assert np.corrcoef(spots, body)[0, 1] < -0.5 and abs(np.corrcoef(spots, mechanical)[0, 1]) < 0.1
    assert abs(np.corrcoef(age, mechanical)[0, 1]) < 0.1 and abs(np.corrcoef(age, body)[0, 1]) < 0.1
    assert np.corrcoef(grade, mechanical)[0, 1] > 0.4 and np.corrcoef(grade, body)[0, 1] > 0.4
    assert min(np.bincount(grade)) > 0.25 * len(records)  # three grades, none rare


def test_a_photo_shows_its_spec():
    spec = {"style": "suv", "shade": 200, "shift": [0, 0], "spots": [[0.0, 0.0], [0.5, 0.5]]}
    photo = uc.render(spec)
    assert photo.shape == (uc.HEIGHT, uc.WIDTH, 1) and photo.dtype == np.uint8
    clean = uc.render({**spec, "spots": []})
    assert (photo == 25).sum() == 8 and (clean == 25).sum() == 0  # two dark 2x2 marks
    assert (clean == 255).sum() > 0  # the tyres
    tall = (uc.render({**spec, "spots": []})[..., 0] > 0).any(axis=1).sum()
    low = (uc.render({**spec, "style": "hatchback", "spots": []})[..., 0] > 0).any(axis=1).sum()
    assert tall > low  # an SUV stands taller than a hatchback


def test_loader_gives_raw_features():
    (x_train, y_train), (x_val, _), (x_test, y_test) = uc.load_used_cars()
    assert len(x_train["make"]) == uc.SIZES["train"] and len(x_val["age"]) == uc.SIZES["validation"]
    assert x_train["photo"].shape == (uc.SIZES["train"], uc.HEIGHT, uc.WIDTH, 1)
    assert x_train["photo"].dtype == np.uint8 and x_train["age"].dtype == np.float32
    assert x_train["age"].shape == (uc.SIZES["train"], 1) and x_train["mileage"].shape == (uc.SIZES["train"], 1)
    first = uc.read("test")[0]
    assert x_test["make"][0] == first["make"] and x_test["review"][0] == first["review"]
    assert y_test["price"][0, 0] == np.float32(first["price"]) and uc.GRADES[y_test["grade"][0]] == first["grade"]
    assert y_train["grade"].dtype == np.int64 and y_train["price"].dtype == np.float32
