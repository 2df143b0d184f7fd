"""Headless Chromium (Debian's, installed by .ci/run) for the tests that look at pages as users do: the DOM it
rendered, a screenshot, a PDF print; GOV_SCREENSHOT_DIR keeps the screenshots for a person to look at."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


class Chromium:
    def __init__(self, profile: Path, *extra: str):
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        assert binary, "Debian's chromium is installed by .ci/run"
        self.command = [binary, *FLAGS, f"--user-data-dir={profile}", *extra]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.command, *args], capture_output=True, text=True, timeout=120)

    def dom(self, url: str) -> str:
        return self.run("--dump-dom", url).stdout

    def screenshot(self, url: str, out: Path, *args: str) -> Path:
        self.run(*args, f"--screenshot={out}", url)
        return out

    def pdf(self, url: str, out: Path) -> bytes:
        self.run("--no-pdf-header-footer", f"--print-to-pdf={out}", url)
        return out.read_bytes()


def keep(shot: Path, name: str) -> None:
    folder = os.environ.get("GOV_SCREENSHOT_DIR")
    if folder:
        shutil.copy(shot, os.path.join(folder, name))
