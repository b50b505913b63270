"""Contract suites a plug-in runs on itself: a new space, benchmark, optimizer or proxy is done
when its suite passes.

Each ``check_*`` function raises ``AssertionError`` naming the broken rule, and returns
nothing when the object honours its contract; call them from any test runner::

    from benchbench.testing import check_space, check_benchmark, check_optimizer
    def test_my_space():
        check_space(MySpace())

The project's own test suite runs them over every registered entry
(``tests/test_contracts.py``).  ``import benchbench.testing`` imports no torch; the proxy
suite imports it when it runs.
"""

from __future__ import annotations

from benchbench.testing._contracts import (
    check_benchmark,
    check_optimizer,
    check_proxy,
    check_space,
    toy_objective,
)

__all__ = ["check_benchmark", "check_optimizer", "check_proxy", "check_space", "toy_objective"]
