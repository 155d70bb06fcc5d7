"""Test configuration: loads every fixture module in ``tests/fixtures`` as a plugin."""

from __future__ import annotations

import os
import pkgutil
from pathlib import Path

# Never reach real AWS from a test, whatever the machine's environment says.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "POWERTOOLS_SERVICE_NAME": "shopmail-test",
        "POWERTOOLS_METRICS_NAMESPACE": "shopmail-test",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
)
os.environ.pop("AWS_PROFILE", None)

_FIXTURES = Path(__file__).parent / "fixtures"
pytest_plugins = [
    f"tests.fixtures.{m.name}" for m in pkgutil.iter_modules([str(_FIXTURES)]) if not m.ispkg
]
