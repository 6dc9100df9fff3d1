"""Fixtures of the fault-injection suite (hostile backends, hostile stdin).

The shared pieces live in faults_harness.py (StrictPipe, HostileClient) and faults_fixtures.py
(mcpx, hostile); Tests/fuzz and Tests/soak import them the same way. `example` comes from
Tests/conftest.py, like every suite's.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for _p in (_HERE, _HERE.parent / "e2e"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from faults_fixtures import hostile, mcpx  # noqa: E402,F401  (fixtures; `example` is in Tests/conftest.py)

# Timeouts: Tests/conftest.py gives every test without its own a default one.
