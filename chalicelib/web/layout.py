"""What every page shares: the style and its Content-Security-Policy, the headers, the frame
of a page, and times in words."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta
from html import escape

from chalicelib.core.model import parse_iso

STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;
color:#1d1c1d}
h1{font-size:1.4rem}dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}
dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}pre{background:#f4f4f4;padding:.8rem;overflow:auto}
.state{display:inline-block;padding:.1rem .5rem;border-radius:.3rem;background:#eee;font-weight:600}
.summary{padding:.6rem .8rem;border-radius:.3rem;background:#eee}
.PENDING{background:#fff3c4}.ACTIVE,.APPROVED{background:#c9f2d0}
.DENIED,.FAILED,.REVOKED{background:#fbd3d3}
.note{background:#eef4ff;padding:.6rem .8rem;border-radius:.3rem}
footer{margin-top:2rem;border-top:1px solid #ddd;color:#555}
form{display:inline-block;margin:.5rem 1rem .5rem 0}
button{font-size:1rem;padding:.4rem 1.2rem;cursor:pointer}
.approve{background:#007a5a;color:#fff;border:0;border-radius:.3rem}
.deny{background:#e01e5a;color:#fff;border:0;border-radius:.3rem}
table{border-collapse:collapse;width:100%}
.rid{color:#555;margin-top:-.6rem}details{margin:1rem 0}summary{cursor:pointer;font-weight:600}
.does{font-size:1.05rem}
td,th{border-bottom:1px solid #ddd;padding:.3rem;text-align:left;vertical-align:top}
"""


_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()


# Nothing may load from anywhere; only our own inline stylesheet (by hash) and our own forms.
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def layout(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{escape(title)} · Switchback</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def message_page(title: str, text: str) -> str:
    return layout(title, f"<main><h1>{escape(title)}</h1><p>{escape(text)}</p></main>")


def duration_words(value: timedelta) -> str:
    """``30 minutes``, ``1 hour``, ``1 hour 30 minutes``: for a first line read at 3 a.m."""
    total = int(value.total_seconds())
    parts = []
    for unit, seconds in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        amount, total = divmod(total, seconds)
        if amount:
            parts.append(f"{amount} {unit}{'' if amount == 1 else 's'}")
    return " ".join(parts) or "0 minutes"


def relative(at: datetime, now: datetime) -> str:
    """``in 30 min``, ``5 min ago``, ``in 1 h 5 min``: how far away a moment is."""
    seconds = int((at - now).total_seconds())
    if abs(seconds) < 60:
        return "now" if abs(seconds) < 5 else ("in under a minute" if seconds > 0 else "just now")
    minutes = round(abs(seconds) / 60)
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min")]
    span = " ".join(f"{amount} {unit}" for amount, unit in parts if amount)
    return f"in {span}" if seconds > 0 else f"{span} ago"


def utc(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def when(at: datetime | str, now: datetime) -> str:
    """A moment as the exact UTC time and how far away it is: ``2026-11-29 01:40:00 UTC (in
    30 min)``."""
    moment = parse_iso(at) if isinstance(at, str) else at
    return f"{utc(moment)} ({relative(moment, now)})"
