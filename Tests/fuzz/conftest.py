"""Fixtures: the fault suite's (Tests/faults/faults_fixtures.py), shared rather than copied."""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parent.parent
for _p in (_TESTS / "faults", _TESTS / "e2e"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from faults_fixtures import hostile, mcpx  # noqa: E402,F401  (fixtures; `example` is in Tests/conftest.py)

# Timeouts: Tests/conftest.py gives every test without its own a default one.
