"""``python -m coursekit.data build|check [NAME ...]``: rebuild the datasets, or check the committed files."""

from __future__ import annotations

import filecmp
import sys
import tempfile
from pathlib import Path

from coursekit.data import BUILDERS, DATASETS_DIR


def generated_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != "README.md")


def check(name: str) -> list[str]:
    """Rebuild ``name`` in a temporary folder; return the files that differ from the committed ones."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        BUILDERS[name](fresh)
        committed = DATASETS_DIR / name
        names = sorted(set(generated_files(fresh)) | set(generated_files(committed)))
        return [n for n in names if not (fresh / n).exists() or not (committed / n).exists()
                or not filecmp.cmp(fresh / n, committed / n, shallow=False)]


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"build", "check"}:
        print(__doc__)
        return 2
    names = argv[1:] or sorted(BUILDERS)
    unknown = [n for n in names if n not in BUILDERS]
    if unknown:
        print(f"unknown dataset(s): {', '.join(unknown)}; known: {', '.join(sorted(BUILDERS))}")
        return 2
    status = 0
    for name in names:
        if argv[0] == "build":
            BUILDERS[name](DATASETS_DIR / name)
            print(f"built datasets/{name}")
        else:
            diff = check(name)
            print(f"datasets/{name}: " + ("identical to a fresh build" if not diff else f"differs: {diff}"))
            status |= bool(diff)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
