"""The project's own errors, raised by adapters instead of SDK exceptions."""


class StoreConflict(Exception):
    """Someone else changed the item first (a conditional write failed)."""


class LockBusy(Exception):
    """Another process holds the role's lock past our patience."""


class LockHandedOver(LockBusy):
    """We left our work with the lock's live holder, which does it before letting go."""


class RoleMissing(Exception):
    """The IAM role named in a policy file does not exist (any more)."""


class AwsUnavailable(Exception):
    """AWS kept failing (throttling, 5xx) after bounded retries; try again later."""


class AwsRefused(Exception):
    """AWS refused the broker a call (AccessDenied): its policy, or another account's manager
    role, lacks the permission. Retrying cannot help until someone grants it."""


class PolicyRejected(Exception):
    """IAM refused a policy document for good (over its size limit, an invalid principal);
    retrying the same document cannot help."""


class AwsUncertain(AwsUnavailable):
    """A write was sent but its answer never came (a timeout, a dropped connection): it may or
    may not have been applied. Never tell anyone "nothing was changed" after this one."""


class BudgetSpent(AwsUnavailable):
    """The caller's time budget (Slack's 3 s, API Gateway's 29 s) has no room for another AWS
    call: it was not sent (the store tells whether earlier attempts of the call were)."""
