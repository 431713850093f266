"""JSON lines, the format of the generated datasets: one record per line, one file per split."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path


def write_jsonl(path: Path, records: Iterable[dict]) -> None:
    """Write records to ``path``, one JSON object per line."""
    path.write_text("".join(json.dumps(record) + "\n" for record in records))


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSON-lines file."""
    return [json.loads(line) for line in path.read_text().splitlines()]


def write_numbered_splits(folder: Path, records: list[dict], sizes: dict[str, int], key: str) -> None:
    """Deal consecutive records out to one file per split (``folder/SPLIT.jsonl``, in the order of ``sizes``), each
    record numbered under ``key`` across all splits."""
    folder.mkdir(parents=True, exist_ok=True)
    start = 0
    for split, size in sizes.items():
        write_jsonl(folder / f"{split}.jsonl",
                    ({key: start + i, **record} for i, record in enumerate(records[start:start + size])))
        start += size
