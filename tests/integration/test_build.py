"""`sam build` of the layer yields bytecode compiled by Python 3.13 (slow: runs SAM and pip)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAM = REPO / ".venv-sam" / "bin" / "sam"
# importlib.util.MAGIC_NUMBER of CPython 3.13 (3571).
PY313_MAGIC = (3571).to_bytes(2, "little") + b"\r\n"

pytestmark = pytest.mark.slow


def _works(python: Path) -> bool:
    try:
        return subprocess.run([str(python), "-c", "pass"], timeout=30, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _python313_bin() -> Path | None:
    """The bin directory of a working Python 3.13 (pyenv's 3.13.0 first; shims may not work)."""
    candidates: list[Path] = []
    try:
        prefix = subprocess.run(
            ["pyenv", "prefix", "3.13.0"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
        if prefix:
            candidates.append(Path(prefix) / "bin" / "python3.13")
    except (OSError, subprocess.SubprocessError):
        pass
    found = shutil.which("python3.13")
    if found:
        candidates.append(Path(found))
    for python in candidates:
        if python.is_file() and _works(python):
            return python.parent
    return None


def test_sam_build_layer_has_py313_unchecked_hash_pyc(tmp_path: Path) -> None:
    if not SAM.is_file():
        pytest.skip("SAM CLI not installed (make sam-venv)")
    py313 = _python313_bin()
    if py313 is None:
        pytest.skip("python3.13 not available")
    env = dict(os.environ, SAM_CLI_TELEMETRY="0", PATH=f"{py313}{os.pathsep}{os.environ['PATH']}")
    build_dir = tmp_path / "build"
    proc = subprocess.run(
        [str(SAM), "build", "SharedLayer", "--build-dir", str(build_dir)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    layer = build_dir / "SharedLayer" / "python"
    assert (layer / "shopmail" / "config.py").is_file()
    assert not (layer / "python").exists()
    sources = list((layer / "shopmail").rglob("*.py"))
    assert sources
    for src in sources:
        pyc = src.parent / "__pycache__" / f"{src.stem}.cpython-313.pyc"
        assert pyc.is_file(), f"missing {pyc.relative_to(layer)}"
        header = pyc.read_bytes()[:8]
        assert header[:4] == PY313_MAGIC, pyc
        flags = int.from_bytes(header[4:8], "little")
        assert flags == 0b01, f"{pyc.name}: not an unchecked-hash pyc (flags={flags})"
    # third-party packages too (the biggest import cost), and only 3.13 bytecode
    assert (layer / "boto3" / "__pycache__" / "__init__.cpython-313.pyc").is_file()
    foreign = [p for p in layer.rglob("*.pyc") if ".cpython-313." not in p.name]
    assert not foreign, foreign[:5]
    # native extensions are for the Lambda platform (aarch64), whatever this machine is
    natives = list(layer.rglob("*.so"))
    assert all("aarch64" in p.name for p in natives), [p.name for p in natives]
    assert sys.version_info >= (3, 11)
