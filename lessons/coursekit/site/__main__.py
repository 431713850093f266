"""``python -m coursekit.site OUT``: build the course's website into OUT (``make site``: OUT is build/site)."""

from __future__ import annotations

import sys
from pathlib import Path

from coursekit import site


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0].startswith("-"):
        print(site.__doc__)
        return 2
    try:
        site.build(Path(argv[0]))
    except site.BuildError as error:
        print(f"[site] {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
