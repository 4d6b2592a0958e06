"""How the suite shares pytest-xdist workers (`make test` runs ``-n 2 --dist loadgroup``).

Tests go to whichever worker is free, one at a time, except those that must stay together; they
get an ``xdist_group`` at collection (``mark_groups``):

- a test that looks at a fixture started when the session starts (a one-minute grant on a real
  local stack: ``STARTED_EARLY`` in tests/conftest.py) joins that fixture's group. Each such group
  is pinned to one worker (``pinned_to``): that worker alone starts the fixture when its session
  starts, and is sent the group only once no other test is waiting, so the minute passes while
  the other tests run;
- tests/deploy/ build the package in the checkout (chalicelib/policies, vendor/, dist/,
  release.json are the checkout's): one worker runs them, one after another;
- tests that share a module-scoped fixture (a running local stack) stay on one worker, which
  builds it once.

Without xdist nothing here applies: the one process starts every early fixture it will use.
"""

from __future__ import annotations

from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def loadgroup(config: pytest.Config) -> bool:
    """Run with ``--dist loadgroup`` (xdist tells its workers so by ``option.loadgroup``)."""
    return config.getoption("dist", None) == "loadgroup" or config.getoption("loadgroup", False)


def group_of(item: pytest.Item, early: tuple[str, ...]) -> str | None:
    for name in early:
        if name in item.fixturenames:
            return name
    if DEPLOY in item.path.parents:
        return "deploy"
    definitions = getattr(item, "_fixtureinfo", None)
    shared = definitions and any(
        d.scope == "module" for defs in definitions.name2fixturedefs.values() for d in defs
    )
    return item.nodeid.split("::", 1)[0] if shared else None


def mark_groups(items: list[pytest.Item], early: tuple[str, ...]) -> None:
    for item in items:
        group = group_of(item, early)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


def pinned_to(early: tuple[str, ...], workers: int) -> dict[str, str]:
    """Early fixture (= its group) -> the worker that starts it and runs its tests."""
    return {name: f"gw{index % workers}" for index, name in enumerate(early)}


def started_here(config: pytest.Config, early: tuple[str, ...]) -> tuple[str, ...]:
    """The early fixtures this process starts when its session starts."""
    worker = getattr(config, "workerinput", None)
    if worker is None:
        return early
    if not loadgroup(config):
        return ()  # nothing pinned: each fixture starts when a test first needs it
    pins = pinned_to(early, int(worker["workercount"]))
    return tuple(name for name in early if pins[name] == worker["workerid"])


def make_scheduler(config: pytest.Config, log, early: tuple[str, ...]):
    """xdist's loadgroup scheduling, with each early fixture's group kept for its own worker and
    sent last."""
    from xdist.scheduler import LoadGroupScheduling

    class PinnedLast(LoadGroupScheduling):
        def _next_scope(self, node) -> str | None:
            live = {n.gateway.id for n in self.nodes}
            pins = {g: w for g, w in pinned_to(early, self.numnodes).items() if w in live}
            for scope in self.workqueue:
                if scope not in pins:
                    return scope
            return next((s for s in self.workqueue if pins[s] == node.gateway.id), None)

        def _assign_work_unit(self, node) -> None:
            scope = self._next_scope(node)
            if scope is None:  # what is left is pinned to other workers
                node.shutdown()
                return
            work_unit = self.workqueue.pop(scope)
            self.assigned_work.setdefault(node, {})[scope] = work_unit
            collection = self.registered_collections[node]
            node.send_runtest_some(
                [collection.index(nodeid) for nodeid, done in work_unit.items() if not done]
            )

    return PinnedLast(config, log)
