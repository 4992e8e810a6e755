"""qaffine.dask on a real dask.distributed cluster: same bytes as qa.quantize, Zarr in and out, bounded memory."""

from __future__ import annotations

import collections
import doctest
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import numpy as np
import pytest

import dask  # the test extra installs dask, distributed and zarr: pip install ".[test]"
import dask.array as da
import distributed
import zarr

import qaffine as qa
import qaffine.dask as qd

ROOT = Path(__file__).resolve().parents[1]

MODES = {
    "tensor": {},
    "tensor-4bit-signed-symmetric": dict(bits=4, signed=True, symmetric=True),
    "tensor-tight": dict(include_zero=False),
    "axis0": dict(axis=0),
    "axis1-signed": dict(axis=1, signed=True),
    "block-last": dict(block_size=32),
    "block-axis0-3bit": dict(block_size=16, axis=0, bits=3),
    "tensor-16bit": dict(bits=16),
    "block-last-16bit-signed-symmetric": dict(block_size=32, bits=16, signed=True, symmetric=True),
}


# Tests that run dask's in-process scheduler (scheduler="sync") while the module's client is up: older dask warns.
SYNC_BESIDE_CLIENT = pytest.mark.filterwarnings(
    "ignore:Running on a single-machine scheduler when a distributed client is active:UserWarning")


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A real cluster: two worker processes, one thread each; the default scheduler while the module runs."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as c:
        yield c


def _data(shape: Any, dtype: Any = np.float32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * 2.5 + 0.75).astype(dtype)


def _load(z: Any) -> np.ndarray:
    """A Zarr array in memory. Zarr 3 types it '<f4', which qa.quantize refuses (a qaffine bug): view it as '='."""
    x = z[...]
    return x.view(x.dtype.newbyteorder("=")) if x.dtype.isnative else x


def _same(q: qa.QuantizedArray, ref: qa.QuantizedArray) -> None:
    assert q.params == ref.params
    assert q.values.dtype == ref.values.dtype
    assert np.array_equal(q.values, ref.values)


# ------------------------------------------------------------------------------ the modes, on the cluster
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_every_mode_gives_the_in_memory_bytes(client: Any, mode: str, dtype: Any) -> None:
    kw = MODES[mode]
    x = _data((200, 352), dtype)
    a = da.from_array(x, chunks=(48, 96))
    ref = qa.quantize(x, **kw)
    q = qd.quantize(a, **kw)
    assert isinstance(q.values, da.Array) and q.values.chunks == a.chunks
    assert q.params_are_lazy == ("block_size" in kw)
    if not q.params_are_lazy:
        assert q.params == ref.params  # computed by quantize (the reduction ran on the cluster)
    _same(q.compute(), ref)
    assert np.array_equal(q.values.compute(), ref.values)
    assert np.array_equal(q.dequantize().compute(), ref.dequantize())
    assert np.array_equal(qd.dequantize(q, dtype=np.float64).compute(), ref.dequantize(dtype=np.float64))


@pytest.mark.parametrize("mode", MODES)
def test_static_params_on_the_cluster(client: Any, mode: str) -> None:
    x = _data((120, 256), seed=1)
    p = qa.quantize(_data((120, 256), seed=2), **MODES[mode]).params
    x[3, 7] = np.inf  # static mode saturates
    ref = qa.quantize(x, p)
    q = qd.quantize(da.from_array(x, chunks=(64, 64)), p)
    assert q.params == ref.params
    assert np.array_equal(q.values.compute(), ref.values)
    assert np.array_equal(qd.dequantize(q.values, p).compute(), qa.dequantize(ref.values, p))


def test_persist_and_repr(client: Any) -> None:
    x = _data((96, 128), seed=6)
    for kw in ({}, dict(axis=0), dict(block_size=32)):
        q = qd.quantize(da.from_array(x, chunks=(32, 64)), **kw).persist()
        assert isinstance(q.values, da.Array) and q.granularity == qa.quantize(x, **kw).params.granularity
        _same(q.compute(), qa.quantize(x, **kw))
        assert repr(q).startswith("DaskQuantizedArray(shape=(96, 128), chunks=((32, 32, 32), (64, 64)), ")


def test_compat_torch(client: Any) -> None:
    x = _data((64, 96), seed=3)
    for kw in ({}, dict(axis=0), dict(block_size=32)):
        q = qd.quantize(da.from_array(x, chunks=(16, 32)), compat="torch", **kw)
        _same(q.compute(), qa.quantize(x, compat="torch", **kw))


def test_odd_shapes(client: Any) -> None:
    cases: List[Tuple[Any, Any, Dict[str, Any]]] = [
        ((1000,), 128, {}), ((1000,), 128, dict(block_size=64)), ((7, 9, 11), (3, 4, 5), dict(axis=1)),
        ((7, 9, 11), (3, 4, 6), dict(block_size=3, axis=2)), ((), (), {})]
    for shape, chunks, kw in cases:
        x = _data(shape, seed=4)
        _same(qd.quantize(da.from_array(x, chunks=chunks), **kw).compute(), qa.quantize(x, **kw))
    empty = da.zeros((0, 4), dtype=np.float32, chunks=(1, 2))
    p = qa.QParams(np.float32(0.5), 3)
    assert qd.quantize(empty, p).values.compute().shape == (0, 4)
    with pytest.raises(ValueError, match="cannot quantize an empty array dynamically"):
        qd.quantize(empty)


# ------------------------------------------------------------------------------------------ bad input
NAN_AT = (137, 250)  # in chunk (2, 2) of (200, 352) in chunks (48, 96)


@pytest.mark.parametrize("mode", ["tensor", "axis0", "axis1-signed", "block-last", "block-axis0-3bit", "static"])
def test_a_nan_in_one_chunk_names_its_global_index(client: Any, mode: str) -> None:
    x = _data((200, 352))
    x[NAN_AT] = np.nan
    a = da.from_array(x, chunks=(48, 96))
    kw = MODES.get(mode, {})
    if mode == "static":
        p = qa.quantize(_data((200, 352)), **kw).params
        with pytest.raises(ValueError) as expected:
            qa.quantize(x, p)
        with pytest.raises(ValueError) as got:
            qd.quantize(a, p).values.compute()  # static: found while the codes are made
    else:
        with pytest.raises(ValueError) as expected:
            qa.quantize(x, **kw)
        with pytest.raises(ValueError) as got:
            qd.quantize(a, **kw).compute()  # per tensor / axis: already in quantize (the reduction)
    assert str(got.value) == str(expected.value)
    assert f"x contains NaN at index {NAN_AT}" in str(got.value)


def test_nans_in_several_chunks_per_tensor_name_the_first_as_in_memory(client: Any) -> None:
    x = _data((200, 352))
    for i in [(190, 3), (60, 300), (59, 351), (150, 0)]:
        x[i] = np.nan
    with pytest.raises(ValueError) as expected:
        qa.quantize(x, axis=1)
    with pytest.raises(ValueError, match=re.escape(str(expected.value))):
        qd.quantize(da.from_array(x, chunks=(48, 96)), axis=1)
    x1 = _data(5000)
    x1[4321] = np.nan
    with pytest.raises(ValueError, match=re.escape("x contains NaN at index 4321;")):
        qd.quantize(da.from_array(x1, chunks=1000))


@pytest.mark.parametrize("mode", ["tensor", "axis0", "block-last"])
def test_infinity_in_dynamic_mode(client: Any, mode: str) -> None:
    x = _data((200, 352))
    x[101, 5] = -np.inf
    kw = MODES[mode]
    with pytest.raises(ValueError) as expected:
        qa.quantize(x, **kw)
    with pytest.raises(ValueError, match=re.escape(str(expected.value))):
        qd.quantize(da.from_array(x, chunks=(48, 96)), **kw).compute()


@SYNC_BESIDE_CLIENT
def test_per_block_chunks_must_be_whole_blocks() -> None:
    x = _data((64, 100))
    a = da.from_array(x, chunks=(64, 30))
    with pytest.raises(ValueError, match=re.escape("a.rechunk({1: 32})")):
        qd.quantize(a, block_size=16)
    with pytest.raises(ValueError, match="multiples of 16"):
        qd.quantize(a, qa.quantize(x, block_size=16).params)
    q = qd.quantize(a.rechunk({1: 32}), block_size=16)  # as the message says
    with dask.config.set(scheduler="sync"):
        _same(q.compute(), qa.quantize(x, block_size=16))


@SYNC_BESIDE_CLIENT
def test_argument_errors() -> None:
    x = _data((8, 8))
    a = da.from_array(x, chunks=4)
    with pytest.raises(TypeError, match="dask arrays"):
        qd.quantize(x)
    with pytest.raises(TypeError, match="float16, bfloat16, float32 or float64"):
        qd.quantize(a.astype(np.int32))
    with pytest.raises(TypeError, match="QParams"):
        qd.quantize(a, (0.1, 3))
    with pytest.raises(ValueError, match="disagrees"):
        qd.quantize(a, qa.QParams(np.float32(0.1), 3), bits=4)
    with pytest.raises(ValueError, match="compat"):
        qd.quantize(a, compat="tf")
    with pytest.raises(ValueError, match="but this array needs"):
        qd.quantize(a, qa.quantize(x[:, :4], axis=1).params)
    with dask.config.set(scheduler="sync"):
        q = qd.quantize(a, block_size=4)
        with pytest.raises(ValueError, match="lazy"):
            q.params
        with pytest.raises(TypeError, match="float16, bfloat16"):
            q.dequantize(np.int8)


# ------------------------------------------------------------------------------------- passes over data
@SYNC_BESIDE_CLIENT
@pytest.mark.parametrize("mode, passes", [("tensor", 2), ("axis1-signed", 2), ("block-last", 1)])
def test_passes_over_the_input(tmp_path: Path, mode: str, passes: int) -> None:
    """Quantize + to_zarr read each input chunk twice (range, codes) per tensor/axis, once per block."""
    reads: collections.Counter = collections.Counter()

    def counted(x: np.ndarray, block_info: Any = None) -> np.ndarray:
        reads[tuple(block_info[0]["chunk-location"])] += 1
        return x

    a = da.from_array(_data((96, 128)), chunks=(32, 64)).map_blocks(counted, dtype=np.float32)
    with dask.config.set(scheduler="sync"):
        q = qd.quantize(a, **MODES[mode])
        qd.to_zarr(q, tmp_path / "q.zarr")
    assert len(reads) == 6 and set(reads.values()) == {passes}


# ------------------------------------------------------------------------------------------------- Zarr
@pytest.mark.parametrize("mode", ["tensor", "tensor-4bit-signed-symmetric", "axis0", "block-last", "block-axis0-3bit",
                                  "tensor-16bit", "block-last-16bit-signed-symmetric"])
def test_zarr_in_zarr_out_round_trip(client: Any, tmp_path: Path, mode: str) -> None:
    kw = MODES[mode]
    x = _data((200, 352), seed=5)
    zarr.open_array(tmp_path / "x.zarr", mode="w", shape=x.shape, chunks=(48, 96), dtype=x.dtype)[...] = x
    a = da.from_zarr(str(tmp_path / "x.zarr"))
    qd.to_zarr(qd.quantize(a, **kw), tmp_path / "q.zarr")
    ref = qa.quantize(x, **kw)

    g = zarr.open_group(tmp_path / "q.zarr", mode="r")
    meta = g.attrs["qaffine"]
    assert meta["granularity"] == ref.params.granularity and meta["bits"] == ref.params.bits
    assert meta["shape"] == [200, 352] and g["codes"].chunks == (48, 96)
    assert meta["signed"] == ref.params.signed and g["codes"].dtype == ref.values.dtype  # uint16 / int16 above 8 bits
    assert np.array_equal(g["codes"][...], ref.values)
    assert np.array_equal(g["scale"][...], np.asarray(ref.scale))
    assert np.array_equal(g["zero_point"][...], np.asarray(ref.zero_point))

    back = qd.from_zarr(tmp_path / "q.zarr")  # lazy: codes (and per-block params) from Zarr
    assert isinstance(back.values, da.Array) and back.params_are_lazy == ("block_size" in kw)
    _same(back.compute(), ref)
    assert np.array_equal(back.dequantize().compute(), ref.dequantize())
    back.to_zarr(tmp_path / "copy.zarr")  # Zarr to Zarr, through the workers
    with pytest.raises(Exception):  # an existing group is not replaced unless asked
        qd.to_zarr(back, tmp_path / "copy.zarr")
    back.to_zarr(tmp_path / "copy.zarr", overwrite=True)
    _same(qd.from_zarr(zarr.open_group(tmp_path / "copy.zarr", mode="r")).compute(), ref)


def test_from_zarr_rejects_other_groups(tmp_path: Path) -> None:
    zarr.open_group(tmp_path / "other.zarr", mode="w")
    with pytest.raises(ValueError, match="not a group written by qaffine.dask.to_zarr"):
        qd.from_zarr(tmp_path / "other.zarr")


@SYNC_BESIDE_CLIENT
def test_module_docstring_example_runs() -> None:
    with dask.config.set(scheduler="sync"):
        result = doctest.testmod(qd, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# ------------------------------------------------------------------------------------------- the extras
@pytest.mark.parametrize("missing, extra", [("dask", "qaffine[dask]"), ("zarr", "qaffine[zarr]")])
def test_missing_extra_names_it(missing: str, extra: str) -> None:
    code = textwrap.dedent(f"""
        import sys
        sys.modules[{missing!r}] = None  # as if not installed
        try:
            import qaffine.dask as qd
            import dask.array as da, numpy as np
            qd.to_zarr(qd.quantize(da.ones(4, chunks=2)), "unused.zarr")
        except ImportError as e:
            print(e)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert f'pip install "{extra}"' in r.stdout


# ------------------------------------------------------------------------------------------- the README
def _readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## When one machine is not enough", 1)[1].split("\n## ", 1)[0]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.slow
def test_readme_cluster_example_runs(tmp_path: Path) -> None:
    (tmp_path / "example.py").write_text(_readme_example(), encoding="utf-8")
    r = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "QParams(scale=" in r.stdout
    for name in ("weights.zarr", "weights-q8.zarr", "weights-per-row.zarr", "weights-b128.zarr"):
        assert (tmp_path / name).is_dir()


# ---------------------------------------------------------------------------------------- 512 MB, bounded
SHAPE, CHUNKS = (8192, 16384), (1024, 4096)  # float32: 512 MiB in 32 chunks of 16 MiB

CLIENT_SCRIPT = """
import json, os, resource, sys
import dask.array as da, distributed, numpy as np, zarr
import qaffine.dask as qd


def status_kib(field):  # Linux: this process's own VmRSS / VmHWM (peak), not inherited across exec
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))
    except (OSError, StopIteration):
        return None


address, src, dst, mode = sys.argv[1:]
kw = json.loads(mode)
with distributed.Client(address) as client:
    try:  # reset VmHWM to the current RSS (Linux >= 4.0), so the peak below is this job's
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    before = {"maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "rss": status_kib("VmRSS"),
              "hwm": status_kib("VmHWM")}
    q = qd.quantize(da.from_zarr(src), **kw)     # range: reduced on the workers
    qd.to_zarr(q, dst)                           # codes: written by the workers
    after = {"maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "rss": status_kib("VmRSS"),
             "hwm": status_kib("VmHWM")}
    slab = da.from_zarr(src)[:2048].compute()    # control: 128 MiB on the client does show up
    control = status_kib("VmHWM")
print(json.dumps({"before": before, "after": after, "control": control}))
"""


def _write_input(path: Path) -> None:
    """The 512 MiB input, generated and written one row of chunks (64 MiB) at a time."""
    z = zarr.open_array(path, mode="w", shape=SHAPE, chunks=CHUNKS, dtype=np.float32)
    rng = np.random.default_rng(42)
    for r in range(0, SHAPE[0], CHUNKS[0]):
        slab = rng.standard_normal((CHUNKS[0], SHAPE[1]), dtype=np.float32)
        slab *= np.float32(1.0 + r / SHAPE[0])  # the range grows down the rows: every slab matters
        z[r:r + CHUNKS[0]] = slab


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["tensor", "block-last"])
def test_512mb_zarr_to_zarr_on_the_cluster_in_bounded_client_memory(client: Any, tmp_path: Path,
                                                                     mode: str) -> None:
    src, dst = tmp_path / "x.zarr", tmp_path / "q.zarr"
    _write_input(src)
    # The client runs in a fresh process (the cluster is this module's), measuring its own peak RSS.
    r = subprocess.run([sys.executable, "-c", CLIENT_SCRIPT, client.scheduler.address, str(src), str(dst),
                        json.dumps(MODES[mode])], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    rss: Dict[str, Dict[str, int]] = json.loads(r.stdout.strip().splitlines()[-1])
    before, after = rss["before"], rss["after"]
    # ru_maxrss is a lifetime peak, and Linux carries the parent's peak (this pytest process, which has held
    # 512 MiB arrays) across fork + exec, so its growth can read 0; the client's own peak is VmHWM.
    growth_mib = (after["maxrss"] - before["maxrss"]) / 1024
    if after["hwm"] is not None:
        growth_mib = max(growth_mib, (after["hwm"] - min(before["hwm"], before["rss"])) / 1024)
    print(f"\nclient: RSS {before['rss']} KiB before, peak {after['hwm']} KiB after (VmHWM); ru_maxrss "
          f"{before['maxrss']} -> {after['maxrss']} KiB; peak growth {growth_mib:.1f} MiB")
    assert growth_mib < 200, rss
    if after["hwm"] is not None:
        assert (rss["control"] - after["hwm"]) / 1024 > 100, rss  # the meter sees a 128 MiB slab

    # Verification in this process: the whole array in memory once, against what the cluster wrote.
    x = _load(zarr.open_array(src, mode="r"))
    assert x.nbytes == 512 * 2**20
    ref = qa.quantize(x, **MODES[mode])
    del x
    g = zarr.open_group(dst, mode="r")
    assert np.array_equal(g["scale"][...], np.asarray(ref.scale))
    assert np.array_equal(g["zero_point"][...], np.asarray(ref.zero_point))
    assert np.array_equal(g["codes"][...], ref.values)
    assert qd.from_zarr(dst).compute().params == ref.params
    shutil.rmtree(src), shutil.rmtree(dst)  # 1 GB of temporary files: not kept for pytest's last three runs
