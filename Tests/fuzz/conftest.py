"""Fixtures: the fault suite's (Tests/faults/faults_fixtures.py), shared rather than copied."""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parent.parent
for _p in (_TESTS / "faults", _TESTS / "e2e"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from faults_fixtures import example, hostile, mcpx  # noqa: E402,F401  (fixtures)



def pytest_collection_modifyitems(items):  # noqa: ANN001, ANN201
    """Every test of this folder has a timeout (its own, or 60 s), so nothing can hang CI."""
    import pytest

    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(item.path).resolve().parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(60))
