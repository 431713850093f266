"""A judge that grades one submission after another: ``python -m gradekit.judge`` (started by the classroom).

Starting Python, pytest and Keras costs a few seconds; a class pays it once per judge rather than once per
submission. The judge reads one job per line on stdin (JSON: ``{"args": [...], "cwd": ..., "log": ...}``), runs
pytest in-process with those arguments (the graders in ``tests/grading`` write the report), and answers one line
on stdout: ``{"exit": N}``. A job may carry ``"entropy"``, the class's seed for the graders' random draws
(:func:`gradekit.harness.set_run_entropy`); without it each job draws afresh. Everything pytest prints goes to
the job's log file.

The judge never runs submitted code (each submission has its own confined worker, started and stopped by the
graders' fixture), and nothing of one submission stays for the next: the answers, workers and records live in the
pytest session, which ends with the job, and Keras' state is cleared between jobs. A judge that overruns a job or
dies is killed and replaced by the classroom (:class:`gradekit.classroom.Judge`); it also ends itself after a job,
to be replaced, once it has grown past ``RESTART_MB`` of memory. A job may carry ``"spare"`` (a folder and the
workers' settings): the judge then starts the next job's worker as soon as it has answered
(:func:`gradekit.harness.start_spare`), so a judge kept for a learner's kernel answers a check in seconds.

It bounds its own memory (``COURSE_JUDGE_MEMORY_MB`` beyond its size once Keras is imported, default 8192): a
submission whose evidence would make it rebuild a huge model costs that exercise a MemoryError, not the machine. It
is a child subreaper: whatever a worker starts and leaves behind comes back to it, and is ended with the worker
(:func:`gradekit.sandbox.end_adopted`; inside bubblewrap the worker's PID namespace ends it anyway).
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
from pathlib import Path

# a judge this large (peak resident memory, MB) asks to be replaced after its job
RESTART_MB = float(os.environ.get("COURSE_JUDGE_RESTART_MB", 3000))
# how much the judge's address space may grow once Keras is imported (MB)
MEMORY_MB = int(os.environ.get("COURSE_JUDGE_MEMORY_MB", 8192))


def main() -> int:
    answers = os.fdopen(os.dup(1), "w", buffering=1)  # the protocol's channel; fd 1 and 2 go to each job's log
    from gradekit.lean import import_keras

    import_keras()  # the point of a judge that lasts: Keras is imported once (without what grading never uses)
    import pytest

    from gradekit import sandbox

    sandbox.become_subreaper()
    sandbox.limit_memory(MEMORY_MB)
    if os.environ.get("COURSE_JUDGE_SPARE"):  # a judge started ahead of its first job starts that job's worker too
        _spare(json.loads(os.environ["COURSE_JUDGE_SPARE"]))
    gc.freeze()  # what was imported lives as long as the judge: full collections need not walk it again
    from gradekit import harness

    for line in sys.stdin:
        job = json.loads(line)
        harness.set_run_entropy(job.get("entropy"))  # the class's seed, or fresh draws for this job
        with open(job["log"], "ab") as log:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            os.chdir(job["cwd"])
            try:
                code = int(pytest.main(list(job["args"])))
            except BaseException as error:  # noqa: BLE001 - report it, the classroom decides
                print(f"the judge failed: {type(error).__name__}: {error}", file=sys.stderr)
                code = 3
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
        _forget()
        gc.freeze()  # the graders' modules, imported by the first job, likewise
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        retiring = peak_mb > RESTART_MB  # then the classroom starts a fresh judge for the next job
        answers.write(json.dumps({"exit": code, "retiring": retiring}) + "\n")
        if retiring:
            break
        if job.get("spare"):  # a worker for the next job, importing Keras while nobody waits for it
            _spare(job["spare"])
    return 0


def _spare(settings: dict) -> None:
    from gradekit import harness

    try:
        harness.start_spare(Path(settings["root"]), float(settings["call_timeout"]), int(settings["memory_mb"]),
                            int(settings["scratch_mb"]), bool(settings["require_sandbox"]))
    except (KeyError, TypeError, ValueError, OSError) as error:
        print(f"no spare worker: {type(error).__name__}: {error}", file=sys.stderr)


def _forget() -> None:
    """Clear Keras' global state and collect what the job left."""
    import keras

    keras.backend.clear_session()
    gc.collect()


if __name__ == "__main__":
    sys.exit(main())
