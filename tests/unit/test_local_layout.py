"""The layout rules of ``shopmail_local``: emulators under ``stack/``, no command importing
another command, the demo independent of the commands."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.fixtures.paths import REPO

PACKAGE = REPO / "shopmail_local"
COMMANDS = PACKAGE / "cli" / "commands"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_no_command_imports_another_command() -> None:
    modules = sorted(p for p in COMMANDS.glob("*.py") if p.name != "__init__.py")
    assert len(modules) >= 10
    for path in modules:
        others = {
            imp
            for imp in _imports(path)
            if imp.startswith("shopmail_local.cli.commands")
            and imp != "shopmail_local.cli.commands"
        }
        assert not others, f"{path.name} imports {sorted(others)}"


def test_demo_does_not_import_commands() -> None:
    assert not any(
        i.startswith("shopmail_local.cli.commands") for i in _imports(PACKAGE / "demo.py")
    )


def test_emulators_live_under_stack() -> None:
    assert not (PACKAGE / "ses_relay.py").exists()
    for name in ("ses_relay.py", "ses_inbound.py", "webinbox.py"):
        assert (PACKAGE / "stack" / name).is_file()
    for path in PACKAGE.rglob("*.py"):
        assert "shopmail_local.ses_relay" not in _imports(path), path
