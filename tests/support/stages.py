"""The app through ``chalice.test.Client`` as a deployed stage runs it, on this checkout.

A stage's settings in .chalice/config.json name the packaged copy of the policies
(chalicelib/policies), which only `make package` writes (tests/deploy/ runs it). A test of a
deployed stage reads the repository's own policies/ instead, so it passes alone, before the
package is built, and on any xdist worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.conftest import ROOT


@contextmanager
def stage_client(stage: str = "dev") -> Iterator:
    from chalice.test import Client

    import app

    with Client(app.app, stage_name=stage, project_dir=str(ROOT)) as client:
        # The client sets the stage's variables around every call, and merges what the user
        # provides (as `chalice` options would) over them.
        provided = client._chalice_config._user_provided_params
        provided["environment_variables"] = {"SWITCHBACK_POLICIES": str(ROOT / "policies")}
        yield client
