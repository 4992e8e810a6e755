"""qa.save / qa.load: every mode round-trips; plain np.load reads the documented layout; bad files say why."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qaffine as qa
from qaffine import _io

X = np.random.default_rng(0).standard_normal((6, 10, 4)).astype(np.float32) * 2 + 0.3

MODES = [
    {},
    {"axis": 0}, {"axis": 1}, {"axis": -1},
    {"block_size": 3}, {"block_size": 4, "axis": 0}, {"block_size": 16, "axis": 1},
    {"signed": True}, {"symmetric": True}, {"signed": True, "symmetric": True}, {"include_zero": False},
    {"compat": "torch"}, {"compat": "torch", "axis": 1},
    *({"bits": b} for b in range(1, 17)),
    {"bits": 16, "signed": True, "symmetric": True, "block_size": 4, "axis": 1}, {"bits": 12, "compat": "torch"},
    {"bits": 16, "signed": True, "axis": 0, "include_zero": False},
    *({"bits": b, "signed": True, "axis": 2} for b in (1, 3, 7)),
    *({"bits": b, "packed": True} for b in (1, 2, 3, 4)),
    {"bits": 4, "signed": True, "packed": True, "block_size": 5, "axis": 1},
    {"bits": 2, "symmetric": True, "packed": True, "axis": 0},
    {"bits": 3, "include_zero": False, "packed": True, "block_size": 2},
]


def _same(a: qa.QuantizedArray, b: qa.QuantizedArray) -> None:
    assert a.shape == b.shape and a.packed == b.packed
    assert a.values.dtype == b.values.dtype and np.array_equal(a.values, b.values)
    assert a.params == b.params
    assert np.array_equal(a.dequantize(), b.dequantize())


@pytest.mark.parametrize("mode", MODES, ids=lambda m: ",".join(f"{k}={v}" for k, v in m.items()) or "default")
def test_every_mode_round_trips(tmp_path: Path, mode: Dict[str, Any]) -> None:
    q = qa.quantize(X, **mode)
    qa.save(tmp_path / "q.npz", q)
    _same(qa.load(tmp_path / "q.npz"), q)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.npz"]  # no temporary file left


@pytest.mark.parametrize("x", [np.float32(2.5), np.float32([7.0]), np.zeros((2, 3), np.float32),
                               np.float64([[1e-3, -4.0]]), np.float16([0.5, 1.5, -2.0])],
                         ids=["0-d", "one", "zeros", "float64", "float16"])
def test_shapes_and_dtypes_round_trip(tmp_path: Path, x: np.ndarray) -> None:
    q = qa.quantize(x)
    qa.save(str(tmp_path / "q.npz"), q)  # str or PathLike
    _same(qa.load(str(tmp_path / "q.npz")), q)


def test_static_params_and_empty_arrays(tmp_path: Path) -> None:
    p = qa.QParams(np.float32(0.05), -3, qmin=-100, qmax=100, signed=True)  # a narrowed code range
    q = qa.quantize(np.float32([[1.0, -9.0], [0.0, 2.0]]), p)
    qa.save(tmp_path / "s.npz", q)
    _same(qa.load(tmp_path / "s.npz"), q)
    assert qa.load(tmp_path / "s.npz").params.qmin == -100
    empty = qa.quantize(np.zeros((0, 4), np.float32), qa.QParams(np.float32(1), 0))
    qa.save(tmp_path / "e.npz", empty)
    _same(qa.load(tmp_path / "e.npz"), empty)


@settings(max_examples=60, deadline=None)
@given(
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    bits=st.integers(1, 16), signed=st.booleans(), symmetric=st.booleans(), tight=st.booleans(),
    packed=st.booleans(), granularity=st.sampled_from(["tensor", "channel", "block"]),
    block_size=st.integers(1, 4), axis=st.integers(-3, 2), seed=st.integers(0, 2**16),
)
def test_round_trip_property(tmp_path_factory: pytest.TempPathFactory, shape: list, bits: int, signed: bool,
                             symmetric: bool, tight: bool, packed: bool, granularity: str, block_size: int,
                             axis: int, seed: int) -> None:
    x = np.random.default_rng(seed).uniform(-3, 5, shape).astype(np.float32)
    kw: Dict[str, Any] = dict(bits=bits, signed=signed, symmetric=symmetric, include_zero=not (tight and not symmetric),
                              packed=packed and bits <= 4)
    if granularity != "tensor":
        kw["axis"] = axis % len(shape)
    if granularity == "block":
        kw["block_size"] = block_size
    q = qa.quantize(x, **kw)
    path = tmp_path_factory.mktemp("prop") / "q.npz"
    qa.save(path, q)
    _same(qa.load(path), q)


def test_plain_numpy_reads_and_decodes_the_layout(tmp_path: Path) -> None:
    """The README's recipe: decode a file with NumPy only, in each granularity."""
    for mode in ({}, {"axis": 1}, {"block_size": 3, "axis": 1}, {"bits": 4, "signed": True, "packed": True},
                 {"bits": 16, "signed": True, "block_size": 3, "axis": 1}):
        q = qa.quantize(X, **mode)
        qa.save(tmp_path / "q.npz", q)
        with np.load(tmp_path / "q.npz") as f:
            assert int(f["qaffine_format"]) == 1
            assert set(f.files) >= {"codes", "scale", "zero_point", "shape", "axis", "block_size", "bits", "qmin",
                                    "qmax", "signed", "symmetric", "include_zero", "packed"}
            shape, axis, block = tuple(f["shape"]), int(f["axis"]), int(f["block_size"])
            codes = f["codes"]
            if bool(f["packed"]):  # 4-bit fields, first code in the low nibble, sign-extended
                nib = np.stack([codes & 15, codes >> 4], axis=1).reshape(-1)[: int(np.prod(shape))]
                codes = np.where(nib >= 8, nib.astype(np.int16) - 16, nib).reshape(shape)
            scale, zp = f["scale"], f["zero_point"].astype(np.int64)
            if axis >= 0:
                if block:
                    scale, zp = (np.repeat(a, block, axis=axis).take(range(shape[axis]), axis=axis)
                                 for a in (scale, zp))
                else:
                    view = [1] * len(shape)
                    view[axis] = -1
                    scale, zp = scale.reshape(view), zp.reshape(view)
            x_hat = (codes.astype(np.int64) - zp).astype(np.float32) * scale
        assert np.array_equal(x_hat, q.dequantize())


# ------------------------------------------------------------------------------------------ bad files
def _entries(path: Path) -> Dict[str, np.ndarray]:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture
def good(tmp_path: Path) -> Path:
    qa.save(tmp_path / "good.npz", qa.quantize(X, axis=1, bits=4, packed=True))
    return tmp_path / "good.npz"


@pytest.mark.parametrize("change, message", [
    ({"qaffine_format": np.int64(2)}, "format version 2, newer than this qaffine reads (1); upgrade qaffine"),
    ({"qaffine_format": np.int64(0)}, "invalid format version 0"),
    ({"qaffine_format": np.float32(1)}, "'qaffine_format' should be a single value"),
    ({"bits": np.int64(17)}, "bits must be between 1 and 16"),
    ({"bits": np.int64(5)}, "packed=True needs bits <= 4"),
    ({"axis": np.int64(7)}, "axis 7 is out of range for shape (6, 10, 4)"),
    ({"qmax": np.int64(300)}, "qmin=0, qmax=300 do not fit 4-bit codes"),
    ({"shape": np.int64([6, 10])}, "'codes' should be uint8 (30,), got uint8 (120,)"),
    ({"codes": np.zeros(5, np.uint8)}, "'codes' should be uint8 (120,)"),
    ({"scale": np.ones(3, np.float32)}, "'scale' should be float32 (10,)"),
    ({"zero_point": np.ones(10, np.float32)}, "'zero_point' should be int32 (10,)"),
    ({"scale": -np.ones(10, np.float32)}, "scale must be a finite float32 number > 0"),
    ({"source_dtype": np.str_("int8")}, "'source_dtype' must name a float dtype"),
    ({"signed": None}, "the entry 'signed' is missing"),
    ({"codes": None}, "the entry 'codes' is missing"),
    ({"qaffine_format": None}, "is not a qaffine file (it has no 'qaffine_format' entry)"),
])
def test_bad_files_raise_value_error(good: Path, change: Dict[str, Any], message: str) -> None:
    entries = _entries(good)
    for key, value in change.items():
        if value is None:
            del entries[key]
        else:
            entries[key] = value
    bad = good.with_name("bad.npz")
    np.savez(bad, **entries)
    with pytest.raises(ValueError) as info:
        qa.load(bad)
    assert message in str(info.value)
    assert str(bad) in str(info.value)


def test_not_npz_files(tmp_path: Path) -> None:
    (tmp_path / "t.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="not a qaffine file"):
        qa.load(tmp_path / "t.npz")
    np.save(tmp_path / "a.npy", np.arange(3))
    with pytest.raises(ValueError, match="not a qaffine file"):
        qa.load(tmp_path / "a.npy")
    with pytest.raises(FileNotFoundError):
        qa.load(tmp_path / "missing.npz")


def test_save_checks_and_is_atomic(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="QuantizedArray"):
        qa.save(tmp_path / "x.npz", np.zeros(3, np.uint8))  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        qa.save(tmp_path / "no" / "x.npz", qa.quantize(X))
    (tmp_path / "x.npz").write_bytes(b"old")

    class Boom(qa.QuantizedArray):  # fails while its codes are being written
        @property
        def values(self) -> np.ndarray:
            raise KeyboardInterrupt

    q = qa.quantize(X)
    boom = Boom(q.values, q.params)
    with pytest.raises(KeyboardInterrupt):
        qa.save(tmp_path / "x.npz", boom)
    assert (tmp_path / "x.npz").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npz"]


def test_file_is_an_uncompressed_zip_of_npy(good: Path) -> None:
    with zipfile.ZipFile(good) as z:
        assert all(name.endswith(".npy") for name in z.namelist())
        assert all(info.compress_type == zipfile.ZIP_STORED for info in z.infolist())
    assert _io.FORMAT_VERSION == 1


def test_16_bit_files(tmp_path: Path) -> None:
    """16-bit codes are stored as uint16 / int16 entries; a byte-swapped codes entry still loads; a header
    that disagrees with the codes' width is a damaged file."""
    for signed in (False, True):
        q = qa.quantize(X, bits=16, signed=signed, block_size=4, axis=1)
        path = tmp_path / f"q{int(signed)}.npz"
        qa.save(path, q)
        entries = _entries(path)
        want = np.dtype(np.int16 if signed else np.uint16)
        assert entries["codes"].dtype == want and int(entries["bits"]) == 16 and entries["codes"].shape == X.shape
        swapped = dict(entries, codes=entries["codes"].astype(want.newbyteorder(">" if want.isnative else "<")))
        np.savez(tmp_path / "swapped.npz", **swapped)
        _same(qa.load(tmp_path / "swapped.npz"), q)
        for change, message in (({"bits": np.int64(8), "qmin": np.int64(-128 if signed else 0),
                                  "qmax": np.int64(127 if signed else 255)},
                                 f"'codes' should be {'int8' if signed else 'uint8'} (6, 10, 4), got {want}"),
                                ({"codes": entries["codes"].astype(np.int8 if signed else np.uint8)},
                                 f"'codes' should be {want} (6, 10, 4)"),
                                ({"qmax": np.int64(65536)}, "do not fit 16-bit codes")):
            np.savez(tmp_path / "bad.npz", **dict(entries, **change))
            with pytest.raises(ValueError, match=re.escape(message)):
                qa.load(tmp_path / "bad.npz")
