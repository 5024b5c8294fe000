"""python -m mnistreport build|report|slides|pdf|check|shots|readme: the Makefile's publishing commands."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

from mnistfiles.io import error_line
from mnistlib import paths
from mnistreport import build, export
from mnistreport.info import REPORT_TOML, load_info


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mnistreport", description=__doc__.split(":")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    outputs = {"report": paths.REPORTS_DIR / "report.html", "slides": paths.REPORTS_DIR / "slides.html",
               "pdf": paths.REPORTS_DIR / "report.pdf"}
    for name, default in outputs.items():
        cmd = sub.add_parser(name, help=f"export the executed notebooks to {paths.shown(default)}")
        cmd.add_argument("--notebooks", nargs="+", type=Path, default=None,
                         help="executed notebooks, in order (default: notebooks/NN_*.ipynb)")
        cmd.add_argument("--out", type=Path, default=default, help=f"output file (default {paths.shown(default)})")
        cmd.add_argument("--info", type=Path, default=REPORT_TOML,
                         help=f"author, course, title (default {paths.shown(REPORT_TOML)}; missing: defaults)")
        if name == "slides":
            cmd.add_argument("--reveal-dir", type=Path, default=None,
                             help="a reveal.js 5 (default $MNISTLIB_REVEAL_DIR, else mnistreport/vendor/reveal.js)")
    check = sub.add_parser("check", help="open exported HTML in headless Chromium, offline; exit 1 on problems")
    check.add_argument("html", type=Path)
    check.add_argument("--screenshot", type=Path, default=None, help="PNG path (default: beside the HTML)")
    shots = sub.add_parser("shots", help="one screenshot per slide of a deck, at a projector's sizes")
    shots.add_argument("deck", type=Path)
    shots.add_argument("--out-dir", type=Path, required=True)
    shots.add_argument("--size", nargs="+", default=["1280x800", "1024x768"], help="WIDTHxHEIGHT, one or more")
    sub.add_parser("readme", help="rewrite README's generated blocks from the notebooks' readme cells and benchmarks/")
    sub.add_parser("build", help="execute the notebooks and export the report (make report); see --help there",
                   add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    with warnings.catch_warnings():  # one plain line per warning on the console (make report's too), restored after
        warnings.showwarning = lambda message, *_a, **_k: print(f"warning: {message}", file=sys.stderr)
        if argv[:1] == ["build"]:
            return build.main(argv[1:])
        args = _parser().parse_args(argv)
        try:
            return _run(args)
        except (OSError, export.NotebookError, RuntimeError, ValueError, ImportError) as exc:
            print(f"error: {error_line(exc)}", file=sys.stderr)
            return 2


def _run(args: argparse.Namespace) -> int:
    from mnistreport import browser

    if args.command == "check":
        result = browser.check_page(args.html, args.screenshot or args.html.with_suffix(".png"))
        print(json.dumps(result, indent=2))
        return 0 if result["ok"] else 1
    if args.command == "readme":
        from mnistreport.readme import update_readme

        print("README.md updated" if update_readme() else "README.md already up to date")
        return 0
    if args.command == "shots":
        with browser.launch() as chromium:  # one browser for every size
            for size in args.size:
                width, height = (int(v) for v in size.lower().split("x"))
                found = browser.screenshot_deck(args.deck, args.out_dir / size, size=(width, height), browser=chromium)
                print(f"{len(found)} slides at {size} in {args.out_dir / size}")
        return 0
    notebooks = args.notebooks or build.notebook_paths()
    info = load_info(args.info)
    if args.command == "report":
        out = export.export_report(notebooks, args.out, info)
    elif args.command == "slides":
        out = export.export_slides(notebooks, args.out, info, reveal_dir=args.reveal_dir)
    else:
        with tempfile.TemporaryDirectory(prefix="mnistreport-pdf-") as tmp:
            html = export.export_report(notebooks, Path(tmp) / "report.html", info)
            out = browser.print_pdf(html, args.out)
    print(f"wrote {paths.shown(out)} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
