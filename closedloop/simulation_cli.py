"""``closedloop demo simulate [--speed N] [--once] [--seed S]`` (ADR 0050).

Plays the storm day of ``closedloop/storm_day.toml`` over the demo district on the
store ``CLOSEDLOOP_DATABASE_URL`` names, beside a running ``closedloop serve`` or on its
own, until Ctrl-C or SIGTERM (or one day with ``--once``). A signal only marks the stop:
the command under way is finished and written, and the day ends before its next beat,
so the store is never left between the halves of one command. ``cli.py`` adds it with
:func:`add_simulate_command`.
"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from closedloop.settings import Settings
from closedloop.simulation import MAX_SPEED

#: The signals that stop the simulation: ``kill`` (and ``make run``'s trap), and Ctrl-C.
STOPPING = (signal.SIGTERM, signal.SIGINT)


def _speed(text: str) -> float:
    try:
        speed = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < speed <= MAX_SPEED:
        raise argparse.ArgumentTypeError(f"more than 0 and at most {MAX_SPEED:g}, not {text}")
    return speed


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from closedloop.bootstrap import build_command_center
    from closedloop.intake_config import build_intake
    from closedloop.simulation import Simulator
    from closedloop.storm_script import load_script

    stop = threading.Event()
    before = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in STOPPING}
    center = build_command_center(settings)
    try:
        simulator = Simulator(
            center,
            build_intake(center, settings),
            load_script(),
            speed=args.speed,
            seed=args.seed,
            stop=stop,
            say=lambda line: print(line, flush=True),
        )
        simulator.check_district()
        days = simulator.run(once=args.once)
    finally:
        center.close()
        for sig, handler in before.items():
            signal.signal(sig, handler)
    print(f"simulation stopped after {days} day(s) begun", flush=True)
    return 0


def add_simulate_command(demo_subparsers: Any) -> None:
    """Add ``simulate`` beside ``demo load``."""
    made = demo_subparsers.add_parser(
        "simulate", help="play a storm day over the demo district until stopped"
    )
    made.add_argument(
        "--speed",
        type=_speed,
        default=60.0,
        metavar="N",
        help="simulated seconds per real second (default 60: an hour a minute)",
    )
    made.add_argument("--once", action="store_true", help="stop after one simulated day")
    made.add_argument("--seed", type=int, default=None, metavar="S", help="seed of the readings")
    made.set_defaults(func=_simulate)
