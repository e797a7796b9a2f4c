"""The installer's early failures, record keeping and shortcut files: fast, no real install."""

from __future__ import annotations

import os
import plistlib
import struct
import sys
import zipfile
from pathlib import Path

import pytest

from gpu_assistant_setup import SetupError, checks, environment, main, shortcuts
from gpu_assistant_setup.layout import layout_for
from gpu_assistant_setup.manifest import Manifest
from installer_helpers import CHECKOUT, exec_argv, installer_env, run_install, tree

DESKTOP = CHECKOUT / "resources" / "desktop"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


def shim(folder: Path, version: str) -> Path:
    """A fake `python` that answers every question with this version."""
    path = folder / "python"
    path.write_text(f"#!/bin/sh\necho {version}\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def test_too_old_python_is_refused_with_what_to_do(home, tmp_path):
    env = installer_env(home, tmp_path, PYTHON=str(shim(tmp_path, "3.8")))
    done = run_install([], env, timeout=60)
    assert done.returncode == 2
    assert "Python 3.10 or newer is needed" in done.stderr
    assert "is Python 3.8" in done.stderr and "PYTHON=" in done.stderr
    assert tree(home) == set()


def test_missing_python_is_named(home, tmp_path):
    env = installer_env(home, tmp_path, PYTHON=str(tmp_path / "no-such-python"))
    done = run_install([], env, timeout=60)
    assert done.returncode == 2 and "no Python found" in done.stderr


def test_python_without_tensorflow_release_is_refused(monkeypatch, tmp_path):
    current = sys.version_info[:2]
    monkeypatch.setattr(checks, "python_range", lambda _: checks.PythonRange((3, 0), current))
    monkeypatch.setenv("PATH", str(tmp_path))  # and no other Python to switch to
    args = main.build_parser().parse_args([])
    with pytest.raises(SetupError) as caught:
        main.preflight(args, layout_for("linux", {"HOME": str(tmp_path)}))
    assert "cannot run TensorFlow" in caught.value.message
    assert f"3.0 to {current[0]}.{current[1] - 1}" in caught.value.fix


def test_python_range_comes_from_the_app_being_installed(tmp_path):
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((CHECKOUT / "pyproject.toml").read_text("utf-8"))["project"]
    supported = checks.python_range(CHECKOUT)
    assert f">={supported.minimum[0]}.{supported.minimum[1]}" == project["requires-python"]
    assert supported.contains(sys.version_info[:2])  # the test venv has TensorFlow

    wheel = tmp_path / "app-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(
            "app-1.0.dist-info/METADATA",
            'Requires-Python: >=3.9\nRequires-Dist: tensorflow>=2.16; python_version < "3.13"\n',
        )
    from_wheel = checks.python_range(wheel)
    assert (from_wheel.minimum, from_wheel.below) == ((3, 9), (3, 13))
    assert from_wheel.versions_newest_first() == [(3, 12), (3, 11), (3, 10), (3, 9)]


def test_not_enough_disk_fails_before_creating_anything(home, tmp_path):
    env = installer_env(home, tmp_path, GPU_ASSISTANT_SETUP_MIN_FREE_GB="1e9")
    done = run_install(["--no-launch"], env, timeout=60)
    assert done.returncode == 2
    assert "Not enough disk space" in done.stderr and "what to do" in done.stderr
    assert tree(home) == set()


def test_unreachable_index_fails_early(home, tmp_path):
    env = installer_env(home, tmp_path)
    done = run_install(["--index-url", "http://127.0.0.1:9/simple/"], env, timeout=60)
    assert done.returncode == 2
    assert "Cannot reach the package index" in done.stderr and "--wheelhouse" in done.stderr
    assert tree(home) == set()


def test_missing_wheelhouse_is_named(home, tmp_path):
    done = run_install(["--wheelhouse", str(tmp_path / "nope")], installer_env(home, tmp_path))
    assert done.returncode == 2 and "is not a folder" in done.stderr


def test_uninstall_without_an_install_touches_nothing(home, tmp_path):
    done = run_install(["--uninstall"], installer_env(home, tmp_path), timeout=60)
    assert done.returncode == 0 and "Nothing to remove" in done.stdout
    assert tree(home) == set()


def test_manifest_removes_only_what_it_created(home):
    layout = layout_for("linux", {"HOME": str(home)})
    (home / ".local" / "share").mkdir(parents=True)  # the user's, before the install
    manifest = Manifest(layout.manifest)
    manifest.make_dirs(layout.root)
    manifest.write_file(layout.root / "a" / "b.txt", b"x")
    (layout.root / "a" / "mine.txt").write_text("the user's", encoding="utf-8")
    manifest.add(layout.manifest, "file")
    manifest.save()

    loaded = Manifest.load(layout.manifest)
    kept = loaded.remove_all([home], [layout.venv])
    assert tree(home) == {
        ".local", ".local/share", ".local/share/tf-gpu-assistant",
        ".local/share/tf-gpu-assistant/a", ".local/share/tf-gpu-assistant/a/mine.txt",
    }  # fmt: skip
    assert any("did not create" in line for line in kept)


def test_damaged_manifest_cannot_delete_elsewhere(home, tmp_path):
    outside = tmp_path / "precious"
    outside.mkdir()
    docs = home / "Documents"
    docs.mkdir()
    layout = layout_for("linux", {"HOME": str(home)})
    layout.root.mkdir(parents=True)
    manifest = Manifest(
        layout.manifest, {str(outside): "tree", str(docs): "tree", str(home): "dir"}
    )
    kept = manifest.remove_all([home], [layout.venv])
    assert outside.is_dir() and docs.is_dir() and home.is_dir()
    assert len(kept) == 3


@pytest.mark.parametrize(
    "program",
    ["/opt/app/bin/gpu-assistant", "/home/Jo Smith/venv/bin/gpu-assistant",
     '/tmp/we"ird $dir/`x`/100%\\bin/gpu-assistant'],
)  # fmt: skip
def test_desktop_exec_quoting_round_trips(program):
    template = (DESKTOP / "tf-gpu-assistant.desktop.in").read_text("utf-8")
    text = shortcuts.desktop_entry_text(template, Path(program))
    exec_value = next(line for line in text.splitlines() if line.startswith("Exec="))[5:]
    assert exec_argv(exec_value) == [program]
    assert "@" not in text  # every placeholder filled


def test_mac_app_bundle_is_complete_and_uninstalls(home):
    layout = layout_for("darwin", {"HOME": str(home)})
    manifest = Manifest(layout.manifest)
    manifest.make_dirs(layout.root)
    (app,) = shortcuts.create_shortcut(layout, manifest, DESKTOP)
    info = plistlib.loads((app / "Contents" / "Info.plist").read_bytes())
    launcher = app / "Contents" / "MacOS" / info["CFBundleExecutable"]
    assert launcher.stat().st_mode & 0o111
    assert str(layout.venv_exe("gpu-assistant")) in launcher.read_text("utf-8")
    assert (app / "Contents" / "Resources" / info["CFBundleIconFile"]).read_bytes()[:4] == b"icns"
    manifest.remove_all([home], [layout.venv, layout.mac_app])
    assert tree(home) == set()


def test_recommend_answers_map_to_the_right_package():
    from gpu_assistant.system.recommend import GpuSpec, Query, recommend

    gpu = Query(os="linux", python="3.11", driver="570.86.10", glibc="2.36",
                gpus=[GpuSpec("NVIDIA GeForce RTX 3090", "8.6")])  # fmt: skip
    answer = recommend(gpu).to_json()
    choice = environment.choose(answer, force_cpu=False)
    assert choice.gpu and "and-cuda" in choice.package and choice.pip_args == [choice.package]
    cpu = environment.choose(answer, force_cpu=True)
    assert not cpu.gpu and "and-cuda" not in cpu.package and "--cpu" in cpu.reasons[0]

    too_new = recommend(Query(os="linux", python="3.99")).to_json()
    with pytest.raises(SetupError) as caught:
        environment.choose(too_new, force_cpu=False)
    assert "No TensorFlow build" in caught.value.message


def test_icons_have_the_sizes_their_names_say():
    for png in (DESKTOP / "png").glob("*.png"):
        width, height = struct.unpack(">II", png.read_bytes()[16:24])
        assert width == height == int(png.stem), png
    ico = (DESKTOP / "tf-gpu-assistant.ico").read_bytes()
    assert struct.unpack("<HHH", ico[:6])[:2] == (0, 1) and struct.unpack("<H", ico[4:6])[0] >= 5
    icns = (DESKTOP / "tf-gpu-assistant.icns").read_bytes()
    assert icns[:4] == b"icns" and struct.unpack(">I", icns[4:8])[0] == len(icns)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_sudo_is_refused_because_it_would_install_for_root(home, tmp_path):
    done = run_install(["--no-launch"], installer_env(home, tmp_path, SUDO_USER="alice"))
    assert done.returncode == 2 and "without sudo" in done.stderr
    assert tree(home) == set()


def test_too_new_python_switches_to_a_supported_one(monkeypatch, tmp_path):
    current = sys.version_info[:2]
    supported = checks.PythonRange((current[0], current[1] - 2), current)
    monkeypatch.setattr(checks, "python_range", lambda _: supported)
    monkeypatch.delenv("GPU_ASSISTANT_SETUP_REEXEC", raising=False)
    older = tmp_path / f"python{current[0]}.{current[1] - 1}"
    older.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "calls"}\n', encoding="utf-8")
    older.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["bootstrap.py", "--no-launch"])
    with pytest.raises(SystemExit) as caught:
        main.check_source_and_python(CHECKOUT)
    assert caught.value.code == 0
    assert (tmp_path / "calls").read_text("utf-8").splitlines()[-1] == "bootstrap.py --no-launch"


def test_windows_links_script_and_record(home, tmp_path, monkeypatch):
    """No Windows here: a stand-in `powershell` decodes the script it is given, keeps it, and
    answers like the real one (the paths it saved). The .lnk writing itself is WScript.Shell's."""
    fake = tmp_path / "bin" / "powershell"
    fake.parent.mkdir()
    fake.write_text(
        f"#!{sys.executable}\nimport base64, sys\n"
        "script = base64.b64decode(sys.argv[sys.argv.index('-EncodedCommand') + 1])\n"
        f"open({str(tmp_path / 'script.ps1')!r}, 'w', encoding='utf-8').write("
        "script.decode('utf-16-le'))\n"
        "print('C:\\\\Users\\\\José\\\\Desktop\\\\TensorFlow GPU Assistant.lnk')\n",
        encoding="utf-8",
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    env = {"USERPROFILE": str(home), "LOCALAPPDATA": str(home / "Local O'Brien")}
    layout = layout_for("win32", env)
    manifest = Manifest(layout.manifest)
    manifest.make_dirs(layout.root)
    links = shortcuts.create_shortcut(layout, manifest, DESKTOP)
    assert links == [Path("C:\\Users\\José\\Desktop\\TensorFlow GPU Assistant.lnk")]
    assert manifest.entries[str(links[0])] == "file"
    script = (tmp_path / "script.ps1").read_text("utf-8")
    assert "'" + str(layout.venv_exe("gpu-assistant-gui")).replace("'", "''") + "'" in script
    assert "WScript.Shell" in script and layout.windows_icon.is_file()


def test_interrupted_install_still_uninstalls_cleanly(home, tmp_path):
    """pip fails after the venv exists (an empty wheelhouse): the record already lists it."""
    empty = tmp_path / "wheels"
    empty.mkdir()
    env = installer_env(home, tmp_path, PIP_FIND_LINKS="", PIP_NO_INDEX="1")
    failed = run_install(["--wheelhouse", str(empty), "--no-launch"], env, timeout=300)
    assert failed.returncode == 2 and "Could not install the app" in failed.stderr
    assert (home / ".local/share/tf-gpu-assistant/venv").is_dir()
    done = run_install(["--uninstall"], env, timeout=120)
    assert done.returncode == 0
    assert {p for p in tree(home) if not p.startswith(".rustup")} == set()


def test_unreadable_record_is_explained(home):
    layout = layout_for("linux", {"HOME": str(home)})
    layout.root.mkdir(parents=True)
    layout.manifest.write_text("{not json", encoding="utf-8")
    with pytest.raises(SetupError) as caught:
        Manifest.load(layout.manifest)
    assert "unreadable" in caught.value.message and caught.value.fix
