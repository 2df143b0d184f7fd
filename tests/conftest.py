"""Fixtures shared by all tests.

Unit tests need nothing running. Integration and end-to-end tests share one
throwaway stack (real Kafka, real PostgreSQL) per test session, started on
first use in a temporary directory and removed at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from govctl.stack import Stack

ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(items):
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "integration" in parts:
            item.add_marker(pytest.mark.integration)
        if "e2e" in parts:
            item.add_marker(pytest.mark.e2e)
    # the fuzz run leaves random records behind (cases, volunteers, tasks): no other test may see them
    items.sort(key=lambda item: item.get_closest_marker("fuzz") is not None)


@pytest.fixture(scope="session")
def stack():
    home = Path(tempfile.mkdtemp(prefix="gov-test-stack-"))
    st = Stack(home, root=ROOT, partitions=3, kafka_heap_mb=384)
    try:
        st.up(services=False, demo=False, say=lambda *_: None)
        yield st
    finally:
        st.down()
        if os.environ.get("GOV_TEST_KEEP_STACK"):  # logs and data of a failed run, for a look afterwards
            print(f"\nkept the test stack's directory: {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
