"""``python -m qaffine``: the command line.

    python -m qaffine --includedir    # the directory holding qaffine/qaffine.hpp (for -I)
    python -m qaffine --cmakedir      # the directory holding qaffineConfig.cmake (for -Dqaffine_DIR=)
    python -m qaffine --version
    python -m qaffine demo            # the "How to quantize" notebook end to end, writes quantization.png
    python -m qaffine quantize IN.npy -o OUT.npz [--axis K | --block-size B] [--bits N] [--signed] ...
    python -m qaffine dequantize OUT.npz -o BACK.npy
    python -m qaffine info OUT.npz

The ``qaffine`` console script is the same command. With no arguments it prints the help and exits with
status 0. The subcommands are documented in ``qaffine._cli`` and by ``python -m qaffine COMMAND --help``.

>>> import contextlib, io, qaffine as qa
>>> from qaffine.__main__ import main
>>> with contextlib.redirect_stdout(io.StringIO()) as out:
...     status = main(["--includedir", "--cmakedir"])
>>> status, out.getvalue().splitlines() == [qa.get_include(), qa.get_cmake_dir()]
(0, True)
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from . import __version__
from ._cli import add_subcommands
from ._paths import get_cmake_dir, get_include

__all__ = ["build_parser", "invoked_as", "main"]


def invoked_as(argv0: Optional[str] = None) -> str:
    """How the user started the command line, for its messages: ``python -m qaffine`` or the script's name.

    >>> invoked_as("/usr/lib/python3/site-packages/qaffine/__main__.py"), invoked_as("/usr/bin/qaffine")
    ('python -m qaffine', 'qaffine')
    """
    name = os.path.basename(sys.argv[0] if argv0 is None else argv0)
    if name in ("__main__.py", "-m", "-c", ""):
        return "python -m qaffine"
    return os.path.splitext(name)[0] if name.startswith("qaffine") else "qaffine"


def build_parser(prog: Optional[str] = None) -> argparse.ArgumentParser:
    """The argument parser.

    Subcommands go on ``parser.add_subparsers(dest="command")``; each one sets its handler with
    ``set_defaults(func=handler)``, where ``handler(args) -> int`` returns the exit status (see main()).

    >>> build_parser().parse_args(["--cmakedir"]).cmakedir
    True
    """
    parser = argparse.ArgumentParser(
        prog=invoked_as() if prog is None else prog,
        description="qaffine: affine float -> uint8 quantization on a header-only C++17 core.",
    )
    parser.add_argument("--version", action="version", version=f"qaffine {__version__}")
    parser.add_argument(
        "--includedir", action="store_true",
        help="print the include directory of the C++ headers (holds qaffine/qaffine.hpp)",
    )
    parser.add_argument(
        "--cmakedir", action="store_true",
        help="print the directory of the CMake package (qaffineConfig.cmake), "
             "for -Dqaffine_DIR= or CMAKE_PREFIX_PATH",
    )
    add_subcommands(parser)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the command line on argv (default: sys.argv[1:]) and returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "func", None)
    if handler is not None:  # a subcommand
        return int(handler(args))
    try:
        if args.includedir:
            print(get_include())
        if args.cmakedir:
            print(get_cmake_dir())
    except FileNotFoundError as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 1
    if not (args.includedir or args.cmakedir):
        parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
