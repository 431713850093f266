"""Benchmark: grade one full submission, then a class of 30 full submissions, as a teacher would (``make benchmark``).

    python tests/benchmarks/bench_grading.py [--students 30] [--jobs N] [--out build/benchmark]

The class is a mix: correct work (as notebooks and as modules), wrong answers (every lesson's answers with an
activation or a merge changed), and broken work (the student edition's stubs, a notebook that is not JSON, a syntax
error, an endless loop in one exercise, a memory hog in one exercise). Prints the wall time of each part and writes
``OUT/benchmark.json``. Not a test: timings depend on the machine; the notes quote the 2-core machine's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "lessons"), str(ROOT / "tests")]

from coursekit import student_edition  # noqa: E402
from gradekit import classroom  # noqa: E402

WRONG_EDITS = [  # (old, new): each turns a correct answer into a wrong one somewhere in the course
    ('activation="softmax", name="digit"', 'activation="relu", name="digit"'),
    ('activation="sigmoid"', 'activation="relu"'),
    ("layers.concatenate(", "layers.add("),
    ('padding="same"', 'padding="valid"'),
]


def solutions() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((ROOT / "solutions").glob("lesson[0-9][0-9].py"))}


def make_class(folder: Path, students: int, edition: Path) -> dict[str, str]:
    """Write ``students`` submissions into ``folder``; returns student -> kind."""
    kinds = ["correct-notebooks", "correct-modules", "wrong", "wrong", "stubs", "not-json", "syntax-error",
             "endless-loop", "memory-hog", "correct-modules"]
    made = {}
    for i in range(students):
        kind = kinds[i % len(kinds)]
        target = folder / f"student{i:02d}"
        target.mkdir(parents=True)
        if kind == "correct-notebooks":
            for nb in sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb")):
                shutil.copy2(nb, target / nb.name)
        elif kind == "stubs":
            for nb in sorted((edition / "lessons").glob("[0-9][0-9]_*.ipynb")):
                shutil.copy2(nb, target / nb.name)
        elif kind == "not-json":
            for nb in sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb")):
                (target / nb.name).write_text('{"cells": [')
        else:
            for name, source in solutions().items():
                if kind == "wrong":
                    for old, new in WRONG_EDITS:
                        source = source.replace(old, new)
                elif kind == "syntax-error" and name == "lesson02.py":
                    source = source.replace("def build_qa_model(", "def build_qa_model((")
                elif kind == "endless-loop" and name == "lesson04.py":
                    loop = "    # BEGIN SOLUTION\n    while True:\n        pass\n"
                    source = source.replace("    # BEGIN SOLUTION\n", loop, 1)  # the first exercise only
                elif kind == "memory-hog" and name == "lesson01.py":
                    source = source.replace("    # BEGIN SOLUTION\n    pixels =",
                                            "    # BEGIN SOLUTION\n    hog = [bytearray(10**8) for _ in range(10**4)]\n"
                                            "    pixels =", 1)
                (target / name).write_text(source)
        made[target.name] = kind
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "benchmark")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    edition = out / "edition"
    student_edition.build(edition)
    kinds = make_class(out / "class", args.students, edition)

    started = time.perf_counter()
    single = classroom.grade_submission(ROOT / "solutions", None, None, student="solutions", jobs=args.jobs)
    single_seconds = time.perf_counter() - started
    print(f"one full submission (the reference solutions): {single['earned']:g} / {single['possible']:g} in "
          f"{single_seconds:.1f} s", flush=True)

    started = time.perf_counter()
    reports = classroom.batch(out / "class", out / "gradebook", args.jobs, None, dict(classroom.DEFAULTS))
    class_seconds = time.perf_counter() - started
    by_kind: dict[str, list] = {}
    for report in reports:
        by_kind.setdefault(kinds[report["student"]], []).append((report["earned"], report["seconds"]))
    print(f"a class of {len(reports)} full submissions, {args.jobs} at a time: {class_seconds:.0f} s wall")
    for kind, rows in sorted(by_kind.items()):
        points = sorted({p for p, _ in rows})
        seconds = [s for _, s in rows]
        print(f"  {kind:<18} {len(rows):>3}  points {', '.join(f'{p:g}' for p in points):<14} "
              f"{min(seconds):.0f}–{max(seconds):.0f} s each")
    result = {"cpus": os.cpu_count(), "jobs": args.jobs, "single_seconds": round(single_seconds, 1),
              "single_points": single["earned"], "possible": single["possible"],
              "class_students": len(reports), "class_seconds": round(class_seconds, 1),
              "by_kind": {k: [{"points": p, "seconds": s} for p, s in v] for k, v in by_kind.items()}}
    (out / "benchmark.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
