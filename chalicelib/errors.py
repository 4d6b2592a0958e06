"""The project's own errors, raised by adapters instead of SDK exceptions."""


class StoreConflict(Exception):
    """Someone else changed the item first (a conditional write failed)."""


class LockBusy(Exception):
    """Another process holds the role's lock past our patience."""


class RoleMissing(Exception):
    """The IAM role named in a policy file does not exist (any more)."""


class AwsUnavailable(Exception):
    """AWS kept failing (throttling, 5xx) after bounded retries; try again later."""


class PolicyRejected(Exception):
    """IAM refused a policy document for good (over its size limit, an invalid principal);
    retrying the same document cannot help."""
