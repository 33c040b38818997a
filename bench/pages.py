"""Every page's HTML size, and its server time against the API read it shows (issue 20).

A page is the API's read rendered for people: the same guard, scope and query, then a
template. What a page costs beyond its read is the figure: each page's median server
time ÷ the median of the API read it matches, asked in turns in the same run, in one
process (the whole stack in-process through Litestar's test client, so the client's own
cost is on both sides of the ratio). The store is the embedded one with the demo
district and a working day's activity written through the API: warnings of every
theme and level, instructions to offices and communities, some signed for, submitted
and verified. Each page's HTML is weighed too; the bound is 200 KB.

``python -m bench pages [--loops N] [--runs N]``
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from statistics import median
from typing import Any

#: The bound on a page's HTML (issue 20).
LIMIT_BYTES = 200 * 1024
THEMES = ("reservoir", "meteorological", "tourism", "safety_production", "transportation")
UNITS = ("HW-DH", "HW-DH-QS", "HW-DH-HP", "HW-XL", "HW-XL-SQ", "HW-NG", "HW-NG-GK")
PEOPLE = {
    "admin": ("HC", ["admin"]),
    "auditor": ("HC", ["auditor"]),
    "duty": ("HW", ["duty_officer", "dispatcher", "monitor"]),
    "office": ("HW-DH", ["handler", "dispatcher"]),
}


def parse(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench pages", description=__doc__)
    p.add_argument("--loops", type=int, default=300, help="warnings and instructions written")
    p.add_argument("--runs", type=int, default=25, help="turns of page and API per pair")
    p.add_argument("--seed", type=int, default=20)
    return p.parse_args(argv)


def activity(
    client: Any, bearer: Callable[[str], dict[str, str]], loops: int, seed: int
) -> dict[str, str]:
    """A working day through the API; the ids of one warning and one instruction."""
    rng = random.Random(seed)
    warning = instruction = ""
    for n in range(loops):
        body = {
            "rule": "bench.rule",
            "theme": rng.choice(THEMES),
            "level": rng.randint(1, 4),
            "title": f"预警 {n}：水位超汛限",
            "unit": rng.choice(UNITS),
            "dedup_key": f"bench-{n}",
        }
        r = client.post("/v1/warnings", json=body, headers=bearer("duty"))
        assert r.status_code == 201, r.text
        warning = warning or r.json()["id"]
        lead = "HW-DH" if n % 3 == 0 else rng.choice(UNITS)
        r = client.post(
            "/v1/instructions",
            json={"lead_unit": lead, "title": f"指令 {n}：巡查", "due_in": "P1D"},
            headers=bearer("duty"),
        )
        assert r.status_code == 201, r.text
        iid = r.json()["id"]
        if lead == "HW-DH" and n % 2 == 0:
            url = f"/v1/instructions/{iid}"
            for step, body2 in (("sign", None), ("submit", {"result": "已处置"})):
                r = client.post(f"{url}/{step}", json=body2, headers=bearer("office"))
                assert r.status_code in (200, 201), r.text
            instruction = instruction or iid
    return {"warning": warning, "instruction": instruction}


def pairs(ids: dict[str, str]) -> list[tuple[str, str, str]]:
    """(who, page, the API read it shows)."""
    w, i = ids["warning"], ids["instruction"]
    return [
        ("duty", "/board", "/v1/board/warnings"),
        ("duty", "/warnings", "/v1/warnings"),
        ("duty", f"/warnings/{w}", f"/v1/warnings/{w}"),
        ("office", "/inbox", "/v1/units/HW-DH/inbox"),
        ("office", f"/instructions/{i}", f"/v1/instructions/{i}"),
        ("duty", "/instructions/new", "/v1/units"),
        ("auditor", "/audit", "/v1/audit/checkpoints"),
        ("auditor", f"/loops/{w}", f"/v1/loops/{w}/timeline"),
        ("auditor", "/reports/HW", "/v1/reports/units/HW"),
        ("admin", "/admin", "/v1/units"),
        ("admin", "/admin/tokens", "/v1/tokens"),
        ("admin", "/admin/accounts", "/v1/accounts"),
        ("admin", "/admin/webhooks", "/v1/subscriptions"),
    ]


def main(argv: Sequence[str]) -> int:
    from litestar.testing import TestClient

    from api.app import create_app
    from api.tokens import TokenBook
    from closedloop.bootstrap import build_command_center, build_read_models
    from closedloop.settings import Settings
    from domain.demo import load_demo
    from tests.api.screens.conftest import Desk

    args = parse(argv)
    folder = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    center = build_command_center(Settings(database_url=f"sqlite:///{folder}/events.sqlite3"))
    load_demo(center)
    book = TokenBook(center)
    tokens = {
        who: book.issue(user=f"bench-{who}", unit=unit, roles=roles, label="bench").secret
        for who, (unit, roles) in PEOPLE.items()
    }

    def bearer(who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[who]}"}

    failed = False
    with TestClient(create_app(center, reads=build_read_models(center))) as client:
        began = time.perf_counter()
        ids = activity(client, bearer, args.loops, args.seed)
        head = center.head_position()
        print(
            f"wrote {args.loops} warnings and {args.loops} instructions "
            f"({head} events) in {time.perf_counter() - began:.1f} s",
            flush=True,
        )
        # Every read below waits for the views to have the whole day.
        client.get("/v1/board/warnings", headers={**bearer("duty"), "X-Min-Position": str(head)})
        print(f"{'page':<24} {'HTML KB':>8} {'page ms':>8} {'API ms':>8} {'page/API':>9}")
        desk, signed_in = Desk(client), ""
        for who, page, api in pairs(ids):
            if who != signed_in:  # one browser at a time, signed in as the page's person
                client.cookies.clear()
                desk, signed_in = Desk(client), who
                assert desk.sign_in(token=tokens[who]).status_code == 303
            page_s: list[float] = []
            api_s: list[float] = []
            size = 0
            for n in range(args.runs + 2):
                for is_page in ((True, False), (False, True))[n % 2]:
                    started = time.perf_counter()
                    r = desk.get(page) if is_page else client.get(api, headers=bearer(who))
                    took = time.perf_counter() - started
                    assert r.status_code == 200, (page if is_page else api, r.status_code)
                    if n < 2:
                        continue  # the first turns warm the caches and the templates
                    if is_page:
                        page_s.append(took)
                        size = len(r.content)
                    else:
                        api_s.append(took)
            p, a = median(page_s), median(api_s)
            over = size > LIMIT_BYTES
            failed = failed or over
            shown = page.replace(ids["warning"], "{id}").replace(ids["instruction"], "{id}")
            print(
                f"{shown:<24} {size / 1024:>8.1f} {p * 1000:>8.1f} {a * 1000:>8.1f} "
                f"{p / a:>9.2f}{'  over 200 KB' if over else ''}",
                flush=True,
            )
    print(f"every page's HTML under {LIMIT_BYTES // 1024} KB: {'no' if failed else 'yes'}")
    return 1 if failed else 0
