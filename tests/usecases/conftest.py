"""``engine``: the service on fakes, then on moto (tests/support/fast_engine.py), for every use-case
test that does not build its own."""

from tests.support.fast_engine import engine  # noqa: F401
