"""The `cogdex` command. Errors print one line and exit non-zero; `--debug` shows tracebacks."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from cogdex.errors import CogdexError

Command = Callable[[argparse.Namespace], int | None]


def _cmd_plugins(args: argparse.Namespace) -> None:
    from cogdex.plugins import plugin_infos

    infos = plugin_infos()
    if args.json:
        print(json.dumps([i.__dict__ for i in infos], indent=1))
        return
    for info in infos:
        version = f" {info.version}" if info.version else ""
        print(f"{info.name:<12} {info.distribution}{version}")
        for line in info.provides:
            print(f"{'':<12}   {line}")


def _cmd_datasets_list(args: argparse.Namespace) -> None:
    from cogdex.plugins import datasets

    entries = [e for e in datasets() if e.commercial_use or not args.commercial_only]
    if args.json:
        print(json.dumps([e.to_dict() for e in entries], indent=1))
        return
    width = max((len(e.id) for e in entries), default=2)
    for e in entries:
        flags = "commercial ok" if e.commercial_use else "non-commercial"
        auth = f", needs cogdex[{e.cloud}]" if e.cloud else ""
        print(f"{e.id:<{width}}  {e.name} ({e.license}, {flags}{auth})")


def _cmd_datasets_info(args: argparse.Namespace) -> None:
    from cogdex.plugins import dataset

    info = dataset(args.id).to_dict()
    if args.json:
        print(json.dumps(info, indent=1))
        return
    for key, value in info.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
        print(f"{key:<15} {value}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cogdex", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("plugins", help="list loaded plugins, their versions and what they provide")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_plugins)

    ds = sub.add_parser("datasets", help="the dataset catalog").add_subparsers(
        dest="datasets_command", required=True, metavar="ACTION"
    )
    p = ds.add_parser("list", help="list catalog datasets")
    p.add_argument(
        "--commercial-only",
        action="store_true",
        help="only datasets whose licence allows commercial use",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_datasets_list)
    p = ds.add_parser("info", help="show one dataset")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_datasets_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Command = args.func
    try:
        return int(func(args) or 0)
    except CogdexError as exc:
        if args.debug:
            raise
        print(f"cogdex: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cogdex: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
