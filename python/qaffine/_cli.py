"""The subcommands of ``python -m qaffine`` / ``qaffine``: demo, quantize, dequantize, info.

Every handler returns the exit status: 0 on success; 2 with one line on stderr naming the problem
(missing or unreadable file, not a .npy, wrong dtype, NaN or infinity in the data, bad options); 130 if
interrupted (Ctrl-C) or 143 if terminated (SIGTERM). Output files are written to a temporary name in the
same folder and renamed at the end, so a failure or an interruption never leaves a partial file.

>>> import contextlib, io, os, tempfile, numpy as np
>>> from qaffine.__main__ import main
>>> d = tempfile.mkdtemp()
>>> np.save(os.path.join(d, "x.npy"), np.linspace(-1, 1, 1000, dtype=np.float32))
>>> with contextlib.redirect_stdout(io.StringIO()):
...     status = main(["quantize", os.path.join(d, "x.npy"), "-o", os.path.join(d, "x.npz"), "--bits", "4"])
>>> status
0
>>> with contextlib.redirect_stdout(io.StringIO()) as out:
...     status = main(["info", os.path.join(d, "x.npz")])
>>> status, "per tensor, 4-bit uint8" in out.getvalue()
(0, True)
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import threading
import zipfile
from types import FrameType
from typing import Any, Callable, NoReturn, Optional

import numpy as np

from ._checkpoint import is_checkpoint, run_dequantize, run_info, run_quantize
from ._calibrate import METHODS as RANGE_METHODS
from ._io import interrupt
from ._stream import DEFAULT_CHUNK, dequantize_file, file_info, quantize_file

__all__ = ["add_subcommands"]

Handler = Callable[[argparse.Namespace], int]


class _Terminated(BaseException):
    """SIGTERM, turned into an exception so that temporary files are removed on the way out."""


class OneLineParser(argparse.ArgumentParser):
    """Option errors as one line on stderr (``qaffine quantize: error: ...``), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _message(e: BaseException) -> str:
    if isinstance(e, FileNotFoundError) and e.filename is not None:
        return f"{e.filename}: no such file or folder"
    if isinstance(e, IsADirectoryError) and e.filename is not None:
        ours = e.strerror and e.strerror != os.strerror(errno.EISDIR)  # qaffine's own words, else the system's
        return f"{e.filename}: {e.strerror}" if ours else f"{e.filename}: is a folder, not a file"
    if isinstance(e, PermissionError) and e.filename is not None:
        return f"{e.filename}: permission denied"
    if isinstance(e, OSError) and e.strerror:
        where = f"{e.filename}: " if e.filename else ""
        return f"{where}{e.strerror}"
    if isinstance(e, zipfile.BadZipFile):
        return f"not a valid .npz (zip) file: {e}"
    return " ".join(str(e).split()) or type(e).__name__


def _guard(fn: Handler) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        name = args.prog  # "python -m qaffine quantize" or "qaffine quantize": as it was started
        previous: Any = None
        main_thread = threading.current_thread() is threading.main_thread()

        def on_signal(signum: int, frame: Optional[FrameType]) -> None:
            interrupt(KeyboardInterrupt() if signum == signal.SIGINT else _Terminated())

        if main_thread:
            previous = (signal.signal(signal.SIGINT, on_signal), signal.signal(signal.SIGTERM, on_signal))
        try:
            return fn(args)
        except KeyboardInterrupt:
            print(f"{name}: interrupted; no output written", file=sys.stderr)
            return 130
        except _Terminated:
            print(f"{name}: terminated; no output written", file=sys.stderr)
            return 143
        except (ValueError, TypeError, OSError, zipfile.BadZipFile, EOFError, ImportError) as e:
            print(f"{name}: error: {_message(e)}", file=sys.stderr)
            return 2
        finally:
            if main_thread:
                signal.signal(signal.SIGINT, previous[0])
                signal.signal(signal.SIGTERM, previous[1])

    return handler


def _progress(args: argparse.Namespace) -> bool:
    if args.quiet:
        return False
    return bool(args.progress) or sys.stderr.isatty()


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _size(n: int) -> str:
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return f"{n:,} bytes ({n / div:.1f} {unit})"
    return f"{n:,} bytes"


# ---------------------------------------------------------------------------------------------- demo
def _demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    run_demo(random=args.random, n=args.n, low=args.low, high=args.high, seed=args.seed, out_dir=args.out,
             show=args.show)
    return 0


# ------------------------------------------------------------------------------------------ quantize
def _quantize(args: argparse.Namespace) -> int:
    if is_checkpoint(args.input):
        return run_quantize(args, _progress(args))
    if args.include or args.exclude:
        raise ValueError(f"--include / --exclude select tensors of a .safetensors checkpoint; {args.input} is a .npy")
    r = quantize_file(args.input, args.output, axis=args.axis, block_size=args.block_size, bits=args.bits,
                      signed=args.signed, symmetric=args.symmetric, tight=args.tight, packed=args.packed,
                      chunk=args.chunk_size, progress=_progress(args), range=args.range)
    if args.quiet:
        return 0
    h = r.header
    dtype = h.source_dtype.name if h.source_dtype is not None else "float"
    print(f"quantized {args.input} -> {args.output}")
    print(f"  data    shape {h.shape}, {h.size:,} {dtype} values")
    print(f"  mode    {h.describe()}")
    if h.axis is None:
        print(f"  params  scale s = {r.scale_min:.6g}, zero point z = {r.zero_point}")
    else:
        print(f"  params  scale from {r.scale_min:.6g} to {r.scale_max:.6g}")
    print(f"  size    {_size(r.input_bytes)} -> {_size(r.output_bytes)}: "
          f"{r.input_bytes / max(r.output_bytes, 1):.2f}x smaller")
    print(f"  error   {r.error}")
    bound = "s/2" if h.axis is None else "largest s/2"
    print(f"  bound   |error| <= {bound} = {r.scale_max / 2:.6g} (up to float32 rounding)")
    return 0


# ---------------------------------------------------------------------------------------- dequantize
def _dequantize(args: argparse.Namespace) -> int:
    if is_checkpoint(args.input):
        return run_dequantize(args, _progress(args))
    h, dtype = dequantize_file(args.input, args.output, dtype=args.dtype, chunk=args.chunk_size,
                               progress=_progress(args))
    if not args.quiet:
        print(f"dequantized {args.input} -> {args.output}: shape {h.shape}, {dtype.name} "
              f"({_size(h.size * dtype.itemsize)})")
    return 0


# ---------------------------------------------------------------------------------------------- info
def _info(args: argparse.Namespace) -> int:
    if is_checkpoint(args.file):
        return run_info(args)
    i = file_info(args.file)
    h = i.header
    source = h.source_dtype
    ref = source if source is not None else np.dtype(np.float32)
    ref_bytes = h.size * ref.itemsize
    print(f"{args.file}: qaffine quantized array, format version {i.version}")
    print(f"  shape       {h.shape} = {h.size:,} values" + (f", quantized from {source.name}" if source else ""))
    print(f"  dtype       {h.dtype.name} codes, {h.bits} bits, range [{h.qmin}, {h.qmax}]"
          + (", packed" if h.packed else ""))
    print(f"  mode        {h.describe()}")
    if h.axis is None:
        print(f"  scale       {i.scale_min:.6g}")
        print(f"  zero point  {i.zero_point_min}")
    else:
        print(f"  scale       {i.params_count:,} values: min {i.scale_min:.6g}, max {i.scale_max:.6g}, "
              f"mean {i.scale_mean:.6g}")
        print(f"  zero point  min {i.zero_point_min}, max {i.zero_point_max}")
    print(f"  size        file {_size(i.file_bytes)}: codes {i.codes_bytes:,} bytes, "
          f"parameters {8 * i.params_count:,} bytes")
    print(f"  ratio       {ref_bytes / max(i.file_bytes, 1):.2f}x smaller than {ref.name} "
          f"({_size(ref_bytes)})")
    return 0


# -------------------------------------------------------------------------------------------- parser
def add_subcommands(parser: argparse.ArgumentParser) -> None:
    """Adds demo, quantize, dequantize and info to the ``python -m qaffine`` parser."""
    sub = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND",
                                parser_class=OneLineParser)

    demo = sub.add_parser(
        "demo", help="the 'How to quantize' notebook end to end: its numbers beside qaffine's, quantization.png",
        description="Quantizes the notebook's own ten values (as it printed them) and prints the notebook's "
                    "alpha, beta, alpha_q, beta_q, s, z and truncated codes beside qaffine's (default range "
                    "containing 0, and the tight range include_zero=False), a table of x, code, dequantized "
                    "x_hat and error for each, and writes quantization.png: the values, the codes and the "
                    "dequantized values by index, as the notebook plots them, and the error of each value. "
                    "--random, or any of --n, --low, --high, --seed, draws random data instead "
                    "(n sorted uniform values in [low, high); the options not given take their defaults).")
    demo.add_argument("--random", action="store_true",
                      help="random data instead of the notebook's values (default: --n 10 --low 0 --high 5 "
                           "--seed 0)")
    demo.add_argument("--n", type=_positive, help="number of random values (default 10; implies --random)")
    demo.add_argument("--low", type=float, help="lower end of the uniform range (default 0; implies --random)")
    demo.add_argument("--high", type=float, help="upper end of the uniform range (default 5; implies --random)")
    demo.add_argument("--seed", type=int, help="seed of np.random.default_rng (default 0; implies --random)")
    demo.add_argument("--out", metavar="DIR", default=".", help="folder for quantization.png (default: here)")
    demo.add_argument("--show", action="store_true", help="also open the plot in a window, if a display exists")
    demo.set_defaults(func=_guard(_demo), prog=demo.prog)

    quant = sub.add_parser(
        "quantize", help="quantize a .npy file (any size, streamed) into a qaffine .npz, or a .safetensors checkpoint",
        description="Quantizes IN.npy (float16/32/64) into OUT.npz (the qa.save layout), reading and writing "
                    "in chunks so memory stays bounded whatever the file size. The codes equal those of "
                    "qa.quantize on the whole array, bit for bit.")
    quant.add_argument("input", metavar="IN.npy", help="the float16/32/64 array to quantize (np.save's format), or "
                       "a .safetensors file, or the *.safetensors.index.json of a sharded checkpoint")
    quant.add_argument("-o", "--output", metavar="OUT.npz", required=True,
                       help="the file to write (a folder's name is refused: name the file in it)")
    quant.add_argument("--axis", type=int, metavar="K",
                       help="one scale and zero point per index along axis K (per channel); with "
                            "--block-size, the axis the blocks run along (default: the last)")
    quant.add_argument("--block-size", type=_positive, metavar="B",
                       help="one scale and zero point per B consecutive values along the axis")
    quant.add_argument("--bits", type=int, metavar="N", help="code width, 1 to 16 (default 8; uint16 codes above 8)")
    quant.add_argument("--signed", action="store_true", help="int8 codes (int16 above 8 bits) in [-2**(N-1), 2**(N-1) - 1]")
    quant.add_argument("--symmetric", action="store_true", help="zero point at the middle code")
    quant.add_argument("--tight", action="store_true",
                       help="the tight range [min, max] (include_zero=False) instead of one containing 0")
    quant.add_argument("--packed", action="store_true", help="pack 1-, 2- or 4-bit fields (needs --bits <= 4)")
    quant.add_argument("--include", action="append", metavar="GLOB",
                       help="safetensors: quantize exactly the floating tensors whose name matches (repeatable; "
                            "default: floating tensors of 2 or more dimensions)")
    quant.add_argument("--exclude", action="append", metavar="GLOB",
                       help="safetensors: copy the tensors whose name matches, unchanged (repeatable; wins over "
                            "--include)")
    quant.add_argument("--range", default="minmax", choices=RANGE_METHODS, metavar="METHOD",
                       help="how the range is chosen: " + ", ".join(RANGE_METHODS) +
                            " (default minmax; see qa.Observer); with --block-size: minmax, moving_average or mse")
    _stream_options(quant)
    quant.set_defaults(func=_guard(_quantize), prog=quant.prog)

    deq = sub.add_parser(
        "dequantize", help="a qaffine .npz back to a float .npy (streamed), or a quantized .safetensors back",
        description="Writes scale * (codes - zero_point) of IN.npz to OUT.npy, in chunks.")
    deq.add_argument("input", metavar="IN.npz", help="a file written by qaffine quantize or qa.save (or "
                     "qa.save_safetensors: a .safetensors file or index)")
    deq.add_argument("-o", "--output", metavar="OUT.npy", required=True,
                     help="the file to write (a folder's name is refused: name the file in it)")
    deq.add_argument("--dtype", choices=("float32", "float64", "float16", "bfloat16"),
                     help="output dtype (default: float64 if the data was float64, else float32; safetensors: "
                          "each tensor's own dtype); float16 and bfloat16 are the float32 values rounded to "
                          "nearest even; bfloat16 needs ml_dtypes and is written as NumPy writes ml_dtypes "
                          "arrays (descr '<V2')")
    _stream_options(deq)
    deq.set_defaults(func=_guard(_dequantize), prog=deq.prog)

    info = sub.add_parser("info", help="shape, mode, parameters and size of a qaffine .npz; the tensor table of a "
                          ".safetensors checkpoint",
                          description="Shape, dtype, mode, bits, parameter summary and compression ratio.")
    info.add_argument("file", metavar="FILE.npz", help="a file written by qaffine quantize or qa.save, or a "
                      ".safetensors file or index")
    info.set_defaults(func=_guard(_info), prog=info.prog)


def _stream_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary")
    p.add_argument("--progress", action="store_true",
                   help="show the progress bar even when stderr is not a terminal")
    p.add_argument("--chunk-size", type=_positive, default=DEFAULT_CHUNK, metavar="N",
                   help=f"values per chunk (default {DEFAULT_CHUNK:,}); memory use is a small multiple of it")
