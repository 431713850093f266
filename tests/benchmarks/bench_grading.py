"""Benchmark: the in-notebook check as a learner uses it, then one full submission and a class of 30 full
submissions graded as a teacher would (``make benchmark``).

    python tests/benchmarks/bench_grading.py [--students 30] [--jobs N] [--out build/benchmark] [--checks-only]

The checks: a kernel runs lesson 01's first exercise as a stub, checks it (the session's first check), runs the
reference answer and checks at once (a later check before the worker started after the last one is ready: the
worst case), then, after 10 s of "reading the table", checks again (a later check as a learner makes it), then
checks every exercise of the lesson after running its cells (``ck.check()``).

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


def bench_checks(folder: Path) -> dict[str, float]:
    """Seconds each check cell took in a real kernel (nbclient's timing of the cell)."""
    from datetime import datetime

    import nbformat
    from nbclient import NotebookClient

    lesson = nbformat.read(next((ROOT / "lessons").glob("01_*.ipynb")), as_version=4)
    lesson_cells = [c.source for c in lesson.cells if "exercise" in c.metadata.get("tags", [])]
    stub = "def build_functional_mlp() -> keras.Model:\n    raise NotImplementedError"
    steps = [("import", "import coursekit as ck\nimport keras"), ("stub", stub),
             ("first check", 'ck.check("build_functional_mlp")'), ("answer", lesson_cells[0]),
             ("later check at once", 'ck.check("build_functional_mlp")'), ("reading", "import time\ntime.sleep(10)"),
             ("later check", 'ck.check("build_functional_mlp")'), ("the lesson's exercises", "\n\n".join(lesson_cells)),
             ("reading again", "time.sleep(10)"), ("whole lesson check", "ck.check()")]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for _, source in steps])
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["COURSE_PROGRESS"] = str(folder / "course-progress.json")
    NotebookClient(nb, timeout=600, kernel_name="python3", record_timing=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    seconds = {}
    for (name, _), cell in zip(steps, nb.cells, strict=True):
        timing = cell.metadata.get("execution", {})
        begin, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if "check" in name and begin and end:
            seconds[name] = round((datetime.fromisoformat(end.replace("Z", "+00:00"))
                                   - datetime.fromisoformat(begin.replace("Z", "+00:00"))).total_seconds(), 2)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "benchmark")
    parser.add_argument("--checks-only", action="store_true", help="time the in-notebook check only")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    checks = bench_checks(out / "learner")
    print(f"in-notebook checks ({os.environ.get('KERAS_BACKEND', 'tensorflow')}): "
          + ", ".join(f"{name} {s:.1f} s" for name, s in checks.items()), flush=True)
    if args.checks_only:
        (out / "benchmark.json").write_text(json.dumps({"cpus": os.cpu_count(), "checks": checks}, indent=2) + "\n")
        return 0
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
    result = {"cpus": os.cpu_count(), "checks": checks, "jobs": args.jobs, "single_seconds": round(single_seconds, 1),
              "single_points": single["earned"], "possible": single["possible"],
              "class_students": len(reports), "class_seconds": round(class_seconds, 1),
              "by_kind": {k: [{"points": p, "seconds": s} for p, s in v] for k, v in by_kind.items()}}
    (out / "benchmark.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
