"""The `cogdex` command. Errors the user can fix (cogdex errors, filesystem errors) print one
line and exit 1; `--debug` shows their tracebacks, and other exceptions (bugs) always do."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from cogdex.demo import HELP as DEMO_HELP
from cogdex.errors import CogdexError
from cogdex.read.bbox import check_bbox

if TYPE_CHECKING:
    from cogdex.tiff.model import TIFFHeader

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


def _bbox(text: str) -> tuple[float, float, float, float]:
    parts = [p for p in text.replace(",", " ").split() if p]
    if len(parts) != 4:
        raise argparse.ArgumentTypeError("bbox is 4 numbers: xmin,ymin,xmax,ymax (lon/lat)")
    try:
        return check_bbox([float(p) for p in parts], "--bbox", across=True)
    except ValueError as exc:  # a bad number, or cogdex's GeometryError
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _json_arg(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc


def _filter_arg(text: str) -> object:
    """CQL2-JSON when the text is a JSON object, else cql2-text (checked by the build)."""
    stripped = text.strip()
    return _json_arg(stripped) if stripped.startswith("{") else stripped


@contextlib.contextmanager
def _flags_advised(flags: dict[str, str]) -> Iterator[None]:
    """An error whose advice names a Python argument (`force=True`) names the command's
    flag (`--force`) instead: a CLI user has no keyword to pass."""
    try:
        yield
    except CogdexError as exc:
        text = str(exc)
        for argument, flag in flags.items():
            text = text.replace(argument, flag)
        if text == str(exc):
            raise
        raise CogdexError(text) from exc


def _cmd_collections_build(args: argparse.Namespace) -> None:
    import cogdex

    bands = args.bands.split(",") if args.bands else None
    date_range = tuple(args.date_range) if args.date_range else None
    common = {
        "name": args.name,
        "bbox": args.bbox,
        "date_range": date_range,
        "bands": bands,
        "strict": args.strict,
        "force": args.force,
        "cache_dir": args.cache_dir,
        "client": args.dask,
    }
    with _flags_advised({"force=True": "--force"}):
        if args.dataset:
            coll = cogdex.build(args.dataset, query=args.query, filter=args.filter, **common)
        elif args.stac:
            coll = cogdex.build_from_stac(
                args.stac, args.collection, query=args.query, filter=args.filter, **common
            )
        else:
            hrefs = args.href_columns.split(",") if args.href_columns else None
            coll = cogdex.build_from_table(args.table, href_columns=hrefs, **common)
    print(coll)
    for skip in coll.skipped:
        href = f" ({skip['href']})" if skip.get("href") else ""
        print(f"  skipped {skip['id']}/{skip['asset']}: {skip['reason']}{href}")
    if coll.location:
        print(f"saved to {coll.location}")


def _cmd_collections_list(args: argparse.Namespace) -> None:
    from cogdex.index.cache import list_cached

    found = list_cached(args.cache_dir)
    if args.json:
        rows = [{**c.__dict__, "path": str(c.path)} for c in found]
        print(json.dumps(rows, indent=1, default=str))
        return
    if not found:
        print("no cached collections")
        return
    width = max(len(c.name) for c in found)
    for c in found:
        source = c.source.get("url") or c.source.get("table") or "?"
        print(
            f"{c.name:<{width}}  {c.records:>7} records  {len(c.bands):>3} bands  "
            f"{c.size_bytes / 1e6:8.2f} MB  {source}"
        )


def _cmd_collections_info(args: argparse.Namespace) -> None:
    import cogdex
    from cogdex.index.cache import collection_path

    path = collection_path(args.name, args.cache_dir)
    if not path.exists():
        from cogdex.errors import CogdexError

        raise CogdexError(f"no cached collection {args.name!r} (see `cogdex collections list`)")
    coll = cogdex.load(path)
    meta = coll.metadata
    info = {
        "name": coll.name,
        "path": str(path),
        "records": len(coll),
        "bands": {b: f"{r.asset}[{r.band_index}]" for b, r in meta.bands.items()},
        "crs": coll.crs,
        "source": dict(meta.source),
        "store_options": dict(meta.store_options),
        "skipped": len(meta.skipped),
        "schema_version": meta.schema_version,
    }
    if args.json:
        print(json.dumps(info, indent=1, default=str))
        return
    for key, value in info.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value) or "-"
        print(f"{key:<15} {value}")


def _cmd_collections_export(args: argparse.Namespace) -> None:
    import cogdex
    from cogdex.index.cache import collection_path

    path = collection_path(args.name, args.cache_dir)
    if not path.exists():
        from cogdex.errors import CogdexError

        raise CogdexError(f"no cached collection {args.name!r} (see `cogdex collections list`)")
    with _flags_advised({"overwrite=True": "--overwrite"}):
        written = cogdex.load(path).export(args.path, overwrite=args.overwrite)
    print(f"exported {args.name!r} to {written}")


def _cmd_collections_delete(args: argparse.Namespace) -> None:
    from cogdex.index.cache import delete_cached

    path = delete_cached(args.name, args.cache_dir)
    print(f"deleted {args.name!r} ({path})")


def _cmd_inspect(args: argparse.Namespace) -> None:
    from cogdex.io import runtime
    from cogdex.tiff.header import read_header

    header = runtime.run(read_header(args.url))
    if args.json:
        print(json.dumps(_header_json(header), indent=1))
        return
    for line in describe_header(args.url, header):
        print(line)


def _header_json(header: TIFFHeader) -> Any:
    doc = header.to_dict()

    def plain(value: object) -> object:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        if hasattr(value, "tolist"):
            return value.tolist()
        return value

    return plain(doc)


def describe_header(url: str, h: TIFFHeader) -> list[str]:
    """The header as readable lines (what `cogdex inspect` prints)."""
    from cogdex.redact import safe_url

    g = h.georef
    base = h.base
    crs = f"EPSG:{g.crs}" if isinstance(g.crs, int) else (g.crs or "none")
    if len(crs) > 70:
        crs = crs[:67] + "..."
    lines = [
        safe_url(url),
        f"  size        {h.size:,} bytes, {'BigTIFF' if h.bigtiff else 'classic TIFF'}, "
        f"byte order {h.byte_order!r}",
        f"  image       {base.width} x {base.height}, {base.samples_per_pixel} band(s), "
        f"{base.dtype}, planar {base.planar}",
        f"  compression {base.compression_name}, predictor {base.predictor}",
        f"  crs         {crs}",
        f"  transform   {g.transform}",
        f"  nodata      {h.nodata}",
        "  levels",
    ]
    for i, lv in enumerate(h.levels):
        tiles = len(lv.tile_offsets)
        kind = "tiles" if lv.tiled else "strips"
        mask = ", mask" if lv.mask is not None else ""
        lines.append(
            f"    {i}: {lv.width} x {lv.height}, {kind} {lv.tile_width}x{lv.tile_height}, "
            f"{tiles} {kind}, {int(lv.tile_byte_counts.sum()):,} bytes{mask}"
        )
    descriptions = [d for d in h.descriptions if d]
    if descriptions:
        lines.append(f"  bands       {', '.join(descriptions)}")
    if any(v is not None for v in (*h.scales, *h.offsets)):
        pairs = [
            f"{'-' if sc is None else f'{sc:g}'}/{'-' if of is None else f'{of:g}'}"
            for sc, of in zip(h.scales, h.offsets, strict=False)
        ]
        lines.append(f"  scale/offset {', '.join(pairs)} (per band: raw * scale + offset)")
    return lines


def _cmd_demo(args: argparse.Namespace) -> None:
    from cogdex.demo.run import run

    run(scenes=args.scenes, size=args.size, keep=args.keep, quiet=args.quiet,
        torchgeo=args.torchgeo, png=args.png)  # fmt: skip


def _int_in(lo: int, hi: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from exc
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be between {lo} and {hi}, not {value}")
        return value

    return parse


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

    cs = sub.add_parser("collections", help="build and manage cached collections").add_subparsers(
        dest="collections_command", required=True, metavar="ACTION"
    )
    p = cs.add_parser("build", help="build (or load from the cache) a collection")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", metavar="ID", help="a catalog dataset (cogdex datasets list)")
    source.add_argument("--stac", metavar="URL", help="a STAC API, or a static STAC file/URL")
    source.add_argument("--table", metavar="PATH", help="a Parquet table of TIFF URLs")
    p.add_argument("--collection", help="the STAC collection id (with --stac on an API)")
    p.add_argument("--name", required=True, help="the name to cache it under")
    p.add_argument(
        "--bbox",
        type=_bbox,
        help="xmin,ymin,xmax,ymax in lon/lat; across the antimeridian west > east "
        "(170,-20,-170,-10); a negative west after '=' (--bbox=-10,40,5,50)",
    )
    p.add_argument("--date-range", nargs=2, metavar=("START", "END"), help="inclusive ISO dates")
    p.add_argument("--bands", help="comma-separated band names")
    p.add_argument("--query", type=_json_arg, help="STAC query JSON")
    p.add_argument(
        "--filter", type=_filter_arg, help='CQL2 filter: JSON, or text like "eo:cloud_cover < 20"'
    )
    p.add_argument("--href-columns", help="comma-separated URL columns (with --table)")
    p.add_argument("--strict", action="store_true", help="fail if any header cannot be read")
    p.add_argument("--force", action="store_true", help="rebuild even if cached")
    p.add_argument("--cache-dir", help="cache folder (default: $COGDEX_CACHE_DIR or user cache)")
    p.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="fetch the headers on a Dask cluster: its scheduler's address, e.g. "
        "tcp://scheduler:8786 (needs cogdex[dask]; see docs/scale-out.md)",
    )
    p.set_defaults(func=_cmd_collections_build)
    for action, helptext, func in (
        ("list", "list cached collections", _cmd_collections_list),
        ("info", "show one cached collection", _cmd_collections_info),
        ("export", "write a cached collection to a path or URL", _cmd_collections_export),
        ("delete", "delete a cached collection", _cmd_collections_delete),
    ):
        p = cs.add_parser(action, help=helptext)
        if action != "list":
            p.add_argument("name")
        if action == "export":
            p.add_argument("path", help="index path, or a folder to write NAME.parquet into")
            p.add_argument(
                "--overwrite", action="store_true", help="replace a cogdex index already there"
            )
        if action in ("list", "info"):
            p.add_argument("--json", action="store_true")
        p.add_argument("--cache-dir", help="cache folder")
        p.set_defaults(func=func)

    p = sub.add_parser("inspect", help="fetch and show the parsed header of a GeoTIFF")
    p.add_argument("url")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_inspect)

    p = sub.add_parser(
        "demo",
        help="run the whole pipeline on synthetic COGs served from this machine",
        description=DEMO_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--keep", metavar="DIR", help="write the data to DIR and keep it there")
    p.add_argument("--scenes", type=_int_in(1, 64), default=8, metavar="N",
                   help="scenes to write, two per date, one per UTM tile (default 8)")  # fmt: skip
    p.add_argument("--size", type=_int_in(64, 8192), default=1024, metavar="PX",
                   help="scene width and height in 10 m pixels (default 1024)")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="one line per step, no details")
    p.add_argument(
        "--torchgeo",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the TorchGeo step, when cogdex[torchgeo] is installed (imports PyTorch and "
        "TorchGeo: seconds; default on)",
    )
    p.add_argument("--png", default="cogdex-demo.png", metavar="PATH",
                   help="where to write the quick-look PNG (default ./cogdex-demo.png, "
                   "replaced if there)")  # fmt: skip
    p.set_defaults(func=_cmd_demo)
    return parser


def _error_line(exc: BaseException) -> str:
    """An error the user can fix, as the one line the CLI prints: an OSError as its reason
    and path(s) (`[Errno 20]` says nothing to a user), any message's lines joined."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        paths = (exc.filename, exc.filename2)
        text = f"{exc.strerror}: {' -> '.join(str(p) for p in paths if p is not None)}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Command = args.func
    try:
        return int(func(args) or 0)
    except BrokenPipeError:  # `cogdex ... | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (CogdexError, OSError) as exc:  # what the user can fix; anything else is a bug
        if args.debug:
            raise
        print(f"cogdex: error: {_error_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cogdex: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "main",
]
