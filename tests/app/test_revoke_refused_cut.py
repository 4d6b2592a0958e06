"""The review page's revoke button when IAM refuses the session cut: no 500 page, and the
page says exactly what was written and what was not (fault injection on the real clients)."""

from __future__ import annotations

from chalicelib import wiring
from chalicelib.core.model import State
from tests.app.test_review import Site, site  # noqa: F401  (the fixture)
from tests.support.faults import Faults

EC2_ARN = "arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"


def test_the_revoke_button_says_the_cut_was_refused(site: Site) -> None:  # noqa: F811
    rid = site.request("U0DAVE", "request ec2-admin 30m INC-11 x")
    assert site.post(rid, "U0CAROL", "approve").status_code == 303
    iam = wiring.service().writer.iam.client_for_role(EC2_ARN)
    Faults(iam).reject("iam.PutRolePolicy", "LimitExceeded", "Maximum policy size exceeded")
    answer = site.post(rid, "U0DAVE", "revoke")
    page = answer.body.decode()
    assert answer.status_code == 200, page
    assert "is revoked; IAM is not finished" in page
    assert "The trust is removed" in page and "session cut was refused by IAM" in page
    assert "LimitExceeded" in page and "denied from now on" not in page
    assert site.stored(rid).state is State.REVOKED
