"""CAP 1.2 messages about the demo district, for the API's tests."""

from __future__ import annotations

from typing import Any

CAP = {"content-type": "application/cap+xml"}
MET = "met@haiwan.gov.cn"


def haiwan_alert(
    ident: str,
    *,
    sender: str = MET,
    sent: str = "2026-07-01T08:00:00+08:00",
    area: str | None = "海湾区东湖街道",
    msg: str = "Alert",
    status: str = "Actual",
    refs: str = "",
    severity: str = "Severe",
) -> bytes:
    """A typhoon warning (the typhoon playbook applies to it) for one area, or none."""
    references = f"<references>{refs}</references>" if refs else ""
    where = f"<area><areaDesc>{area}</areaDesc></area>" if area is not None else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{ident}</identifier><sender>{sender}</sender><sent>{sent}</sent>
  <status>{status}</status><msgType>{msg}</msgType><scope>Public</scope>{references}
  <info><language>zh-CN</language><category>Met</category><event>台风</event>
    <urgency>Immediate</urgency><severity>{severity}</severity><certainty>Likely</certainty>
    <headline>台风橙色预警</headline>{where}</info>
</alert>""".encode()


def key(ident: str, *, sender: str = MET, sent: str = "2026-07-01T08:00:00+08:00") -> str:
    """How a message is named in another's ``<references>``."""
    return f"{sender},{ident},{sent}"


def headers(auth: dict[str, str], **extra: Any) -> dict[str, str]:
    return {**auth, **CAP, **extra}
