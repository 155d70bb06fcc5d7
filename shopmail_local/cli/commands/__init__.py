"""Sub-commands of ``shopmail``.

Each module here defines ``register(subparsers)``, which adds its sub-command(s) with
``set_defaults(func=...)``; ``func(args) -> int`` returns the exit code. Modules are discovered
automatically, so adding a command never touches ``main.py``.
"""
