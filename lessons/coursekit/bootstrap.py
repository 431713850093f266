"""Set-up for `make course` and `make test`: the virtual environment, Graphviz and (on Linux) bubblewrap.

Runs with the system Python and the standard library only, before `.venv` exists:

    python3 lessons/coursekit/bootstrap.py

1. Checks the Python version (3.11 or newer).
2. Creates `.venv` if it is missing, and installs `requirements.txt` into it when the file changed since the
   last install (a hash is kept in `.venv/.requirements.sha256`), so a second run costs a fraction of a second.
3. Makes sure Graphviz's `dot` program is on the PATH (`plot_model` needs it, and pip cannot install it):
   with apt-get (as root or through password-less sudo) or Homebrew where that is possible.
4. On Linux, tries to install bubblewrap (`bwrap`), the sandbox classroom grading runs each submission in, the same
   way. It is optional: without it grading falls back to weaker layers (gradekit/sandbox.py), and the set-up says
   so in one line, unless grading requires it (COURSE_REQUIRE_SANDBOX=1), when a missing bwrap is an error.

Optional tools have their own pinned file, `requirements-NAME.txt`, installed into `.venv` on first use:

    python3 lessons/coursekit/bootstrap.py --extra lab              # JupyterLab, for `make lab`
    python3 lessons/coursekit/bootstrap.py --extra lint             # check-jsonschema and zizmor, for `make lint`
    python3 lessons/coursekit/bootstrap.py --extra actionlint --optional  # actionlint too, where it installs
    python3 lessons/coursekit/bootstrap.py --extra jax              # JAX, for `make test BACKEND=jax` and others
    python3 lessons/coursekit/bootstrap.py --extra browser          # Playwright, for the browser tests of make test
    python3 lessons/coursekit/bootstrap.py --extra site             # the site generator, for `make site`

The browser extra also needs two Debian packages that pip cannot install, Chromium and a CJK font
(`chromium fonts-noto-cjk`): like Graphviz, they are installed with apt-get where that is possible.

It is installed when it or `requirements.txt` (which constrains it) changed since its last install (a hash is kept
in `.venv/.requirements-NAME.sha256`). With `--optional` a failed install is not an error: it is reported in one
line and remembered, so later runs skip the tool quickly until the file changes (or the stamp is deleted).

Whatever goes wrong ends in one sentence that says what to do, and exit status 1; never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv"
REQUIREMENTS = ROOT / "requirements.txt"
STAMP = VENV / ".requirements.sha256"
MIN_PYTHON = (3, 11)

GRAPHVIZ_FIX = (
    "Graphviz is missing (plot_model needs its 'dot' program): install it with "
    "'sudo apt-get install graphviz' (Debian/Ubuntu), 'brew install graphviz' (macOS), "
    "'conda install graphviz' or from https://graphviz.org/download/, then run the command again."
)


BUBBLEWRAP_FIX = (
    "bubblewrap, the grading sandbox, is missing: install it with 'sudo apt-get install bubblewrap' (Debian/Ubuntu) "
    "or 'sudo dnf install bubblewrap' (Fedora), then run the command again."
)


BROWSER_FIX = (
    "the browser tests need Chromium and a CJK font: install them with "
    "'sudo apt-get install chromium fonts-noto-cjk' (Debian/Ubuntu), then run the command again."
)


class SetupError(Exception):
    """A set-up step failed; the message is the one sentence the user sees."""


def say(message: str) -> None:
    print(f"[setup] {message}", flush=True)


def venv_python(venv: Path = VENV) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def check_python(version: tuple[int, ...] = tuple(sys.version_info[:2])) -> None:
    if tuple(version) < MIN_PYTHON:
        raise SetupError(
            f"This course needs Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer, but '{sys.executable}' is "
            f"{version[0]}.{version[1]}: run make with PYTHON=/path/to/python3.11 (or newer)."
        )


def requirements_hash() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def extra_requirements(name: str) -> Path:
    return ROOT / f"requirements-{name}.txt"


def extra_stamp(name: str) -> Path:
    return VENV / f".requirements-{name}.sha256"


def extra_hash(name: str) -> str:
    """The hash of an extra's pins together with requirements.txt's, which constrain them."""
    return hashlib.sha256(REQUIREMENTS.read_bytes() + b"\0" + extra_requirements(name).read_bytes()).hexdigest()


def run_quiet(cmd: list[str], what: str, fix: str, log: Path | None = None) -> None:
    """Run a command; on failure show its last lines of output (or, given ``log``, write all of it there) and raise a
    one-sentence SetupError."""
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        if log is not None:
            log.write_text(proc.stdout)
            raise SetupError(f"{what} failed (exit status {proc.returncode}; its output is in {log}): {fix}")
        tail = "\n".join(proc.stdout.strip().splitlines()[-15:])
        if tail:
            print(tail, file=sys.stderr)
        raise SetupError(f"{what} failed (exit status {proc.returncode}): {fix}")


def ensure_venv() -> None:
    py = venv_python()
    if not py.exists():
        say(f"creating {VENV.relative_to(ROOT)} with Python {platform.python_version()}")
        run_quiet(
            [sys.executable, "-m", "venv", str(VENV)],
            "Creating the virtual environment",
            "install the venv module (Debian/Ubuntu: 'sudo apt-get install python3-venv') and run the command again.",
        )
    ensure_course_path()
    wanted = requirements_hash()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    say("installing requirements.txt into .venv (first run: a few minutes)")
    switch_tensorflow(py)
    run_quiet(
        [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(REQUIREMENTS)],
        "Installing requirements.txt",
        "check the network connection to PyPI (or delete .venv to start afresh) and run the command again.",
    )
    STAMP.write_text(wanted + "\n")
    say("requirements installed")


def site_packages(venv: Path = VENV) -> list[Path]:
    """The site-packages folders of a virtual environment (POSIX and Windows layouts)."""
    return [*venv.glob("lib/python3*/site-packages"), *venv.glob("Lib/site-packages")]


def ensure_course_path(venv: Path = VENV) -> None:
    """Put lessons/ on the path of .venv's Python (a .pth file), so that a notebook imports ``coursekit`` from any
    folder, however Jupyter was started: the Chinese edition's notebooks live in lessons/zh-CN/."""
    line = str(ROOT / "lessons") + "\n"
    for site in site_packages(venv):
        path = site / "hands_on_keras_course.pth"
        if not path.exists() or path.read_text() != line:
            path.write_text(line)


def tensorflow_distribution(system: str = sys.platform, machine: str = platform.machine()) -> str:
    """The TensorFlow that requirements.txt installs here (its environment markers say the same): the CPU-only build
    on Linux x86-64 (half the download of the full one, whose GPU kernels the course never uses), else the full one,
    which on macOS and Windows is CPU-only anyway."""
    return "tensorflow-cpu" if system == "linux" and machine == "x86_64" else "tensorflow"


def installed_distributions(venv: Path = VENV) -> set[str]:
    """The names of the distributions installed in ``venv`` (normalised: lower case, '-' for '_')."""
    return {info.name.split("-")[0].lower().replace("_", "-")
            for site in site_packages(venv) for info in site.glob("*.dist-info")}


def switch_tensorflow(py: Path, venv: Path = VENV) -> None:
    """tensorflow and tensorflow-cpu install the same files: moving a .venv from one to the other removes both
    first, or pip would take the second as installed while the first one's removal deleted its files."""
    wanted = tensorflow_distribution()
    other = {"tensorflow", "tensorflow-cpu"} - {wanted}
    if other & installed_distributions(venv):
        say(f"replacing {other.pop()} with {wanted} in .venv")
        run_quiet([str(py), "-m", "pip", "uninstall", "--disable-pip-version-check", "-q", "-y", "tensorflow",
                   "tensorflow-cpu"], "Removing the previous TensorFlow",
                  "delete .venv to start afresh and run the command again.")


# JupyterLab's settings for the course (the lab extra): a learner opening a lesson is not asked, over it, whether
# JupyterLab may fetch "official Jupyter news" or check for updates (the course pins its version).
LAB_OVERRIDES = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}


def lab_overrides(venv: Path = VENV) -> Path:
    """Write JupyterLab's settings overrides into the environment (``share/jupyter/lab/settings/overrides.json``),
    keeping any other setting a teacher put there; the file's path."""
    path = venv / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    try:
        current = json.loads(path.read_text()) if path.exists() else {}
    except ValueError:
        current = {}
    if not isinstance(current, dict):
        current = {}
    for plugin, settings in LAB_OVERRIDES.items():
        current.setdefault(plugin, {}).update(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(current, indent=2) + "\n")
    return path


def ensure_extra(name: str, optional: bool = False) -> bool:
    """Install requirements-NAME.txt into .venv unless it is there already; False when an optional one is not.
    The lab extra also gets the course's JupyterLab settings (:func:`lab_overrides`)."""
    if name == "lab" and VENV.is_dir():
        lab_overrides()
    if name == "browser":
        ensure_browser()
    path = extra_requirements(name)
    if not path.is_file():
        known = sorted(p.name.removeprefix("requirements-").removesuffix(".txt")
                       for p in ROOT.glob("requirements-*.txt"))
        raise SetupError(f"There is no {path.name} for '--extra {name}': use one of {', '.join(known) or 'none'}.")
    stamp = extra_stamp(name)
    wanted = extra_hash(name)
    done = stamp.read_text().strip() if stamp.exists() else ""
    if done == wanted:
        return True
    if optional and done == f"unavailable {wanted}":
        say(f"{path.name} is not installed (it could not be, last time; delete {stamp.relative_to(ROOT)} to retry)")
        return False
    say(f"installing {path.name} into .venv (first use)")
    try:
        run_quiet(
            [str(venv_python(VENV)), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(path)],
            f"Installing {path.name}",
            "check the network connection (or delete .venv to start afresh) and run the command again.",
            # an optional extra that cannot be installed is expected on some machines: one line, no pip traceback
            log=VENV / f"install-{name}.log" if optional else None,
        )
    except SetupError:
        if not optional:
            raise
        stamp.write_text(f"unavailable {wanted}\n")
        say(f"installing {path.name} failed (pip's output: {(VENV / f'install-{name}.log').relative_to(ROOT)}): "
            f"going on without it (delete {stamp.relative_to(ROOT)} to retry)")
        return False
    stamp.write_text(wanted + "\n")
    say(f"{path.name} installed")
    return True


USAGE = "usage: python3 lessons/coursekit/bootstrap.py [--extra NAME [--optional]]"


def parse_args(argv: Sequence[str]) -> tuple[str | None, bool]:
    """(the extra to install or None, whether it is optional); a malformed command line is a SetupError."""
    args = list(argv)
    optional = "--optional" in args
    if optional:
        args.remove("--optional")
    if len(args) == 1 and args[0].startswith("--extra="):
        args = ["--extra", args[0].removeprefix("--extra=")]
    if not args and not optional:
        return None, False
    if len(args) == 2 and args[0] == "--extra" and args[1][:1].isalnum() and args[1].replace("-", "").isalnum():
        return args[1], optional
    raise SetupError(f"Unexpected arguments {' '.join(argv)!r}: {USAGE}.")


def apt_install_command(package: str) -> list[str] | None:
    """The command that can install a Debian package here without asking for a password, or None."""
    if platform.system() != "Linux" or not shutil.which("apt-get"):
        return None
    prefix: list[str] = []
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        if not shutil.which("sudo"):
            return None
        if subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode != 0:
            return None
        prefix = ["sudo", "-n"]
    script = f"apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {package}"
    return prefix + ["sh", "-c", script]


def graphviz_install_command() -> list[str] | None:
    """The command that can install Graphviz here without asking for a password, or None."""
    if platform.system() == "Darwin" and shutil.which("brew"):
        return ["brew", "install", "graphviz"]
    return apt_install_command("graphviz")


def ensure_graphviz() -> None:
    if shutil.which("dot"):
        return
    cmd = graphviz_install_command()
    if cmd is None:
        raise SetupError(GRAPHVIZ_FIX)
    say("installing Graphviz (plot_model draws its diagrams with it)")
    run_quiet(cmd, "Installing Graphviz", GRAPHVIZ_FIX)
    if not shutil.which("dot"):
        raise SetupError(GRAPHVIZ_FIX)


def browser_missing() -> list[str]:
    """The Debian packages of the browser tests that are missing here: Chromium and a CJK font."""
    missing = [] if shutil.which("chromium") else ["chromium"]
    fonts = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True) if shutil.which("fc-list") else None
    if fonts is None or not fonts.stdout.strip():
        missing.append("fonts-noto-cjk")
    return missing


def ensure_browser() -> None:
    """Chromium and a CJK font for the browser tests (the browser extra), installed with apt-get where it can be."""
    missing = browser_missing()
    if not missing:
        return
    cmd = apt_install_command(" ".join(missing))
    if cmd is None:
        raise SetupError(BROWSER_FIX)
    say(f"installing {' and '.join(missing)} (the browser tests open the site and the class report in Chromium)")
    run_quiet(cmd, f"Installing {' '.join(missing)}", BROWSER_FIX)
    if browser_missing():
        raise SetupError(BROWSER_FIX)


def bubblewrap_install_command() -> list[str] | None:
    """The command that can install bubblewrap here without asking for a password, or None (it is Linux's)."""
    return apt_install_command("bubblewrap")


def ensure_bubblewrap(required: bool | None = None) -> bool:
    """Install bubblewrap on Linux where it can be; True when bwrap is there. Missing, it is an error only when
    grading requires it (COURSE_REQUIRE_SANDBOX=1); otherwise one line says grading falls back to weaker layers."""
    if platform.system() != "Linux" or shutil.which("bwrap"):
        return platform.system() == "Linux"
    if required is None:
        required = os.environ.get("COURSE_REQUIRE_SANDBOX", "").strip().lower() not in ("", "0", "false", "no")
    cmd = bubblewrap_install_command()
    if cmd is not None:
        say("installing bubblewrap (the sandbox classroom grading runs submissions in)")
        try:
            run_quiet(cmd, "Installing bubblewrap", BUBBLEWRAP_FIX)
        except SetupError:
            if required:
                raise
    if shutil.which("bwrap"):
        return True
    if required:
        raise SetupError(BUBBLEWRAP_FIX)
    say("bubblewrap is not installed: classroom grading falls back to weaker layers (Landlock and an audit hook); "
        "install it with 'sudo apt-get install bubblewrap'")
    return False


def main(argv: Sequence[str] = ()) -> int:
    """The set-up (no arguments), or with `--extra NAME` the set-up's virtual environment and an optional file."""
    try:
        check_python()
        extra, optional = parse_args(argv)
        ensure_venv()
        if extra is None:
            ensure_graphviz()
            ensure_bubblewrap()
        else:
            ensure_extra(extra, optional)
    except SetupError as error:
        print(f"[setup] {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("[setup] interrupted: run the command again to finish the set-up.", file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - the promise is one sentence, never a traceback
        print(f"[setup] unexpected failure ({type(error).__name__}: {error}): "
              "delete .venv and run the command again.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
