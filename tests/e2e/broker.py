"""A Mosquitto broker of a test's own (ADR 0079): on a free loopback port, its config and
persistence in a folder of the test's, never a shared broker."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.server import free_port

#: ``.ci/run`` installs Mosquitto and sets this: there, a missing broker fails the tests.
REQUIRE_MQTT = os.environ.get("CLOSEDLOOP_REQUIRE_MQTT") == "1"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def need_mosquitto() -> None:
    if not os.access(MOSQUITTO, os.X_OK):
        message = "mosquitto is not installed (apt-get install -y mosquitto)"
        if REQUIRE_MQTT:
            pytest.fail(message + " (CLOSEDLOOP_REQUIRE_MQTT=1)")
        pytest.skip(message)


class Broker:
    """``start`` and ``stop`` (SIGTERM: Mosquitto writes its persistence file) may be
    called again: the port and the persisted sessions stay the broker's."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {folder}/\n"
            # The door asks for its own Receive Maximum; the broker must not cut it to 20.
            "max_inflight_messages 0\n"
            "max_queued_messages 0\n"
            f"log_dest file {folder}/mosquitto.log\n"
            # Run as root, Mosquitto becomes the user "mosquitto", who may not write here.
            f"user {getpass.getuser()}\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Broker:
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"mosquitto exited: {self.folder}/mosquitto.log") from None
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not listen within 10 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def publisher(port: int, client_id: str = "closedloop-test-publisher") -> object:
    """A connected QoS 1 publisher with a persistent session: what it published and the
    broker did not acknowledge is sent again once it reconnects."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(min_delay=1, max_delay=2)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", port, keepalive=30, clean_start=False, properties=props)
    client.loop_start()
    return client


def publish_all(
    client: object, messages: list[tuple[str, bytes]], seconds: float = 30, *, wait: bool = True
) -> None:
    """Publish at QoS 1 and (``wait``) until the broker has acknowledged every one."""
    deadline = time.monotonic() + seconds
    while not client.is_connected():  # type: ignore[attr-defined]
        if time.monotonic() > deadline:
            raise RuntimeError("the publisher did not reconnect in time")
        time.sleep(0.05)
    infos = [client.publish(t, p, qos=1) for t, p in messages]  # type: ignore[attr-defined]
    if not wait:
        return
    deadline = time.monotonic() + seconds
    for info in infos:
        info.wait_for_publish(max(0.1, deadline - time.monotonic()))
    if not all(i.is_published() for i in infos):
        raise RuntimeError("the broker did not acknowledge every message in time")
