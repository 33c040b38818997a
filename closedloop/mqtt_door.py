"""``closedloop intake mqtt``: readings from an MQTT broker through the intake (ADR 0079).

The door subscribes at QoS 1 with a persistent session and acknowledges by hand
(paho-mqtt's ``manual_ack``): the messages that arrived together are read, checked for who
may speak for which station, and given to :meth:`domain.intake.Intake.observe` as **one
batch** (the same checks, reading ids and decisions as ``POST /v1/observations``). Only
once that batch's readings and the dead letters are durable is each message acknowledged.
A door killed before that is sent the messages again by the broker, and the reading ids
make the second delivery change nothing.

A message the door cannot read, whose topic's unit may not speak for its station, or
whose readings are all refused is a dead letter (topic, payload bounded, reason, time),
acknowledged like any other: the door keeps consuming.

With ``--share GROUP`` (ADR 0095) each topic filter is subscribed as the MQTT 5 shared
subscription ``$share/GROUP/<filter>``: the broker gives each message to one of the
group's sessions, so N copies, each under a client id of its own, divide the messages.

A shared copy hands its share over (ADR 0096): stopped cleanly, it unsubscribes, takes
what its session still had for it and ends the session; killed, its session is adopted
by a survivor (:mod:`closedloop.mqtt_copies`), which does the same under its id.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from closedloop.mqtt_payloads import Topic, Unreadable, bounded, parse_payload, parse_topic
from domain.application import CommandCenter
from domain.errors import DomainError
from domain.intake import Intake
from domain.meta import Actor, Context, now
from domain.readings import DeadLetter
from domain.rules import Reading
from telemetry.series import recording

log = logging.getLogger("closedloop.intake.mqtt")

DOOR = "mqtt"
#: The most messages one batch takes: a batch is one insert and one transaction.
MAX_MESSAGES = 1000
#: How long the first message of a batch waits for others to join it.
GATHER_SECONDS = 0.02
#: Messages the broker may have in flight to the door (MQTT 5 Receive Maximum): what
#: arrives while a batch is being kept is the next batch.
RECEIVE_MAXIMUM = 4000
#: Handing a session over: it is done once nothing has come for QUIET_SECONDS after the
#: unsubscription (the broker sends what it queued as the acknowledgements free the
#: window), and given up (the session kept, for a copy to adopt) past HAND_OVER_SECONDS.
QUIET_SECONDS = 0.5
HAND_OVER_SECONDS = 20.0
#: How long an adopting door waits for the broker to take its connection.
ADOPT_CONNECT_SECONDS = 5.0


def default_client_id(unit: str) -> str:
    return f"closedloop-intake-{unit}"


def share_refusal(group: str | None, client_id: str | None, unit: str) -> str | None:
    """Why ``--share`` cannot start with these options, or None if it can (ADR 0095)."""
    if group is None:
        return None
    if not group or any(c in group for c in "/+#"):
        return f"--share {group!r}: a group's name is not empty and has no '/', '+' or '#'"
    if not client_id:
        return "--share needs --client-id: each copy comes back under a stable id of its own"
    if client_id == default_client_id(unit):
        return (
            f"--share needs a --client-id of its own, not {client_id!r}: that session "
            "holds the single door's (unshared) subscription"
        )
    return None


def subscriptions(topics: Sequence[str], share: str | None) -> list[str]:
    """The filters subscribed: as given, or each in the shared group ``share``."""
    return [f"$share/{share}/{t}" if share else t for t in topics]


@dataclass(frozen=True)
class Incoming:
    topic: str
    payload: bytes
    #: What acknowledges it: the connection it came on and its packet id.
    generation: int = 0
    mid: int = 0


@dataclass
class Taken:
    """What one batch of messages came to."""

    messages: int = 0
    readings: int = 0
    refused: int = 0
    dead: list[DeadLetter] = field(default_factory=list)


class MqttIntake:
    """The door's work on messages already received: no broker here (tests call it
    directly). ``unit`` is the unit the door speaks for: a topic's unit must lie within
    it, and the topic's unit must own (or, by its subtree, contain) the station."""

    def __init__(self, center: CommandCenter, intake: Intake, unit: str) -> None:
        center.unit(unit)  # a door for a unit the network does not know does not start
        self.center = center
        self.intake = intake
        self.unit = unit
        self.actor = Actor(person="closedloop intake mqtt", unit=unit, role="monitor")
        self._within: dict[tuple[str, str], bool] = {}
        self._owners: dict[str, str] = {}
        # A copy adopting a dead copy's session (ADR 0096) keeps batches from two doors:
        # one at a time, as its own door alone would.
        self._taking = threading.Lock()

    def _is_within(self, code: str, ancestor: str) -> bool:
        key = (code, ancestor)
        seen = self._within.get(key)
        if seen is None:
            try:
                self.center.unit(code)
                seen = self.center.is_within(code, ancestor)
            except DomainError:
                seen = False
            self._within[key] = seen
        return seen

    def _speaks(self, topic: Topic) -> str | None:
        """Why the topic's unit may not speak for its station, or None if it may."""
        if not self._is_within(topic.unit, self.unit):
            return f"unit {topic.unit} is not within the door's unit {self.unit}"
        owner = self._owners.get(topic.station)
        if owner is None:
            station = self.intake.station(topic.station)
            if station is None:
                return None  # enrolled under the topic's unit, if the catalogue allows
            # A station's unit does not change while the door runs (the catalogue is read
            # at start); remembered, as a busy door hears each station many times.
            owner = self._owners[topic.station] = station.unit
        if not self._is_within(owner, topic.unit):
            return f"unit {topic.unit} does not speak for station {topic.station}"
        return None

    def take(self, messages: Sequence[Incoming]) -> Taken:
        with self._taking:
            return self._take(messages)

    def _take(self, messages: Sequence[Incoming]) -> Taken:
        taken = Taken(messages=len(messages))
        at = now()
        readings: list[Reading] = []
        # Each message's readings, as a range of the batch's indexes.
        spans: list[tuple[Incoming, Topic, int, int]] = []

        def dead(m: Incoming, unit: str, kind: str, reason: str) -> None:
            taken.dead.append(DeadLetter(DOOR, m.topic, unit, bounded(m.payload), reason, at))
            series = recording()
            if series is not None:
                series.dead_letters.labels(DOOR, kind).inc()

        for m in messages:
            try:
                topic = parse_topic(m.topic)
            except Unreadable as e:
                dead(m, self.unit, "unreadable", str(e))
                continue
            why = self._speaks(topic)
            if why is not None:
                dead(m, topic.unit, "not_permitted", why)
                continue
            try:
                parsed = parse_payload(m.payload, topic)
            except Unreadable as e:
                dead(m, topic.unit, "unreadable", str(e))
                continue
            first = len(readings)
            readings.extend(
                Reading.of(
                    r.source or f"mqtt:{m.topic}"[:200],
                    topic.station,
                    r.metric,
                    r.value,  # type: ignore[arg-type]  # the intake refuses non-numbers
                    r.unit_of_measure,
                    "",
                    topic.unit,
                    r.observed_at,
                    {},
                )
                for r in parsed
            )
            spans.append((m, topic, first, len(readings)))
        if readings:
            batch = f"mqtt-{uuid.uuid4().hex}"
            result = self.intake.observe(
                Context(self.actor, command_id=batch), batch, readings, new_batch=True
            )
            reasons: dict[int, str] = {
                r["index"]: f"{r['field']}: {r['reason']}" for r in result.refused
            }
            taken.readings = len(readings) - len(reasons)
            taken.refused = len(reasons)
            for m, topic, first, end in spans:
                mine = [reasons[i] for i in range(first, end) if i in reasons]
                if len(mine) == end - first:
                    dead(m, topic.unit, "all_refused", "; ".join(dict.fromkeys(mine))[:1000])
        if taken.dead:
            self.intake.readings.reject(taken.dead)
        series = recording()
        if series is not None:
            series.intake.labels(DOOR, "accepted").inc(len(messages) - len(taken.dead))
            if taken.dead:
                series.intake.labels(DOOR, "refused").inc(len(taken.dead))
        return taken


class MqttDoor:
    """The door on a broker: paho-mqtt's network thread receives, this door's thread
    keeps the batches and acknowledges them."""

    def __init__(
        self,
        work: MqttIntake,
        *,
        host: str,
        port: int,
        topics: Sequence[str] = ("closedloop/#",),
        client_id: str | None = None,
        share: str | None = None,
        max_backoff: float = 30.0,
        hand_over: Callable[[], bool] | None = None,
    ) -> None:
        """``hand_over`` is asked once the door is told to stop: whether to end its
        session (a shared copy with others live to take its share, ADR 0096)."""
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

        self.work = work
        self.host, self.port = host, port
        self.topics = subscriptions(topics, share)
        self._queue: queue.Queue[Incoming] = queue.Queue()
        self._stop = threading.Event()
        #: Stop at once, the session kept: a second signal, or the roster lost.
        self._abandon = threading.Event()
        #: Handing over: a connection (again) subscribes to nothing.
        self._leaving = False
        self._unsubscribed = threading.Event()
        self.hand_over = hand_over
        self._generation = 0
        self.taken = Taken()
        self.connected = threading.Event()
        self.client_id = client_id or default_client_id(work.unit)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        # paho's own reconnection: 1 s, doubling, up to max_backoff.
        self.client.reconnect_delay_set(min_delay=1, max_delay=max(1, int(max_backoff)))
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_unsubscribe = self._on_unsubscribe

    # -- paho's thread -------------------------------------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.warning("the broker refused the door: %s", reason)
            return
        self._generation += 1
        if not self._leaving:
            client.subscribe([(t, 1) for t in self.topics])
        log.info(
            "connected to %s:%s (session present: %s)", self.host, self.port, flags.session_present
        )
        self.connected.set()

    def _on_subscribe(self, client: Any, userdata: Any, mid: Any, codes: Any, props: Any) -> None:
        log.info("subscribed to %s", ", ".join(self.topics))

    def _on_unsubscribe(self, client: Any, userdata: Any, mid: Any, codes: Any, props: Any) -> None:
        self._unsubscribed.set()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self.connected.clear()
        if not self._stop.is_set():
            log.warning("the broker went away (%s); reconnecting with backoff", reason)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        self._queue.put(Incoming(msg.topic, bytes(msg.payload), self._generation, msg.mid))

    # -- the door's thread ---------------------------------------------------------

    def _gather(self) -> list[Incoming]:
        try:
            batch = [self._queue.get(timeout=0.2)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + GATHER_SECONDS
        while len(batch) < MAX_MESSAGES:
            left = deadline - time.monotonic()
            try:
                batch.append(
                    self._queue.get_nowait() if left <= 0 else self._queue.get(timeout=left)
                )
            except queue.Empty:
                break
        return batch

    def _keep(self, batch: list[Incoming], until: float | None = None) -> bool:
        """Keep a batch and acknowledge it; False if it was not kept (stopping, or past
        ``until`` while handing over): nothing acknowledged, the broker sends it again."""
        pause = 0.5
        while True:
            try:
                taken = self.work.take(batch)
                break
            except Exception:
                # The store is away: nothing is acknowledged, the batch is tried again.
                log.exception("a batch of %d message(s) could not be kept", len(batch))
                if until is None:
                    if self._stop.wait(pause):
                        return False
                elif self._abandon.wait(pause) or time.monotonic() > until:
                    return False
                pause = min(pause * 2, 30.0)
        self.taken.messages += taken.messages
        self.taken.readings += taken.readings
        self.taken.refused += taken.refused
        for m in batch:
            # A message of an earlier connection is not ours to acknowledge any more:
            # the broker sends it again, and it changes nothing the second time.
            if m.generation == self._generation:
                self.client.ack(m.mid, 1)
        return True

    def _connect(self) -> None:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        # The session (its subscriptions and unacknowledged messages) outlives the door
        # by a day: a door down for less loses nothing.
        props.SessionExpiryInterval = 86_400
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        self.client.connect_async(
            self.host, self.port, keepalive=30, clean_start=False, properties=props
        )
        self.client.loop_start()

    def _disconnect(self, *, end_session: bool) -> None:
        self._stop.set()  # an adopting door too: its going away is no outage
        props = None
        if end_session:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            # Sent after the last acknowledgement (paho sends in order): the broker
            # drops the session, which holds nothing any more.
            props = Properties(PacketTypes.DISCONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 0
        self.client.disconnect(properties=props)
        self.client.loop_stop()

    def run(self) -> bool:
        """Take messages until told to stop; True if the session was then handed over
        (ended, holding nothing), False if it was kept at the broker."""
        self._connect()
        ended = False
        unkept = False
        try:
            while not self._stop.is_set():
                batch = self._gather()
                if batch and not self._keep(batch):
                    # Stopped while the store was away: the batch is unacknowledged in
                    # the session, which must therefore be kept, not ended.
                    unkept = True
            asked = self.hand_over
            if asked is not None and not unkept and not self._abandon.is_set() and asked():
                ended = self._drain()
        finally:
            self._disconnect(end_session=ended)
        return ended

    def adopt(self) -> bool:
        """Connect under a dead copy's id, take what its session held and end it; True if
        it was ended, False if it was kept (for the next look, or the copy's return)."""
        self._leaving = True
        self._connect()
        ended = False
        try:
            if self.connected.wait(ADOPT_CONNECT_SECONDS):
                ended = self._drain()
            else:
                log.warning("the broker did not take the connection under %s", self.client_id)
        finally:
            self._disconnect(end_session=ended)
        return ended

    def _drain(self) -> bool:
        """Unsubscribe (the broker gives the group's new messages to the others), then
        keep and acknowledge what the session still brings until it is quiet. False if
        that did not finish within HAND_OVER_SECONDS or the connection changed meanwhile
        (its unacknowledged messages are the session's again, so it must be kept)."""
        self._leaving = True
        deadline = time.monotonic() + HAND_OVER_SECONDS
        generation = self._generation
        if not self.connected.is_set():
            return False
        self._unsubscribed.clear()
        self.client.unsubscribe(self.topics)
        quiet_since = time.monotonic()
        unsubscribed = False
        while not self._abandon.is_set() and time.monotonic() < deadline:
            if self._generation != generation or not self.connected.is_set():
                break
            batch = self._gather()
            if batch:
                if not self._keep(batch, until=deadline):
                    break
                quiet_since = time.monotonic()
            elif not unsubscribed:
                unsubscribed = self._unsubscribed.is_set()
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= QUIET_SECONDS:
                log.info("%s: its session is empty; ending it", self.client_id)
                return True
        log.warning("%s: the hand-over did not finish; the session is kept", self.client_id)
        return False

    def stop(self) -> None:
        """Stop (a shared copy hands over first); asked again, stop at once."""
        if self._stop.is_set():
            self._abandon.set()
        self._stop.set()

    def abandon(self) -> None:
        """Stop at once and keep the session (its messages wait in it)."""
        self._abandon.set()
        self._stop.set()


def _serve(args: Any, settings: Any) -> int:
    import signal
    import sys

    from closedloop.bootstrap import build_command_center, build_mqtt_copies
    from closedloop.intake_config import build_intake
    from closedloop.mqtt_copies import Takeover

    refusal = share_refusal(args.share, args.client_id, args.unit)
    if refusal is not None:
        print(f"closedloop intake mqtt: {refusal}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    center = build_command_center(settings)
    intake = build_intake(center, settings)
    topics = args.topic or ["closedloop/#"]
    host = args.host or settings.intake.mqtt_host
    port = args.port or settings.intake.mqtt_port
    copies = None
    takeover: Takeover | None = None
    if args.share:
        copies = build_mqtt_copies(
            settings, args.share, args.client_id, subscriptions(topics, args.share)
        )
    try:
        if copies is not None and not copies.hold_own():
            print(f"closedloop intake mqtt: {args.client_id}'s lock stayed taken", file=sys.stderr)
            return 1
        work = MqttIntake(center, intake, args.unit)

        def hand_over() -> bool:
            if takeover is None or copies is None:
                return False  # a single door, or copies on a store in memory: kept
            takeover.stop()
            try:
                return copies.leave()
            except Exception:
                log.exception("the store's roster is unreachable: the session is kept")
                return False

        door = MqttDoor(
            work,
            host=host,
            port=port,
            topics=topics,
            client_id=args.client_id,
            share=args.share,
            hand_over=hand_over,
        )
        if copies is not None:
            takeover = Takeover(copies, _adopter(work, host, port), lost=door.abandon).start()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: door.stop())
        ended = door.run()
        if takeover is not None:
            takeover.stop()
        if copies is not None and not (takeover is not None and takeover.failed):
            copies.let_go(copies.me, ended=ended)
        t = door.taken
        print(f"{t.messages} message(s), {t.readings} reading(s) kept, {t.refused} refused")
        if takeover is not None and takeover.adopted:
            print(f"{takeover.adopted} session(s) of dead copies taken over")
    finally:
        if copies is not None:
            copies.close()
        intake.readings.close()
        center.close()
    # A copy that lost the store's roster stopped, its session kept: not a clean stop.
    return 1 if takeover is not None and takeover.failed else 0


def _adopter(work: MqttIntake, host: str, port: int) -> Callable[[str, list[str]], bool]:
    """How a copy adopts a dead copy's session: a door of its own under the dead id,
    unsubscribing the filters that copy registered, through the same batches."""

    def adopt(client_id: str, filters: list[str]) -> bool:
        door = MqttDoor(work, host=host, port=port, topics=filters, client_id=client_id)
        ended = door.adopt()
        t = door.taken
        log.info(
            "took %d message(s) from %s's session, %d reading(s) kept, %d refused",
            t.messages,
            client_id,
            t.readings,
            t.refused,
        )
        return ended

    return adopt


def add_intake_commands(sub: Any) -> None:
    intake = sub.add_parser("intake", help="the intake's doors beside HTTP")
    intake_sub = intake.add_subparsers(dest="intake_command", required=True)
    command = intake_sub.add_parser(
        "mqtt", help="readings from an MQTT broker, QoS 1, acknowledged once kept (ADR 0079)"
    )
    command.add_argument("--unit", required=True, help="the unit the door speaks for")
    command.add_argument(
        "--topic", action="append", help="a topic filter to subscribe to (closedloop/# by default)"
    )
    command.add_argument("--host", help="the broker (CLOSEDLOOP_MQTT_HOST)")
    command.add_argument("--port", type=int, help="the broker's port (CLOSEDLOOP_MQTT_PORT)")
    command.add_argument(
        "--client-id", help="the session's name at the broker (closedloop-intake-<unit>)"
    )
    command.add_argument(
        "--share",
        metavar="GROUP",
        help="subscribe as $share/GROUP/<filter>: copies of one group divide the messages; "
        "each needs a --client-id of its own (ADR 0095)",
    )
    command.set_defaults(func=_serve)
