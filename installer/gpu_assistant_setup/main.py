"""`install.sh` / `install.ps1` options, the order of the steps, and the closing summary.

Steps: checks (Python, venv module, disk, network) -> venv -> app -> recommend -> TensorFlow ->
shortcut -> self-test -> summary -> launch. Re-running repeats them in place (repair/upgrade);
--uninstall removes what the manifest lists and nothing else.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
from pathlib import Path

from gpu_assistant_setup import (
    APP_NAME,
    EXIT_BUG,
    EXIT_CANCELLED,
    EXIT_NO,
    EXIT_OK,
    EXIT_USAGE,
    SetupError,
    checks,
    environment,
    qt_libs,
    shortcuts,
    wheelhouse,
)
from gpu_assistant_setup.layout import Layout, layout_for
from gpu_assistant_setup.manifest import Manifest

CHECKOUT = Path(__file__).resolve().parents[2]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="install.ps1" if sys.platform == "win32" else "install.sh",
        description=f"Install {APP_NAME} into a private environment, with the TensorFlow build "
        "that fits this machine and a menu/desktop icon. Run it again to repair or upgrade.",
    )
    parser.add_argument("--uninstall", action="store_true", help="remove what the installer added")
    parser.add_argument(
        "--wheelhouse",
        metavar="DIR",
        type=Path,
        help="install offline from a folder of wheels (pip --no-index --find-links DIR)",
    )
    parser.add_argument("--index-url", metavar="URL", help="package index (default: PyPI)")
    parser.add_argument(
        "--source",
        metavar="PATH",
        type=Path,
        default=CHECKOUT,
        help="the app to install: a checkout folder or a .whl (default: this checkout)",
    )
    parser.add_argument("--cpu", action="store_true", help="install the CPU build even with a GPU")
    parser.add_argument(
        "--make-wheelhouse",
        metavar="DIR",
        type=Path,
        help="instead of installing, collect every wheel an offline install needs into DIR "
        "(run it on a machine with the same OS, CPU type and Python version)",
    )
    parser.add_argument("--no-launch", action="store_true", help="do not start the app at the end")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    layout = layout_for(sys.platform)
    try:
        if args.uninstall:
            return uninstall(layout)
        if args.make_wheelhouse:
            return make_wheelhouse(args)
        return install(layout, args)
    except SetupError as error:
        print(f"\ninstall: {error.message}", file=sys.stderr)
        if error.fix:
            print(f"install: what to do: {error.fix}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ninstall: cancelled; run it again to finish (it continues in place).")
        return EXIT_CANCELLED
    except Exception:
        import traceback

        traceback.print_exc()
        print("install: internal error (a bug); please report the text above.", file=sys.stderr)
        return EXIT_BUG


def step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def check_source_and_python(source: Path) -> None:
    """The app to install exists, and this Python can run TensorFlow (else switch to one)."""
    if not (source.is_dir() and (source / "pyproject.toml").is_file()) and not (
        source.is_file() and source.suffix == ".whl"
    ):
        raise SetupError(f"{source} is neither the app's checkout nor a .whl file.")
    if os.environ.get("SUDO_USER") and hasattr(os, "geteuid") and os.geteuid() == 0:
        raise SetupError(
            "The installer was started with sudo: it would install for root, not for you.",
            "Run it as yourself, without sudo (it needs no administrator rights).",
        )
    supported = checks.python_range(source)
    version = sys.version_info[:2]
    if supported.contains(version):
        checks.check_venv_module()
        return
    other = checks.find_python(supported)
    if other and not os.environ.get("GPU_ASSISTANT_SETUP_REEXEC"):
        print(f"Python {version[0]}.{version[1]} has no TensorFlow release; using {other[-1]}.")
        os.environ["GPU_ASSISTANT_SETUP_REEXEC"] = "1"
        raise SystemExit(subprocess.run([*other, *sys.argv], check=False).returncode)
    newest = supported.versions_newest_first()
    example = f"{newest[0][0]}.{newest[0][1]}" if newest else "3"
    raise SetupError(
        f"Python {version[0]}.{version[1]} ({sys.executable}) cannot run TensorFlow: it "
        f"needs Python {supported.describe()}, and no such Python was found on this machine.",
        f"Install Python {supported.describe()} (python.org; Debian/Ubuntu: sudo apt install "
        f"python{example} python{example}-venv; macOS: brew install python@{example}), then run "
        "the installer again (or set PYTHON=/path/to/python).",
    )


def preflight(args: argparse.Namespace, layout: Layout) -> None:
    """Everything that can be known before downloading anything."""
    check_source_and_python(args.source)
    if args.wheelhouse is not None and not args.wheelhouse.is_dir():
        raise SetupError(f"The wheelhouse {args.wheelhouse} is not a folder.")
    gpu_hint = checks.nvidia_driver_present() and not args.cpu
    checks.check_disk(layout.root, checks.disk_needed(gpu_hint))
    if args.wheelhouse is None:
        checks.check_network(environment.index_url(args.index_url))


def install(layout: Layout, args: argparse.Namespace) -> int:
    print(
        f"{APP_NAME} installer: {platform.system()} {platform.release()}, Python "
        f"{platform.python_version()} ({sys.executable})"
    )
    step("Checking Python, disk space and network")
    preflight(args, layout)
    manifest = Manifest.load(layout.manifest)
    manifest.make_dirs(layout.root)
    manifest.add(layout.manifest, "file")
    manifest.add(layout.install_log, "file")
    layout.install_log.unlink(missing_ok=True)  # this run's output only
    source = environment.PackageSource(
        args.wheelhouse.resolve() if args.wheelhouse else None, args.index_url
    )
    done: list[str] = []

    step("Preparing the private Python environment")
    done.append(environment.ensure_venv(layout, manifest))
    step(f"Installing the app from {args.source}")
    environment.install_app(layout, source, args.source.resolve())
    done.append(f"installed the app from {args.source}")

    step("Choosing the TensorFlow build for this machine")
    choice = environment.recommend(layout, args.cpu)
    kind = "GPU build" if choice.gpu else "CPU build"
    print(f"  {kind}: {choice.package}")
    for reason in choice.reasons:
        print(f"  - {reason}")
    environment.pip_install(layout, source, choice.pip_args, f"install {choice.package}")
    done.append(f"installed {choice.package} ({kind})")
    manifest.details.update(package=choice.package, gpu=choice.gpu, python=sys.executable)
    manifest.save()

    step("Creating the shortcut")
    links = shortcuts.create_shortcut(layout, manifest, environment.desktop_resources(layout))
    done.extend(f"created {link}" for link in links)

    window_ok = check_window_libraries(layout)
    if not window_ok:
        done.append("the window cannot open until the libraries named above are installed")

    where = "on this display" if has_display() else "offscreen"
    step(f"Running the app's self-test {where} (starts Qt, imports TensorFlow, trains one step)")
    passed = environment.self_test(layout, manifest) and window_ok
    done.append(f"self-test {'passed' if passed else 'FAILED'}: {layout.self_test_report}")

    print_summary(layout, done, passed)
    if passed and not args.no_launch:
        launch(layout)
    return EXIT_OK if passed else EXIT_NO


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def check_window_libraries(layout: Layout) -> bool:
    """On Linux, say which system libraries Qt's window needs and lacks, with the command that
    installs them. False only where a display is there to open the window on."""
    if layout.platform != "linux":
        return True
    missing = qt_libs.missing_libraries(layout.python)
    if not missing:
        return True
    command = qt_libs.install_command(missing, qt_libs.os_release())
    print(
        "\nThe app's window needs system libraries this machine lacks: "
        + ", ".join(missing)
        + ".\n"
        + (
            f"Install them with:\n  {command}\n"
            if command
            else "Install them with your "
            "distribution's package manager (the names above are the files).\n"
        )
        + (
            "The command line works without them."
            if has_display()
            else "Without a display "
            "only the command line is used here; a desktop session needs them."
        )
    )
    return not has_display()


def print_summary(layout: Layout, done: list[str], passed: bool) -> None:
    step("Done" if passed else "Installed, but the self-test failed")
    for line in done:
        print(f"  - {line}")
    installer = "install.ps1" if layout.platform == "win32" else "install.sh"
    menu = {"win32": "the Start menu or the desktop icon", "darwin": "~/Applications (Launchpad)"}
    print(
        f"\nStart it from {menu.get(layout.platform, 'your applications menu')} "
        f"('{APP_NAME}'), or run:\n  {layout.venv_exe('gpu-assistant')}"
    )
    print(f"Command line: {layout.venv_exe('gpu-assistant')} doctor   (and --help)")
    print(
        f"Repair or upgrade: run installer/{installer} again; remove: installer/{installer} "
        "--uninstall"
    )
    if not passed:
        print(
            f"\nThe self-test report {layout.self_test_report} says what failed; "
            f"`{layout.venv_exe('gpu-assistant')} doctor` explains the TensorFlow setup."
        )


def launch(layout: Layout) -> None:
    """Start the app detached; with no display, say what to do instead."""
    if layout.platform == "win32":
        flags = getattr(subprocess, "DETACHED_PROCESS", 0)
        subprocess.Popen([str(layout.venv_exe("gpu-assistant-gui"))], creationflags=flags)
    elif layout.platform == "darwin":
        subprocess.Popen(["open", str(layout.mac_app)])
    elif os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        subprocess.Popen(
            [str(layout.venv_exe("gpu-assistant"))],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    else:
        wsl = "microsoft" in platform.release().lower()
        print(
            "\nNo display here (an SSH session or a server?), so the window was not opened. "
            "Start it from a desktop session, or use the command line above "
            "(`gpu-assistant doctor`, `gpu-assistant train --help`)."
            + (
                " On WSL2, run `wsl --update` in Windows to get WSLg, which shows Linux windows."
                if wsl
                else ""
            )
        )
        return
    print(f"\nStarting {APP_NAME}...")


def make_wheelhouse(args: argparse.Namespace) -> int:
    check_source_and_python(args.source)
    folder = args.make_wheelhouse.resolve()
    checks.check_disk(folder, checks.disk_needed(gpu_hint=not args.cpu))
    step(f"Collecting wheels into {folder}")
    how = wheelhouse.collect(folder, args.source.resolve(), not args.cpu, args.index_url)
    print(f"\n{how}. On the offline machine run:\n  installer/install.sh --wheelhouse {folder}")
    return EXIT_OK


def uninstall(layout: Layout) -> int:
    if not layout.manifest.exists():
        print(f"Nothing to remove: no install record at {layout.manifest}.")
        return EXIT_OK
    manifest = Manifest.load(layout.manifest)
    roots = [layout.home, layout.root.parent, layout.appdata]
    kept = manifest.remove_all(roots, [layout.venv, layout.mac_app])
    print(f"Removed {APP_NAME}: its environment, shortcut and icons.")
    for line in kept:
        print(f"  kept {line}")
    if layout.runs.is_dir():
        print(
            f"Your training runs are kept in {layout.runs} (models, labels, metrics); delete "
            "that folder yourself when you no longer need them."
        )
    return EXIT_OK
