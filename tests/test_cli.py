"""The command line: ``python -m qaffine demo | quantize | dequantize | info``.

* streamed quantization equals the in-memory ``qa.quantize`` bit for bit, in every mode, dtype and layout,
  at chunk sizes that exercise every way of cutting the data (in-process, many cases, fast);
* the commands as subprocesses: demo's PNG, the quantize -> info -> dequantize round trip, progress bars;
* every error: one line on stderr naming the problem, exit status 2, no output file left (Ctrl-C too);
* a 200 MB file round-trips within s/2 while the process's peak RSS stays under 100 MB (slow).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import pytest

import qaffine as qa
from qaffine import _stream

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: Any, cwd: Optional[Path] = None, env: Optional[Dict[str, str]] = None,
        ok: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "qaffine", *map(str, args)], capture_output=True, text=True,
                       cwd=cwd, env=env)
    if ok:
        assert r.returncode == 0, f"{args} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r


def _files(folder: Path) -> List[str]:
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------------------ streaming == in memory
MODES = [
    pytest.param({}, id="tensor"),
    pytest.param({"axis": 0}, id="axis0"),
    pytest.param({"axis": -1}, id="axis-1"),
    pytest.param({"axis": 1, "bits": 3, "signed": True, "symmetric": True}, id="axis1-3bit-signed-sym"),
    pytest.param({"block_size": 4}, id="block4"),
    pytest.param({"block_size": 3, "axis": 0}, id="block3-axis0"),
    pytest.param({"block_size": 2, "axis": 1, "tight": True}, id="block2-axis1-tight"),
    pytest.param({"bits": 4, "packed": True}, id="tensor-4bit-packed"),
    pytest.param({"bits": 2, "signed": True, "packed": True, "axis": 0}, id="axis0-2bit-signed-packed"),
    pytest.param({"bits": 1, "packed": True, "block_size": 5, "axis": 0}, id="block5-axis0-1bit-packed"),
    pytest.param({"tight": True, "bits": 5}, id="tensor-tight-5bit"),
    pytest.param({"bits": 16}, id="tensor-16bit"),
    pytest.param({"bits": 12, "signed": True, "block_size": 3, "axis": 0}, id="block3-axis0-12bit-signed"),
    pytest.param({"bits": 16, "signed": True, "symmetric": True, "axis": 1}, id="axis1-16bit-signed-sym"),
]


def _reference(x: np.ndarray, mode: Dict[str, Any]) -> qa.QuantizedArray:
    kw = dict(mode)
    tight = kw.pop("tight", False)
    return qa.quantize(x, include_zero=not tight, **kw)


def _check_stream(tmp_path: Path, x: np.ndarray, mode: Dict[str, Any], chunk: int,
                  fortran: bool = False) -> None:
    src, dst, back = tmp_path / "x.npy", tmp_path / "x.npz", tmp_path / "back.npy"
    np.save(src, np.asfortranarray(x) if fortran else x)
    result = _stream.quantize_file(src, dst, chunk=chunk, **mode)
    ref = _reference(x, mode)
    got = qa.load(dst)
    assert got.shape == ref.shape and got.packed == ref.packed
    assert np.array_equal(got.values, ref.values), "codes differ from qa.quantize"
    assert got.params == ref.params, f"{got.params!r} != {ref.params!r}"
    # every field: the counts exactly, the float statistics to the rounding of a sum taken chunk by chunk
    whole = qa.error(x, ref)
    for field in dataclasses.fields(whole):
        assert getattr(result.error, field.name) == pytest.approx(getattr(whole, field.name), rel=1e-9), field.name
    _stream.dequantize_file(dst, back, chunk=chunk)
    x_hat = np.load(back)
    expected = ref.dequantize(dtype=np.float64 if x.dtype == np.float64 else np.float32)
    assert x_hat.dtype == expected.dtype
    assert np.array_equal(x_hat, expected), "streamed dequantize differs from q.dequantize()"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("chunk", [1, 7, 60, 1 << 20])
def test_streaming_equals_in_memory(tmp_path: Path, mode: Dict[str, Any], chunk: int) -> None:
    # chunk 1 and 7: rows and blocks cut into segments; 60: several rows or blocks per chunk; 2**20: all at once
    x = np.random.default_rng(chunk).standard_normal((6, 9, 5)).astype(np.float32) * 3 + 0.5
    _check_stream(tmp_path, x, mode, chunk)


@pytest.mark.parametrize("dtype", ["float16", "float64", ">f4", "<f8"])
@pytest.mark.parametrize("mode", [{}, {"axis": 1}, {"block_size": 4, "axis": 0}], ids=["tensor", "axis1", "block"])
def test_streaming_dtypes(tmp_path: Path, dtype: str, mode: Dict[str, Any]) -> None:
    x = (np.random.default_rng(1).standard_normal((10, 7)) * 100).astype(dtype)
    _check_stream(tmp_path, x, mode, chunk=8)


@pytest.mark.parametrize("mode", [{}, {"axis": 0}, {"axis": 2}, {"block_size": 3, "axis": 0}, {"block_size": 2},
                                  {"bits": 16, "signed": True, "axis": 2}],
                         ids=["tensor", "axis0", "axis2", "block-axis0", "block-last", "axis2-16bit"])
@pytest.mark.parametrize("chunk", [5, 1000])
def test_streaming_fortran_order(tmp_path: Path, mode: Dict[str, Any], chunk: int) -> None:
    x = np.random.default_rng(2).uniform(-2, 7, (5, 4, 6)).astype(np.float32)
    _check_stream(tmp_path, x, mode, chunk, fortran=True)
    with np.load(tmp_path / "x.npz") as f:
        assert f["codes"].flags.f_contiguous and np.array_equal(f["codes"], _reference(x, mode).values)


@pytest.mark.parametrize("shape", [(), (1,), (1, 1, 3), (3, 1), (2, 0 + 1, 1)])
def test_streaming_small_shapes(tmp_path: Path, shape: tuple) -> None:
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    _check_stream(tmp_path, x, {}, chunk=2)
    if shape:
        _check_stream(tmp_path, x, {"axis": 0}, chunk=2)
        _check_stream(tmp_path, x, {"block_size": 2}, chunk=1)


def test_dequantize_reads_files_written_by_qa_save(tmp_path: Path) -> None:
    x = np.random.default_rng(4).standard_normal((8, 6)).astype(np.float32)
    for kw in ({}, {"axis": 1, "bits": 4, "packed": True}, {"block_size": 4, "axis": 0, "signed": True},
               {"block_size": 4, "bits": 16, "signed": True}):
        q = qa.quantize(x, **kw)
        qa.save(tmp_path / "q.npz", q)
        _stream.dequantize_file(tmp_path / "q.npz", tmp_path / "b.npy", chunk=3)
        assert np.array_equal(np.load(tmp_path / "b.npy"), q.dequantize())
    # 16-bit codes stored byte-swapped (another writer's choice) stream back the same
    with np.load(tmp_path / "q.npz") as f:
        entries = {k: f[k] for k in f.files}
    entries["codes"] = entries["codes"].astype(entries["codes"].dtype.newbyteorder("S"))
    np.savez(tmp_path / "swapped.npz", **entries)
    _stream.dequantize_file(tmp_path / "swapped.npz", tmp_path / "b.npy", chunk=3)
    assert np.array_equal(np.load(tmp_path / "b.npy"), q.dequantize())


# ----------------------------------------------------------------------------------- subprocesses
def test_quantize_info_dequantize_round_trip(tmp_path: Path) -> None:
    x = np.random.default_rng(5).standard_normal((64, 33)).astype(np.float32)
    np.save(tmp_path / "w.npy", x)
    r = cli("quantize", tmp_path / "w.npy", "-o", tmp_path / "w.npz", "--axis", "0", "--bits", "4", "--signed",
            "--symmetric", "--packed")
    assert "per channel (axis 0), 4-bit int8, packed, symmetric" in r.stdout
    assert "x smaller" in r.stdout and "SQNR" in r.stdout and "max |error|" in r.stdout
    assert r.stderr == ""  # not a terminal: no progress bar
    q = qa.load(tmp_path / "w.npz")
    ref = qa.quantize(x, axis=0, bits=4, signed=True, symmetric=True, packed=True)
    assert np.array_equal(q.values, ref.values) and q.params == ref.params

    info = cli("info", tmp_path / "w.npz").stdout
    assert "shape       (64, 33) = 2,112 values, quantized from float32" in info
    assert "int8 codes, 4 bits, range [-8, 7], packed" in info
    scale = np.asarray(ref.scale, dtype=np.float64)
    assert f"64 values: min {scale.min():.6g}, max {scale.max():.6g}, mean {scale.mean():.6g}" in info
    ratio = x.nbytes / (tmp_path / "w.npz").stat().st_size
    assert f"{ratio:.2f}x smaller than float32" in info

    cli("dequantize", tmp_path / "w.npz", "-o", tmp_path / "back.npy")
    back = np.load(tmp_path / "back.npy")
    assert np.array_equal(back, ref.dequantize())
    assert np.all(np.abs(back.astype(np.float64) - x) <= ref.scale[:, None] / 2 + 1e-6)
    assert _files(tmp_path) == ["back.npy", "w.npy", "w.npz"]  # no temporary files left


def test_16_bit_quantize_info_dequantize_round_trip(tmp_path: Path) -> None:
    x = np.random.default_rng(6).standard_normal((64, 96)).astype(np.float32)
    np.save(tmp_path / "w.npy", x)
    r = cli("quantize", tmp_path / "w.npy", "-o", tmp_path / "w.npz", "--block-size", "32", "--bits", "16",
            "--signed", "--symmetric")
    assert "per block (32 values along axis 1), 16-bit int16, symmetric" in r.stdout
    assert "of 65536 codes used" in r.stdout
    ref = qa.quantize(x, block_size=32, bits=16, signed=True, symmetric=True)
    q = qa.load(tmp_path / "w.npz")
    assert q.values.dtype == np.int16 and np.array_equal(q.values, ref.values) and q.params == ref.params
    info = cli("info", tmp_path / "w.npz").stdout
    assert "int16 codes, 16 bits, range [-32768, 32767]" in info
    cli("dequantize", tmp_path / "w.npz", "-o", tmp_path / "back.npy")
    assert np.array_equal(np.load(tmp_path / "back.npy"), ref.dequantize())


def test_console_script_and_help(tmp_path: Path) -> None:
    r = cli("--help")
    for command in ("demo", "quantize", "dequantize", "info"):
        assert command in r.stdout
    assert "--block-size" in cli("quantize", "--help").stdout
    assert cli("--includedir").stdout.strip() == qa.get_include()  # the C++ flags still work
    exe = Path(sys.executable).parent / ("qaffine.exe" if sys.platform == "win32" else "qaffine")
    if exe.exists():  # installed by pip as [project.scripts]
        out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True).stdout
        assert out.strip() == f"qaffine {qa.__version__}"


def test_progress_bar_when_asked(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.arange(10_000, dtype=np.float32))
    r = cli("quantize", tmp_path / "x.npy", "-o", tmp_path / "x.npz", "--progress", "--chunk-size", "1000")
    assert "100%" in r.stderr and "quantize" in r.stderr
    r = cli("dequantize", tmp_path / "x.npz", "-o", tmp_path / "b.npy", "--progress", "--quiet")
    assert r.stderr == "" and r.stdout == ""  # --quiet wins


def test_plain_progress_without_tqdm(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)
    bar = _stream.Progress(1000, "work", enabled=True)
    for _ in range(10):
        bar.update(100)
    bar.close()
    err = capsys.readouterr().err
    assert err.startswith("\rwork:") and err.endswith("100%\n")
    quiet = _stream.Progress(1000, "work", enabled=False)
    quiet.update(1000)
    quiet.close()
    assert capsys.readouterr().err == ""


def test_demo_writes_the_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    r = cli("demo", "--out", tmp_path / "pics")
    out = r.stdout
    for needle in ("α, β", "α_q, β_q", "s = ", "z = ", "include_zero=False", "the notebook", "x̂", "SQNR"):
        assert needle in out, needle
    from qaffine._demo import NOTEBOOK_VALUES

    x = NOTEBOOK_VALUES.astype(np.float32)  # no options: the notebook's own ten values
    q = qa.quantize(x)
    assert f"s = {float(q.scale):.9f}, z = {q.zero_point}" in out
    rows = [line for line in out.splitlines() if line.count("│") == 3]
    assert len(rows) == 12  # two header lines + 10 values
    for row, xi, code in zip(rows[2:], NOTEBOOK_VALUES, q.values):
        cells = row.replace("│", " ").split()
        assert [cells[0], cells[4]] == [f"{xi:.6f}", str(code)]
    png = tmp_path / "pics" / "quantization.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    assert matplotlib.image.imread(str(png)).shape[2] in (3, 4)
    # the figure itself: four panels (checked on the figure, not on pixels; more in test_demo.py)
    from qaffine._demo import run_demo

    import io

    result = run_demo(out_dir=None, stream=io.StringIO())
    assert result.figure is not None and len(result.figure.axes) == 4
    assert np.array_equal(result.q.values, q.values)
    assert len(qa.plot(x).axes) == 3


def test_readme_main_job_and_its_picture(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    two = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    assert 'pip install ".[plot]" && python -m qaffine demo' in two
    assert 'pip install ".[test]" && python -m pytest' in two
    assert "(docs/quantization.png)" in two
    assert (ROOT / "docs" / "quantization.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pytest.importorskip("matplotlib")
    r = subprocess.run([sys.executable, str(ROOT / "docs" / "make_demo_png.py"), "--out", str(tmp_path)],
                       capture_output=True, text=True, check=True)
    assert "wrote" in r.stdout
    import matplotlib.image

    new = matplotlib.image.imread(str(tmp_path / "quantization.png"))
    committed = matplotlib.image.imread(str(ROOT / "docs" / "quantization.png"))
    assert new.shape == committed.shape  # same figure (bytes may differ between matplotlib versions)


def test_demo_options_and_no_display(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["MPLBACKEND"] = "Agg"
    r = cli("demo", "--n", "25", "--low", "-3", "--high", "2", "--seed", "7", "--show", cwd=tmp_path, env=env)
    assert "no display" in r.stderr
    assert (tmp_path / "quantization.png").exists()  # default folder: the current one
    x = np.sort(np.random.default_rng(7).uniform(-3, 2, 25)).astype(np.float32)
    assert f"s = {float(qa.quantize(x).scale):.9f}" in r.stdout


# ------------------------------------------------------------------------------------------ errors
def _assert_error(r: subprocess.CompletedProcess, *needles: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def _setup_errors(tmp: Path) -> None:
    np.save(tmp / "ok.npy", np.linspace(-1, 1, 50, dtype=np.float32).reshape(5, 10))
    np.save(tmp / "ints.npy", np.arange(10))
    np.save(tmp / "objects.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
    nan = np.ones((4, 6), dtype=np.float32)
    nan[2, 3] = np.nan
    np.save(tmp / "nan.npy", nan)
    inf = np.ones(100, dtype=np.float64)
    inf[77] = -np.inf
    np.save(tmp / "inf.npy", inf)
    np.save(tmp / "empty.npy", np.zeros((0, 3), dtype=np.float32))
    (tmp / "text.npy").write_text("hello, not numpy\n")
    data = (tmp / "ok.npy").read_bytes()
    (tmp / "short.npy").write_bytes(data[:-40])
    np.savez(tmp / "plain.npz", a=np.arange(3))
    qa.save(tmp / "q.npz", qa.quantize(np.float32([1, 2, 3])))
    (tmp / "sub").mkdir()


ERRORS = [
    # (arguments, output file, words the message must contain)
    (["quantize", "missing.npy", "-o", "o.npz"], "o.npz", ["missing.npy", "no such file"]),
    (["quantize", "text.npy", "-o", "o.npz"], "o.npz", ["text.npy", "not a .npy file"]),
    (["quantize", "plain.npz", "-o", "o.npz"], "o.npz", ["plain.npz", "not a .npy file"]),
    (["quantize", "short.npy", "-o", "o.npz"], "o.npz", ["short.npy", "truncated"]),
    (["quantize", "sub", "-o", "o.npz"], "o.npz", ["sub", "folder"]),
    (["quantize", "ints.npy", "-o", "o.npz"], "o.npz", ["ints.npy", "int64", "float16, float32 or float64"]),
    (["quantize", "objects.npy", "-o", "o.npz"], "o.npz", ["objects.npy", "object"]),
    (["quantize", "nan.npy", "-o", "o.npz"], "o.npz", ["nan.npy", "NaN at index (2, 3)"]),
    (["quantize", "nan.npy", "-o", "o.npz", "--block-size", "2"], "o.npz", ["NaN at index (2, 3)"]),
    (["quantize", "nan.npy", "-o", "o.npz", "--block-size", "2", "--axis", "0", "--chunk-size", "3"], "o.npz",
     ["NaN at index (2, 3)"]),
    (["quantize", "nan.npy", "-o", "o.npz", "--axis", "1", "--chunk-size", "5"], "o.npz", ["NaN at index (2, 3)"]),
    (["quantize", "inf.npy", "-o", "o.npz"], "o.npz", ["inf.npy", "infinite value at index 77"]),
    (["quantize", "empty.npy", "-o", "o.npz"], "o.npz", ["empty.npy", "empty"]),
    (["quantize", "ok.npy", "-o", "o.npz", "--symmetric", "--tight"], "o.npz", ["--symmetric", "--tight"]),
    (["quantize", "ok.npy", "-o", "o.npz", "--bits", "6", "--packed"], "o.npz", ["--packed", "--bits <= 4"]),
    (["quantize", "ok.npy", "-o", "o.npz", "--bits", "17"], "o.npz", ["--bits", "between 1 and 16"]),
    (["quantize", "ok.npy", "-o", "o.npz", "--axis", "2"], "o.npz", ["--axis 2", "out of range", "(5, 10)"]),
    (["quantize", "ok.npy", "-o", "o.npz", "--block-size", "0"], "o.npz", ["--block-size", "positive"]),
    (["quantize", "ok.npy", "-o", "o.npz", "--bits", "x"], "o.npz", ["--bits", "invalid int value"]),
    (["quantize", "ok.npy"], None, ["-o"]),
    (["quantize", "ok.npy", "-o", "nowhere/o.npz"], "nowhere/o.npz", ["nowhere", "no such file"]),
    (["quantize", "ok.npy", "-o", "ok.npy"], None, ["ok.npy", "is the input"]),
    (["dequantize", "missing.npz", "-o", "b.npy"], "b.npy", ["missing.npz", "no such file"]),
    (["dequantize", "ok.npy", "-o", "b.npy"], "b.npy", ["ok.npy", "not a qaffine file"]),
    (["dequantize", "plain.npz", "-o", "b.npy"], "b.npy", ["plain.npz", "not a qaffine file"]),
    (["dequantize", "q.npz", "-o", "b.npy", "--dtype", "int8"], "b.npy", ["--dtype", "invalid choice"]),
    (["info", "plain.npz"], None, ["plain.npz", "not a qaffine file"]),
    (["info", "missing.npz"], None, ["missing.npz", "no such file"]),
    (["demo", "--n", "0"], "quantization.png", ["--n", "positive"]),
    (["demo", "--low", "3", "--high", "1"], "quantization.png", ["--low", "--high"]),
]


@pytest.mark.parametrize("args, output, needles", ERRORS, ids=[" ".join(e[0][:1] + e[0][-2:]) for e in ERRORS])
def test_errors_are_one_line_status_2_no_output(tmp_path: Path, args: List[str], output: Optional[str],
                                                 needles: List[str]) -> None:
    _setup_errors(tmp_path)
    before = _files(tmp_path)
    r = cli(*args, cwd=tmp_path, ok=False)
    _assert_error(r, *needles)
    assert _files(tmp_path) == before  # no output and no temporary file
    if output is not None:
        assert not (tmp_path / output).exists()


def test_newer_format_version_is_an_error(tmp_path: Path) -> None:
    qa.save(tmp_path / "q.npz", qa.quantize(np.float32([1, 2, 3])))
    with np.load(tmp_path / "q.npz") as f:
        entries = {k: f[k] for k in f.files}
    entries["qaffine_format"] = np.int64(99)
    np.savez(tmp_path / "new.npz", **entries)
    for command in (["info", "new.npz"], ["dequantize", "new.npz", "-o", "b.npy"]):
        r = cli(*command, cwd=tmp_path, ok=False)
        _assert_error(r, "new.npz", "format version 99", "upgrade qaffine")
    assert not (tmp_path / "b.npy").exists()


def test_failure_keeps_an_existing_output(tmp_path: Path) -> None:
    nan = np.ones(10, dtype=np.float32)
    nan[-1] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    (tmp_path / "o.npz").write_bytes(b"previous contents")
    _assert_error(cli("quantize", "nan.npy", "-o", "o.npz", cwd=tmp_path, ok=False), "NaN at index 9")
    assert (tmp_path / "o.npz").read_bytes() == b"previous contents"


def _big_npy(path: Path, n: int, chunk: int = 1 << 22, seed: int = 0) -> None:
    """A float32 .npy of n values written chunk by chunk (never whole in memory)."""
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (n,)})
        for start in range(0, n, chunk):
            f.write(rng.standard_normal(min(chunk, n - start), dtype=np.float32).tobytes())


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_interrupt_leaves_no_output(tmp_path: Path, sig: int, status: int) -> None:
    _big_npy(tmp_path / "x.npy", 4_000_000)
    proc = subprocess.Popen([sys.executable, "-m", "qaffine", "quantize", "x.npy", "-o", "x.npz", "--axis", "0",
                             "--chunk-size", "2000"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 60
    while not any(name.endswith(".part") for name in os.listdir(tmp_path)):  # writing has started
        assert proc.poll() is None, "finished before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == status, (out, err)
    assert "no output written" in err and "Traceback" not in err
    assert _files(tmp_path) == ["x.npy"]


# ------------------------------------------------------------------------------- bounded memory (slow)
# The child's own peak RSS. On Linux, ru_maxrss survives fork + exec: a child of the (large) pytest process
# starts with the parent's high-water mark, and RUSAGE_CHILDREN has the same problem. VmHWM in
# /proc/self/status belongs to the new address space only, so it is the child's true peak.
_RSS_WRAPPER = """
import resource, sys
from qaffine.__main__ import main
status = main(sys.argv[1:])
try:
    with open("/proc/self/status") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
except OSError:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kb = kb // 1024 if sys.platform == "darwin" else kb  # macOS reports bytes
print("PEAK_RSS_KB", kb, file=sys.stderr)
sys.exit(status)
"""


def _peak_rss_mb(args: List[Any], cwd: Path) -> float:
    r = subprocess.run([sys.executable, "-c", _RSS_WRAPPER, *map(str, args)], capture_output=True, text=True,
                       cwd=cwd)
    assert r.returncode == 0, r.stderr
    return int(r.stderr.split("PEAK_RSS_KB")[1].split()[0]) / 1024


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="resource.getrusage")
def test_200mb_file_round_trip_in_bounded_memory(tmp_path: Path) -> None:
    n = 50_000_000  # 200 MB of float32
    _big_npy(tmp_path / "big.npy", n)
    assert (tmp_path / "big.npy").stat().st_size > 200_000_000
    rss_q = _peak_rss_mb(["quantize", "big.npy", "-o", "big.npz"], tmp_path)
    rss_i = _peak_rss_mb(["info", "big.npz"], tmp_path)
    rss_d = _peak_rss_mb(["dequantize", "big.npz", "-o", "back.npy"], tmp_path)
    print(f"peak RSS: quantize {rss_q:.1f} MB, info {rss_i:.1f} MB, dequantize {rss_d:.1f} MB")
    assert max(rss_q, rss_i, rss_d) < 100, (rss_q, rss_i, rss_d)

    with np.load(tmp_path / "big.npz") as f:
        scale, zero_point = float(f["scale"]), int(f["zero_point"])
    orig = np.load(tmp_path / "big.npy", mmap_mode="r")  # the test process may map; the CLI does not
    back = np.load(tmp_path / "back.npy", mmap_mode="r")
    assert back.shape == orig.shape and back.dtype == np.float32
    lo, hi = np.inf, -np.inf
    for start in range(0, n, 1 << 22):
        x, xh = np.asarray(orig[start:start + (1 << 22)]), np.asarray(back[start:start + (1 << 22)])
        # within s/2, up to the float32 rounding of x / s and of x_hat (an ulp or two of x)
        assert np.all(np.abs(xh.astype(np.float64) - x) <= scale / 2 + 2 * np.spacing(np.abs(x)))
        lo, hi = min(lo, float(x.min())), max(hi, float(x.max()))
        if start == 0:  # the codes are those of the in-memory, static quantization with the same params
            p = qa.QParams(np.float32(scale), zero_point)
            assert np.array_equal(xh, qa.quantize(x, p).dequantize())
    assert qa.choose_qparams(np.float32(lo), np.float32(hi)) == qa.QParams(np.float32(scale), zero_point)
    del orig, back


# ------------------------------------------------------------------------------ messages a user reads
def _console_script() -> Path:
    exe = Path(sys.executable).parent / ("qaffine.exe" if sys.platform == "win32" else "qaffine")
    if not exe.exists():
        pytest.skip("the qaffine console script is not installed beside this Python")
    return exe


@pytest.mark.parametrize("how", ["python -m qaffine", "qaffine"])
@pytest.mark.parametrize("args", [["quantize", "x.npy", "--bogus"], ["quantize", "missing.npy", "-o", "o.npz"]],
                         ids=["usage error", "runtime error"])
def test_messages_name_the_command_as_it_was_started(tmp_path: Path, how: str, args: List[str]) -> None:
    np.save(tmp_path / "x.npy", np.float32([1, 2, 3]))
    start = [sys.executable, "-m", "qaffine"] if how == "python -m qaffine" else [str(_console_script())]
    r = subprocess.run(start + args, capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{how} quantize: error: "), r.stderr
    if how == "qaffine":
        assert "python -m" not in r.stderr


@pytest.mark.parametrize("output", ["out", "out/", "new/"], ids=["folder", "folder/", "missing/"])
@pytest.mark.parametrize("command", ["quantize", "dequantize"])
def test_output_naming_a_folder_names_it_and_says_what_to_do(tmp_path: Path, command: str, output: str) -> None:
    np.save(tmp_path / "x.npy", np.float32([1, 2, 3]))
    qa.save(tmp_path / "x.npz", qa.quantize(np.float32([1, 2, 3])))
    (tmp_path / "out").mkdir()
    before = _files(tmp_path)
    r = cli(command, "x.npy" if command == "quantize" else "x.npz", "-o", output, cwd=tmp_path, ok=False)
    _assert_error(r, f"error: {output}: is a folder, not a file", "give the name of the file to write",
                  f"e.g. {output.rstrip('/')}/out")
    assert ".part" not in r.stderr  # no temporary name
    assert _files(tmp_path) == before and not any((tmp_path / "out").iterdir())


def test_packed_without_bits_does_not_claim_bits_were_given(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.float32([1, 2, 3]))
    r = cli("quantize", "x.npy", "-o", "x.npz", "--packed", cwd=tmp_path, ok=False)
    _assert_error(r, "--packed needs --bits <= 4", "--bits unset, which means 8", "pass e.g. --bits 4")
    assert "got --bits 8" not in r.stderr
    r = cli("quantize", "x.npy", "-o", "x.npz", "--packed", "--bits", "6", cwd=tmp_path, ok=False)
    _assert_error(r, "--packed needs --bits <= 4, got --bits 6")


def test_every_positional_argument_has_help() -> None:
    for command, metavar in (("quantize", "IN.npy"), ("dequantize", "IN.npz"), ("info", "FILE.npz")):
        usage = cli(command, "--help").stdout
        section = usage.split("positional arguments:", 1)[1].splitlines()
        line = next(line for line in section if line.strip().startswith(metavar))
        assert len(line.split()) > 1, f"{metavar} of {command} has no help text:\n{usage}"


@pytest.mark.parametrize("mode", [{"bits": 4, "signed": True, "packed": True, "block_size": 8},
                                  {"bits": 3, "packed": True}, {"bits": 1, "packed": True, "axis": 1}],
                         ids=["block8-4bit-signed", "tensor-3bit", "axis1-1bit"])
def test_streaming_packed_pieces_come_packed_from_the_kernels(tmp_path: Path, mode: Dict[str, Any],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Pieces that fill whole bytes are written as the kernels' packed bytes: the Python packer is not used,
    and file, parameters and error statistics equal the in-memory result (with 4-bit fields the last piece
    ends mid-byte)."""
    def no_pack(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the stream packed codes in Python")

    monkeypatch.setattr(_stream._packing, "pack", no_pack)
    x = np.random.default_rng(3).standard_normal((13, 64)).astype(np.float32)
    # 4-row pieces: 252 codes fill whole bytes of 4-bit fields, 256 of 1-bit ones
    _check_stream(tmp_path, x if "axis" in mode else x[:, :63], mode, chunk=64 * 4)
