"""Run the lesson notebooks headless and print the results table (``make course``).

    python -m coursekit.run_course [01 02 ...] [--store]

Each lesson runs in a fresh kernel of this Python environment, from the ``lessons/`` folder, with progress shown
cell by cell, on the Keras backend that ``KERAS_BACKEND`` names (``tensorflow`` unless set; ``make course
BACKEND=jax`` sets it), which the results table names. The executed copies, the diagrams and the results go to
``build/``:

    build/executed/NN_name.ipynb   build/diagrams/NN_name/*.png   build/logs/NN_name.log   build/results.{json,md}

``--store`` (for course authors) writes the fresh outputs back into ``lessons/``: these are the reference outputs
that nbval compares against. TensorFlow's C++ log lines on stderr are left out of the stored copy.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError
from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager

LESSONS_DIR = Path(__file__).resolve().parents[1]
ROOT = LESSONS_DIR.parent
BUILD = ROOT / "build"
TF_LOG_LINE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\).*|[IWEF]\d{4} .*)$")


@dataclass
class LessonRun:
    path: Path
    seconds: float = 0.0
    error: str = ""
    results: list[dict] = field(default_factory=list)

    @property
    def number(self) -> str:
        return self.path.name.split("_", 1)[0]

    @property
    def title(self) -> str:
        return self.path.stem.split("_", 1)[-1].replace("_", " ")


def lesson_paths(selected: list[str]) -> list[Path]:
    paths = sorted(LESSONS_DIR.glob("[0-9][0-9]_*.ipynb"))
    if selected:
        paths = [p for p in paths if any(p.name.startswith(s.zfill(2)) for s in selected)]
    return paths


class Progress:
    """One line per lesson, redrawn in place on a terminal, a dot per cell otherwise (CI logs)."""

    def __init__(self, label: str, total: int):
        self.label, self.total, self.done = label, total, 0
        self.tty = sys.stdout.isatty()
        self.started = time.perf_counter()
        print(f"{label} ", end="", flush=True)

    def step(self) -> None:
        self.done += 1
        if self.tty:
            bar = "#" * int(20 * self.done / max(self.total, 1))
            elapsed = time.perf_counter() - self.started
            print(f"\r{self.label} [{bar:<20}] {self.done}/{self.total} cells {elapsed:5.1f}s", end="", flush=True)
        else:
            print(".", end="", flush=True)

    def finish(self, status: str) -> None:
        print(f" {status}", flush=True)


def strip_tf_logs(nb: nbformat.NotebookNode) -> None:
    """Drop TensorFlow's C++ log lines (stderr) from the outputs: noise for a reader, and machine-specific."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                lines = [ln for ln in out["text"].splitlines(keepends=True) if not TF_LOG_LINE.match(ln.rstrip("\n"))]
                if not lines:
                    continue
                out["text"] = "".join(lines)
            kept.append(out)
        cell["outputs"] = kept


def run_lesson(path: Path, store: bool, timeout: int) -> LessonRun:
    run = LessonRun(path)
    nb = nbformat.read(path, as_version=4)
    results_file = BUILD / "results" / f"{path.stem}.json"
    results_file.unlink(missing_ok=True)
    os.environ["COURSE_RESULTS_FILE"] = str(results_file)
    os.environ["COURSE_DIAGRAMS_DIR"] = str(BUILD / "diagrams" / path.stem)
    code_cells = sum(1 for c in nb.cells if c.cell_type == "code")
    progress = Progress(f"lesson {run.number}", code_cells)
    km = KernelManager(kernel_name=CURRENT_ENV_KERNEL_NAME, kernel_spec_manager=NbvalKernelspecManager())
    client = NotebookClient(
        nb, km=km, timeout=timeout, record_timing=False, allow_errors=False,
        resources={"metadata": {"path": str(LESSONS_DIR)}},
        on_cell_executed=lambda **_: progress.step(),
    )
    started = time.perf_counter()
    log = BUILD / "logs" / f"{path.stem}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(log, "w") as kernel_log:  # the kernel's own stderr (TensorFlow start-up lines) goes here
            client.execute(stdout=kernel_log, stderr=kernel_log)
    except (CellExecutionError, CellTimeoutError) as error:
        run.error = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
    except Exception as error:  # noqa: BLE001 - one broken lesson must not stop the others
        run.error = f"{type(error).__name__}: {error}"
    run.seconds = time.perf_counter() - started
    progress.finish(f"FAILED ({run.error})" if run.error else f"ok, {run.seconds:.1f} s")
    strip_tf_logs(nb)
    (BUILD / "executed").mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, BUILD / "executed" / path.name)
    if store and not run.error:
        nbformat.write(nb, path)
    if results_file.exists():
        run.results = json.loads(results_file.read_text())
    return run


def backend() -> str:
    """The Keras backend the lessons' kernels run on: they inherit this process's environment, where importing
    coursekit has set KERAS_BACKEND unless it was set already."""
    return os.environ.get("KERAS_BACKEND") or "tensorflow"


def results_title(backend_name: str, keras_version: str) -> str:
    """The line above the results table: which Keras, on which backend."""
    return f"Keras {keras_version} on the {backend_name} backend"


def results_table(runs: list[LessonRun]) -> str:
    header = ["lesson", "title", "seconds", "held-out metric", "model", "baseline", "baseline value", "status"]
    rows = []
    for run in runs:
        status = "FAILED" if run.error else "ok"
        entries = run.results or [{}]
        for i, entry in enumerate(entries):
            rows.append([
                run.number if i == 0 else "",
                run.title if i == 0 else "",
                f"{run.seconds:.1f}" if i == 0 else "",
                entry.get("metric", "-"),
                f"{entry['value']:.4f}" if "value" in entry else "-",
                entry.get("baseline", "-"),
                f"{entry['baseline_value']:.4f}" if "baseline_value" in entry else "-",
                status if i == 0 else "",
            ])
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lessons", nargs="*", help="lesson numbers to run (default: all)")
    parser.add_argument("--store", action="store_true", help="write the outputs back into lessons/ (authors)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    paths = lesson_paths(args.lessons)
    if not paths:
        print("no lesson notebooks matched", file=sys.stderr)
        return 1
    print(f"Keras backend: {backend()} (KERAS_BACKEND; make course BACKEND=jax for JAX)", flush=True)
    # the lessons' check cells record their points here, not in a learner's progress file (coursekit.check)
    BUILD.mkdir(exist_ok=True)
    os.environ.setdefault("COURSE_PROGRESS", str(BUILD / "course-progress.json"))
    total = time.perf_counter()
    runs = [run_lesson(p, args.store, args.timeout) for p in paths]
    title = results_title(backend(), importlib.metadata.version("keras"))
    table = results_table(runs)
    BUILD.mkdir(exist_ok=True)
    (BUILD / "results.md").write_text(f"{title}\n\n{table}\n")
    (BUILD / "results.json").write_text(json.dumps(
        [{"lesson": r.number, "title": r.title, "backend": backend(), "seconds": round(r.seconds, 2),
          "error": r.error, "results": r.results} for r in runs], indent=2))
    print(f"\nResults ({len(runs)} lessons, {time.perf_counter() - total:.0f} s; executed notebooks and diagrams "
          f"in build/):\n")
    print(title)
    print(table)
    failed = [r.number for r in runs if r.error]
    if failed:
        print(f"\nFailed lessons: {', '.join(failed)} (see build/executed/ for the traceback).", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
