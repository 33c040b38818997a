"""``closedloop serve`` on the default SQLite store runs the notifiers: a subscription made
over HTTP hears a command made over HTTP, at a real receiver that verifies it."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import BIN, cli, free_port, wait_until_healthy
from tests.fakes import Receiver

pytestmark = pytest.mark.slow


def test_serve_delivers_a_notification_of_a_command_to_a_subscribed_endpoint(
    tmp_path: Path, receiver: Receiver
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "CLOSEDLOOP_DATABASE_URL": f"sqlite:///{tmp_path}/e2e.sqlite3",
        "CLOSEDLOOP_PORT": str(port),
        "CLOSEDLOOP_WEBHOOK_KEY": str(tmp_path / "webhook.key"),
        "CLOSEDLOOP_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "CLOSEDLOOP_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    cli(env, "demo", "load")
    admin = cli(env, "token", "create", "--unit", "HW", "--user", "admin", "--role", "admin")
    monitor = cli(env, "token", "create", "--unit", "HW", "--user", "mon", "--role", "monitor")
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(BIN), "serve", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    base = f"http://127.0.0.1:{port}"
    http = httpx.Client(base_url=base, timeout=10)
    try:
        wait_until_healthy(base, proc, 30)

        r = http.post(
            "/v1/subscriptions",
            json={"url": receiver.url, "event_types": ["warning.raised"], "language": "en"},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert r.status_code == 201, r.text
        subscription = r.json()
        receiver.secrets.append(subscription["secret"])

        r = http.post(
            "/v1/warnings",
            json={
                "rule": "reservoir.flood_limit",
                "theme": "reservoir",
                "level": 2,
                "title": "Qingshan reservoir above its flood-control limit",
                "unit": "HW-DH-QS",
            },
            headers={"Authorization": f"Bearer {monitor}"},
        )
        assert r.status_code == 201, r.text
        warning = r.json()

        assert receiver.wait_for(1, timeout=30), "serve delivered nothing"
        [item] = receiver.acted.values()
        assert item.verified
        body = item.json
        assert body["type"] == "warning.raised"
        assert body["data"]["aggregate"]["id"] == warning["id"]
        assert body["data"]["links"]["self"] == f"{base}/v1/warnings/{warning['id']}"
        assert "Qingshan" in body["data"]["text"]

        # The record says so too, and shows the secret nowhere.
        records: list[dict[str, object]] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not records:
            records = http.get(
                "/v1/deliveries",
                params={"status": "delivered"},
                headers={"Authorization": f"Bearer {admin}"},
            ).json()
            time.sleep(0.1)
        assert [d["id"] for d in records] == [item.id]
        assert records[0]["subscription_id"] == subscription["id"]
        shown = http.get(
            f"/v1/subscriptions/{subscription['id']}",
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert subscription["secret"] not in shown.text
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        http.close()
    assert subscription["secret"] not in log.read_text(errors="replace")
