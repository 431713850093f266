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
