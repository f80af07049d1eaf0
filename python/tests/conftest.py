"""Fixtures: the repository's documents, and a real broker (`kruispunt serve`, the debug binary
of the workspace build) on a free port with a temporary data directory, as the Rust tests'
`test_kit::ServeProcess` starts it.

The binary is `$KRUISPUNT_BIN` (``.ci/run`` sets it), else ``$CARGO_TARGET_DIR/debug/kruispunt``
or ``target/debug/kruispunt``. The broker tests are skipped when none exists, unless
``KRUISPUNT_BIN`` is set (then a missing binary is an error): CI never skips them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# What `kruispunt serve` prints once it listens (broker: test_kit::serve_process::LISTENING).
LISTENING = "Kruispunt broker listening on https://"


def kruispunt_bin() -> Path | None:
    given = os.environ.get("KRUISPUNT_BIN")
    if given:
        path = Path(given)
        if not path.is_file():
            raise RuntimeError(f"KRUISPUNT_BIN={given}: no such file (cargo build -p kruispunt-broker)")
        return path
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    path = target / "debug" / "kruispunt"
    return path if path.is_file() else None


@dataclass
class Broker:
    bin: Path
    data_dir: Path
    process: subprocess.Popen[str]
    port: int
    stderr: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        # The development certificate's name.
        return f"https://localhost:{self.port}"

    @property
    def ca(self) -> Path:
        return self.data_dir / "tls" / "ca.pem"

    def token(self, partner: str, role: str, *extra: str) -> str:
        """A development token signed with the demo partner's key (`kruispunt token`)."""
        out = subprocess.run(
            [str(self.bin), "token", "--data-dir", str(self.data_dir), "--partner", partner, "--role", role, *extra],
            check=True,
            capture_output=True,
            text=True,
            env=_env(),
        )
        return out.stdout.strip()

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.bin), *args], capture_output=True, text=True, env=_env())


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("KRUISPUNT_DATA_DIR", None)
    env["KRUISPUNT_LOG"] = "warn"
    return env


@pytest.fixture(scope="session")
def broker():
    binary = kruispunt_bin()
    if binary is None:
        pytest.skip("no kruispunt binary: run `cargo build -p kruispunt-broker` or set KRUISPUNT_BIN")
    data_dir = Path(tempfile.mkdtemp(prefix="kruispunt-python-"))
    process = subprocess.Popen(
        [str(binary), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    stderr: list[str] = []
    drain_err = threading.Thread(target=lambda: stderr.extend(process.stderr), daemon=True)
    drain_err.start()
    port = None
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(LISTENING):
            port = int(line.strip().rsplit(":", 1)[1])
            break
    if port is None:
        process.wait(timeout=30)
        drain_err.join(timeout=5)
        shutil.rmtree(data_dir, ignore_errors=True)
        raise RuntimeError(f"kruispunt serve ended before listening: {''.join(stderr)}")
    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
    try:
        yield Broker(binary, data_dir, process, port, stderr)
    finally:
        process.kill()
        process.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)
