"""``closedloop``: the command line of the command center.

closedloop serve [--host H] [--port P] [--workers N]
closedloop demo load
closedloop units list
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from closedloop.bootstrap import build_command_center
from closedloop.settings import Settings, SettingsError
from domain.calendar import CalendarError
from domain.errors import DomainError


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from api.app import create_app

    center = build_command_center(settings)
    print(f"Closed Loop on {settings.database_url}")
    print(f"API docs: http://{args.host}:{args.port}/schema")
    uvicorn.run(create_app(center), host=args.host, port=args.port, log_level="info")
    return 0


def _demo_load(args: argparse.Namespace, settings: Settings) -> int:
    from domain.demo import load_demo

    center = build_command_center(settings)
    added = load_demo(center)
    print(f"demo district: {added} unit(s) added, {len(center.units())} on the record")
    return 0


def _units_list(args: argparse.Namespace, settings: Settings) -> int:
    center = build_command_center(settings)
    for u in center.units():
        state = "active" if u.active else "inactive"
        print(f"{u.code}\t{u.level}\t{u.kind}\t{u.parent or '-'}\t{state}\t{u.name}\t{u.name_en}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="closedloop", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=_serve)

    demo = sub.add_parser("demo", help="the demo district")
    demo_sub = demo.add_subparsers(dest="demo_command", required=True)
    demo_sub.add_parser("load", help="load the demo district (twice changes nothing)").set_defaults(
        func=_demo_load
    )

    units = sub.add_parser("units", help="the command network")
    units_sub = units.add_subparsers(dest="units_command", required=True)
    units_sub.add_parser("list", help="one unit a line, its code first").set_defaults(
        func=_units_list
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        if getattr(args, "host", None) is None and hasattr(args, "host"):
            args.host = settings.host
        if getattr(args, "port", None) is None and hasattr(args, "port"):
            args.port = settings.port
        result: int = args.func(args, settings)
        return result
    except (SettingsError, CalendarError) as e:
        print(f"closedloop: configuration error: {e}", file=sys.stderr)
        return 2
    except DomainError as e:
        print(f"closedloop: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
