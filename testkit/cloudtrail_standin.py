"""A CloudTrail stand-in over real HTTP: LookupEvents, for the events recorded into it.

moto does not implement LookupEvents; this speaks just enough of CloudTrail's JSON protocol
(``X-Amz-Target: com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents``) for
boto3 to talk to it unchanged, pointed here by ``AWS_ENDPOINT_URL_CLOUDTRAIL``:

- events are kept per region (the region a request is signed for is the one it reads);
- one lookup attribute at most (as CloudTrail), ``StartTime``/``EndTime``, newest first,
  ``MaxResults`` up to 50 and a ``NextToken`` bound to its query;
- ``throttle(n)`` makes the next ``n`` lookups answer ``ThrottlingException`` (HTTP 400), and
  ``fail(code, n, status)`` any other error (``AccessDeniedException``, a 500…);
- every lookup is logged in ``requests`` (region, access key id, arguments, arrival time).

Recording events: ``standin.add(record)`` in process, or over HTTP ``POST /events`` with
``{"events": [<CloudTrail record>, …]}`` (``tools.activity`` does that for the local stack);
``POST /reset`` forgets everything. ``record(...)`` builds a record as CloudTrail writes one.

    python -m testkit.cloudtrail_standin [--port 0]   # serve until interrupted; prints its URL
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

TARGET_PREFIX = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."
LOOKUP_TARGET = TARGET_PREFIX + "LookupEvents"
PAGE_LIMIT = 50
ATTRIBUTE_KEYS = {
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
}
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_READ_PREFIXES = ("Get", "List", "Describe", "Head", "Lookup", "Search")


def session_arn(role_arn: str, session_name: str) -> str:
    """The assumed-role ARN CloudTrail names a role session by (the role's path dropped)."""
    partition, account = role_arn.split(":")[1], role_arn.split(":")[4]
    role_name = role_arn.rsplit("/", 1)[1]
    return f"arn:{partition}:sts::{account}:assumed-role/{role_name}/{session_name}"


def record(
    identity_arn: str,
    source: str,
    name: str,
    at: datetime,
    region: str = "us-east-1",
    read_only: bool | None = None,
    error_code: str | None = None,
    resources: list[str] | tuple[str, ...] = (),
    request_parameters: dict | None = None,
    role_arn: str | None = None,
    source_ip: str = "198.51.100.7",
    event_id: str | None = None,
) -> dict:
    """A CloudTrail event record (the ``CloudTrailEvent`` JSON) for a call by ``identity_arn``:
    an ``assumed-role/…`` session ARN (``role_arn`` then names its issuer) or an IAM user.
    ``source`` is ``ec2`` or ``ec2.amazonaws.com``; ``read_only`` is guessed from ``name``
    when not given."""
    source = source if "." in source else f"{source}.amazonaws.com"
    account = identity_arn.split(":")[4]
    if ":assumed-role/" in identity_arn:
        identity: dict[str, Any] = {
            "type": "AssumedRole",
            "principalId": f"AROAEXAMPLE:{identity_arn.rsplit('/', 1)[1]}",
            "arn": identity_arn,
            "accountId": account,
            "accessKeyId": "ASIAEXAMPLE",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": "AROAEXAMPLE",
                    "arn": role_arn
                    or identity_arn.replace(":sts::", ":iam::")
                    .replace(":assumed-role/", ":role/")
                    .rsplit("/", 1)[0],
                    "accountId": account,
                    "userName": identity_arn.split("/")[1],
                },
                "attributes": {"creationDate": _stamp(at), "mfaAuthenticated": "false"},
            },
        }
    else:
        identity = {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLE",
            "arn": identity_arn,
            "accountId": account,
            "accessKeyId": "AKIAEXAMPLE",
            "userName": identity_arn.rsplit("/", 1)[1],
        }
    found: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": _stamp(at),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": source_ip,
        "userAgent": "aws-cli/2 switchback-standin",
        "requestParameters": request_parameters,
        "responseElements": None,
        "requestID": str(uuid.uuid4()),
        "eventID": event_id or str(uuid.uuid4()),
        "readOnly": name.startswith(_READ_PREFIXES) if read_only is None else read_only,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    if resources:
        found["resources"] = [{"ARN": r, "accountId": account} for r in resources]
    if error_code:
        found["errorCode"] = error_code
        found["errorMessage"] = f"{error_code} (stand-in)"
    return found


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _moment(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _username(item: dict) -> str:
    identity = item.get("userIdentity") or {}
    if identity.get("type") == "AssumedRole":
        return str(identity.get("arn", "")).rsplit("/", 1)[-1]
    if identity.get("type") == "Root":
        return "root"
    return str(identity.get("userName") or str(identity.get("arn", "")).rsplit("/", 1)[-1])


def _lookup_event(item: dict) -> dict:
    """The LookupEvents ``Event`` for a record, as CloudTrail presents it."""
    return {
        "EventId": item["eventID"],
        "EventName": item["eventName"],
        "ReadOnly": "true" if item.get("readOnly") else "false",
        "AccessKeyId": (item.get("userIdentity") or {}).get("accessKeyId", ""),
        "EventTime": _moment(item["eventTime"]),
        "EventSource": item["eventSource"],
        "Username": _username(item),
        "Resources": [
            {"ResourceType": r.get("type", "AWS::Resource"), "ResourceName": r["ARN"]}
            for r in item.get("resources") or ()
            if r.get("ARN")
        ],
        "CloudTrailEvent": json.dumps(item),
    }


def _matches(event: dict, key: str, value: str) -> bool:
    if key in ("ResourceName", "ResourceType"):
        return any(r[key] == value for r in event["Resources"])
    return str(event.get(key, "")) == value


class CloudTrailStandIn:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        # region -> [(event time, record, its LookupEvents event)], made once when recorded
        self._events: dict[str, list[tuple[float, dict, dict]]] = {}
        self._lock = threading.Lock()
        self._failures: list[tuple[str, int]] = []  # (error code, HTTP status), in order
        self.requests: list[dict] = []
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if self.path.rstrip("/") == "/events":
                    self._reply(200, standin._record_posted(raw))
                elif self.path.rstrip("/") == "/reset":
                    standin.reset()
                    self._reply(200, {"reset": True})
                else:
                    status, body = standin._api(dict(self.headers), raw)
                    self._reply(status, body, "application/x-amz-json-1.1")

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/events":
                    self._reply(200, standin.recorded())
                else:
                    self._reply(404, {"message": "not found"})

            def _reply(self, status: int, body: Any, kind: str = "application/json") -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- recording ------------------------------------------------------------------------------
    def add(self, *records: dict, region: str | None = None) -> None:
        """Record events in ``region`` (default: each record's ``awsRegion``)."""
        with self._lock:
            for item in records:
                where = region or item.get("awsRegion") or "us-east-1"
                entry = (_moment(item["eventTime"]), item, _lookup_event(item))
                self._events.setdefault(where, []).append(entry)

    def throttle(self, times: int = 1) -> None:
        """The next ``times`` lookups answer ThrottlingException."""
        self.fail("ThrottlingException", times)

    def fail(self, code: str, times: int = 1, status: int = 400) -> None:
        """The next ``times`` lookups (after those already scripted) answer error ``code``."""
        with self._lock:
            self._failures += [(code, status)] * times

    def reset(self) -> None:
        with self._lock:
            self._events.clear()
            self._failures.clear()
            self.requests.clear()

    def recorded(self) -> dict[str, list[dict]]:
        with self._lock:
            return {region: [e[1] for e in items] for region, items in self._events.items()}

    def _record_posted(self, raw: bytes) -> dict:
        body = json.loads(raw or b"{}")
        items = body.get("events") or ([body["event"]] if "event" in body else [])
        self.add(*items, region=body.get("region"))
        return {"recorded": len(items)}

    # -- the API --------------------------------------------------------------------------------
    def _api(self, headers: dict[str, str], raw: bytes) -> tuple[int, dict]:
        target = next((v for k, v in headers.items() if k.lower() == "x-amz-target"), "")
        authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        credential = _CREDENTIAL.search(authorization)
        region = credential.group(2) if credential else "us-east-1"
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return _error("SerializationException", "the body is not JSON")
        with self._lock:
            self.requests.append(
                {
                    "target": target,
                    "region": region,
                    "access_key": credential.group(1) if credential else "",
                    "body": body,
                    "at": time.monotonic(),
                }
            )
            failure = self._failures.pop(0) if target == LOOKUP_TARGET and self._failures else None
        if target != LOOKUP_TARGET:
            return _error("UnknownOperationException", f"the stand-in has no {target}")
        if failure is not None:
            code, status = failure
            return _error(code, "Rate exceeded" if code == "ThrottlingException" else code, status)
        return self._lookup(region, body)

    def _lookup(self, region: str, body: dict) -> tuple[int, dict]:
        attributes = body.get("LookupAttributes") or []
        if len(attributes) > 1:
            return _error(
                "InvalidLookupAttributesException", "only one lookup attribute may be given"
            )
        for attribute in attributes:
            if attribute.get("AttributeKey") not in ATTRIBUTE_KEYS:
                return _error(
                    "InvalidLookupAttributesException",
                    f"unknown AttributeKey {attribute.get('AttributeKey')!r}",
                )
        limit = body.get("MaxResults", PAGE_LIMIT)
        if not isinstance(limit, int) or not 1 <= limit <= PAGE_LIMIT:
            return _error("InvalidMaxResultsException", "MaxResults must be 1 to 50")
        start, end = _moment(body.get("StartTime")), _moment(body.get("EndTime"))
        if start is not None and end is not None and start > end:
            return _error("InvalidTimeRangeException", "StartTime is after EndTime")
        query = json.dumps({k: body.get(k) for k in ("LookupAttributes", "StartTime", "EndTime")})
        fingerprint = hashlib.sha256(query.encode()).hexdigest()[:16]
        offset = 0
        if body.get("NextToken"):
            try:
                token = json.loads(base64.urlsafe_b64decode(body["NextToken"]))
                offset, bound = int(token["offset"]), token["query"]
            except (ValueError, KeyError, TypeError):
                return _error("InvalidNextTokenException", "the token is not one of ours")
            if bound != fingerprint:
                return _error("InvalidNextTokenException", "the token is for another query")
        with self._lock:
            items = list(self._events.get(region, ()))
        chosen = [
            (at, event)
            for at, _, event in items
            if (start is None or at >= start)
            and (end is None or at <= end)
            and all(_matches(event, a["AttributeKey"], a["AttributeValue"]) for a in attributes)
        ]
        chosen.sort(key=lambda entry: entry[0], reverse=True)
        page = chosen[offset : offset + limit]
        answer: dict[str, Any] = {"Events": [event for _, event in page]}
        if offset + limit < len(chosen):
            token = json.dumps({"offset": offset + limit, "query": fingerprint})
            answer["NextToken"] = base64.urlsafe_b64encode(token.encode()).decode()
        return 200, answer


def _error(code: str, message: str, status: int = 400) -> tuple[int, dict]:
    return status, {"__type": code, "message": message}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    with CloudTrailStandIn(port=args.port) as standin:
        print(f"CloudTrail stand-in on {standin.url}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
