"""The install tier: the operator installed as its container image has it, in a clean venv.

Slower than the unit tier (it builds the wheel and installs the runtime lock from the package
index; pip's cache makes reruns quicker) and the only tier that needs that index, so its tests
carry the ``install`` marker: ``-m install`` runs just them, ``-m "not install"`` leaves them out.
The marker is registered here, beside the only tests that use it.
"""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "install: builds the wheel and installs it as the Dockerfile does (slow)"
    )
