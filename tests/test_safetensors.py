"""Checkpoints in the safetensors format: ``qaffine quantize | dequantize | info`` on ``.safetensors`` files and
sharded indexes, and ``qa.save_safetensors`` / ``qa.load_safetensors``.

* the codes and parameters equal ``qa.quantize`` on the whole tensor (as float32 for bfloat16) in every mode,
  dtype and slice size; dequantize equals ``q.dequantize()`` cast to the source dtype;
* the files are read and written by the safetensors library itself (the oracle of the format), and a plain
  NumPy decoding of the documented layout gives the dequantized values;
* selection globs, sharded checkpoints, damaged files and every error of the command line;
* a small torch model (Embedding, Linear, Conv2d, LayerNorm; bfloat16 and float32) through the command line and
  back into ``load_state_dict``.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import json
import math
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pytest

import qaffine as qa
from qaffine import _checkpoint
from qaffine.__main__ import main

ml_dtypes = pytest.importorskip("ml_dtypes")
safetensors_numpy = pytest.importorskip("safetensors.numpy")
from safetensors import safe_open  # noqa: E402

BF16 = np.dtype(ml_dtypes.bfloat16)
RNG = np.random.default_rng(0)


def run(*args: Any) -> Tuple[int, str, str]:
    """The command line, in this process: (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in args])
    return status, out.getvalue(), err.getvalue()


def ok(*args: Any) -> str:
    status, out, err = run(*args)
    assert status == 0, f"{args} failed ({status}): {err}"
    return out


def _files(folder: Path) -> List[str]:
    return sorted(p.name for p in folder.iterdir())


def _plain(path: Path) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """Tensors and metadata as the safetensors library reads them."""
    with safe_open(str(path), framework="np") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})


# ----------------------------------------------------------------------- round trips against the oracles
MODES = [
    pytest.param({}, id="tensor"),
    pytest.param({"axis": 0}, id="axis0"),
    pytest.param({"axis": 1, "bits": 3, "signed": True, "symmetric": True}, id="axis1-3bit-signed-sym"),
    pytest.param({"axis": 2, "tight": True}, id="axis2-tight"),
    pytest.param({"block_size": 4}, id="block4"),
    pytest.param({"block_size": 3, "axis": 0}, id="block3-axis0"),
    pytest.param({"block_size": 64, "bits": 4, "packed": True}, id="block64-4bit-packed"),
    pytest.param({"block_size": 2, "axis": 0, "bits": 1, "packed": True}, id="block2-axis0-1bit-packed"),
    pytest.param({"bits": 2, "signed": True, "packed": True, "axis": 0}, id="axis0-2bit-signed-packed"),
    pytest.param({"bits": 3, "packed": True}, id="tensor-3bit-packed"),
]
SOURCES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "BF16": BF16}


def _oracle(x: np.ndarray, mode: Dict[str, Any]) -> qa.QuantizedArray:
    kw = dict(mode)
    tight = kw.pop("tight", False)
    wide = x.astype(np.float32) if x.dtype == BF16 else x  # bfloat16 -> float32 is exact
    return qa.quantize(wide, include_zero=not tight, **kw)


def _same(got: qa.QuantizedArray, ref: qa.QuantizedArray) -> None:
    assert got.shape == ref.shape and got.packed == ref.packed
    assert got.values.dtype == ref.values.dtype and np.array_equal(got.values, ref.values), "codes differ"
    assert got.params == ref.params, f"{got.params!r} != {ref.params!r}"


def _decode_with_numpy(t: Dict[str, np.ndarray], meta: Dict[str, str], name: str) -> np.ndarray:
    """The documented layout decoded with NumPy alone: x_hat = scale * (codes - zero_point), float32."""
    m = json.loads(meta[f"qaffine.{name}"])
    shape = tuple(m["shape"])
    codes = t[f"{name}.codes"]
    if m["packed"]:
        w = 1 if m["bits"] == 1 else 2 if m["bits"] == 2 else 4
        fields = (codes[:, None] >> (np.arange(8 // w, dtype=np.uint8) * w)) & ((1 << w) - 1)
        c = fields.reshape(-1)[:math.prod(shape)].astype(np.int64)
        if m["signed"]:
            c = np.where(c >= 1 << (w - 1), c - (1 << w), c)
        codes = c.reshape(shape)
    scale, zp = t[f"{name}.scale"], t[f"{name}.zero_point"]
    if m["block_size"] is not None:
        n = shape[m["axis"]]
        scale = np.repeat(scale, m["block_size"], axis=m["axis"]).take(range(n), axis=m["axis"])
        zp = np.repeat(zp, m["block_size"], axis=m["axis"]).take(range(n), axis=m["axis"])
    elif m["axis"] is not None:
        view = [1] * len(shape)
        view[m["axis"]] = -1
        scale, zp = scale.reshape(view), zp.reshape(view)
    return ((codes.astype(np.int64) - zp).astype(np.float32) * scale).astype(np.float32)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("chunk", [1, 50, 1 << 20])
def test_quantize_equals_qa_quantize_and_round_trips(tmp_path: Path, mode: Dict[str, Any], chunk: int) -> None:
    tensors = {"a.weight": (RNG.standard_normal((6, 10, 4)) * 2 + 0.3).astype(np.float32),
               "b.weight": RNG.uniform(-3, 1, (9, 5, 3)).astype(BF16)}
    safetensors_numpy.save_file(tensors, str(tmp_path / "m.safetensors"))
    _checkpoint.quantize_checkpoint(tmp_path / "m.safetensors", tmp_path / "q.safetensors", chunk=chunk, **mode)
    got = qa.load_safetensors(tmp_path / "q.safetensors")
    plain, meta = _plain(tmp_path / "q.safetensors")
    for name, x in tensors.items():
        ref = _oracle(x, mode)
        q = got[name]
        assert isinstance(q, qa.QuantizedArray)
        _same(q, ref)
        assert np.array_equal(plain[f"{name}.codes"], ref.values)  # what plain safetensors reads
        assert np.array_equal(_decode_with_numpy(plain, meta, name), ref.dequantize())
    _checkpoint.dequantize_checkpoint(tmp_path / "q.safetensors", tmp_path / "b.safetensors", chunk=chunk)
    back, back_meta = _plain(tmp_path / "b.safetensors")
    assert sorted(back) == sorted(tensors) and not any(k.startswith("qaffine") for k in back_meta)
    for name, x in tensors.items():
        assert back[name].dtype == x.dtype  # bfloat16 stays bfloat16
        assert np.array_equal(back[name], _oracle(x, mode).dequantize().astype(x.dtype))


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("target", [None, "float32", "float16", "bfloat16", "float64"])
def test_dtypes_in_and_out(tmp_path: Path, source: str, target: Optional[str]) -> None:
    x = RNG.standard_normal((33, 7)).astype(SOURCES[source])
    safetensors_numpy.save_file({"w": x}, str(tmp_path / "m.safetensors"))
    ok("quantize", tmp_path / "m.safetensors", "-o", tmp_path / "q.safetensors", "--axis", "0", "-q")
    ref = _oracle(x, {"axis": 0})
    _same(qa.load_safetensors(tmp_path / "q.safetensors")["w"], ref)  # type: ignore[arg-type]
    ok("dequantize", tmp_path / "q.safetensors", "-o", tmp_path / "b.safetensors", "-q",
       *(["--dtype", target] if target else []))
    want = x.dtype if target is None else np.dtype(BF16 if target == "bfloat16" else target)
    expected = ref.dequantize(dtype=np.float64) if want == np.float64 else ref.dequantize().astype(want)
    back = _plain(tmp_path / "b.safetensors")[0]["w"]
    assert back.dtype == want and np.array_equal(back, expected)


def test_save_and_load_safetensors_every_kind_of_value(tmp_path: Path) -> None:
    x = (RNG.standard_normal((6, 10, 4)) * 2).astype(np.float32)
    values: Dict[str, Any] = {f"q{i}": qa.quantize(x, **m) for i, m in enumerate(
        [{}, {"axis": 1}, {"block_size": 3}, {"bits": 4, "signed": True, "packed": True, "block_size": 5, "axis": 1},
         {"bits": 2, "symmetric": True, "packed": True, "axis": 0}, {"include_zero": False, "bits": 7}])}
    values["q0d"] = qa.quantize(np.float32(2.5))
    values.update({"f16": np.float16([1.5, -2]), "bf16": np.ones((2, 3), BF16), "i64": np.arange(4),
                   "flags": np.array([True, False]), "scalar": np.float64(3.0), "empty": np.zeros((0, 3), np.float32),
                   "u8": np.arange(5, dtype=np.uint8), "big_endian": np.arange(3, dtype=">i4")})
    qa.save_safetensors(tmp_path / "all.safetensors", values, metadata={"format": "pt"})
    got = qa.load_safetensors(tmp_path / "all.safetensors")
    assert sorted(got) == sorted(values)
    for k, v in values.items():
        if isinstance(v, qa.QuantizedArray):
            _same(got[k], v)  # type: ignore[arg-type]
        else:
            a = np.asarray(v)
            assert got[k].dtype == a.dtype.newbyteorder("=") and np.array_equal(got[k], a), k  # type: ignore[union-attr]
    plain, meta = _plain(tmp_path / "all.safetensors")
    assert meta["format"] == "pt" and meta["qaffine_format"] == "1"
    assert np.array_equal(plain["big_endian"], [0, 1, 2]) and plain["bf16"].dtype == BF16
    assert _files(tmp_path) == ["all.safetensors"]


def test_save_safetensors_refuses_clashing_names_and_bad_values(tmp_path: Path) -> None:
    q = qa.quantize(np.float32([1, 2, 3]))
    with pytest.raises(ValueError, match="'w.scale'"):
        qa.save_safetensors(tmp_path / "x.safetensors", {"w": q, "w.scale": np.float32([1])})
    with pytest.raises(ValueError, match="reserved"):
        qa.save_safetensors(tmp_path / "x.safetensors", {"__metadata__": np.float32([1])})
    with pytest.raises(TypeError, match="metadata"):
        qa.save_safetensors(tmp_path / "x.safetensors", {"w": q}, metadata={"n": 1})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="object"):
        qa.save_safetensors(tmp_path / "x.safetensors", {"o": np.array([None])})
    assert _files(tmp_path) == []


def test_docstring_examples_run() -> None:
    from qaffine import _safetensors

    result = doctest.testmod(_safetensors, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# -------------------------------------------------------------------------------------------- selection
def _model_like(tmp_path: Path) -> Dict[str, np.ndarray]:
    t = {"layers.0.attn.weight": RNG.standard_normal((8, 8)).astype(BF16),
         "layers.0.mlp.weight": RNG.standard_normal((16, 8)).astype(np.float32),
         "layers.0.mlp.bias": RNG.standard_normal(16).astype(np.float32),
         "layers.0.norm.weight": np.ones(8, BF16),
         "layers.10.attn.weight": RNG.standard_normal((8, 8)).astype(np.float16),
         "position_ids": np.arange(12, dtype=np.int64).reshape(1, 12),
         "empty.weight": np.zeros((0, 4), np.float32),
         "scalar": np.array(1.5, np.float32)}
    safetensors_numpy.save_file(t, str(tmp_path / "m.safetensors"), metadata={"format": "pt"})
    return t


def _quantized_names(path: Path) -> List[str]:
    return sorted(k for k, v in qa.load_safetensors(path).items() if isinstance(v, qa.QuantizedArray))


@pytest.mark.parametrize("globs, expected", [
    ([], ["layers.0.attn.weight", "layers.0.mlp.weight", "layers.10.attn.weight"]),
    (["--exclude", "*.attn.*"], ["layers.0.mlp.weight"]),
    (["--include", "*.attn.*"], ["layers.0.attn.weight", "layers.10.attn.weight"]),
    (["--include", "layers.0.*"], ["layers.0.attn.weight", "layers.0.mlp.bias", "layers.0.mlp.weight",
                                   "layers.0.norm.weight"]),  # any rank once included
    (["--include", "layers.0.*", "--exclude", "*norm*", "--exclude", "*.bias"],
     ["layers.0.attn.weight", "layers.0.mlp.weight"]),  # --exclude wins
    (["--include", "*", "--exclude", "empty.*"], ["layers.0.attn.weight", "layers.0.mlp.bias", "layers.0.mlp.weight",
                                                  "layers.0.norm.weight", "layers.10.attn.weight", "scalar"]),
], ids=["default", "exclude", "include", "include-1d", "include-exclude", "include-all-floats"])
def test_selection_and_bit_identical_copies(tmp_path: Path, globs: List[str], expected: List[str]) -> None:
    t = _model_like(tmp_path)
    out = ok("quantize", tmp_path / "m.safetensors", "-o", tmp_path / "q.safetensors", *globs)
    assert _quantized_names(tmp_path / "q.safetensors") == expected
    plain, meta = _plain(tmp_path / "q.safetensors")
    assert meta["format"] == "pt"  # the checkpoint's own metadata is kept
    for name, x in t.items():
        if name not in expected:
            assert plain[name].dtype == x.dtype and plain[name].tobytes() == x.tobytes(), name
    assert "max |error|" in out and f"{len(expected)} quantized, {len(t) - len(expected)} copied" in out
    ok("dequantize", tmp_path / "q.safetensors", "-o", tmp_path / "b.safetensors")
    back, meta = _plain(tmp_path / "b.safetensors")
    assert sorted(back) == sorted(t) and meta == {"format": "pt"}
    for name, x in t.items():
        assert back[name].dtype == x.dtype and back[name].shape == x.shape
        if name not in expected:
            assert back[name].tobytes() == x.tobytes(), name


def test_info_table_and_quantize_table(tmp_path: Path) -> None:
    _model_like(tmp_path)
    out = ok("quantize", tmp_path / "m.safetensors", "-o", tmp_path / "q.safetensors", "--block-size", "4",
             "--bits", "4", "--packed")
    lines = out.splitlines()
    assert lines[1] == "mode: per block (4 values along the last axis), 4-bit uint8, packed, asymmetric, range includes 0"
    head = lines[2].split()
    assert head[:6] == ["tensor", "shape", "dtype", "mode", "before", "after"] and "SQNR" in head
    row = next(line for line in lines if line.startswith("layers.0.mlp.weight "))
    q = _oracle(np.asarray(qa.load_safetensors(tmp_path / "m.safetensors")["layers.0.mlp.weight"]),
                {"block_size": 4, "bits": 4, "packed": True})
    e = qa.error(qa.load_safetensors(tmp_path / "m.safetensors")["layers.0.mlp.weight"], q)  # type: ignore[arg-type]
    assert f"{e.max_abs:.4g}" in row.split() and f"{e.sqnr_db:.1f}" in row.split()
    assert "block 4 (axis 1), uint4 packed" in row and "512 B" in row  # 16 x 8 float32
    # after: 64 bytes of codes + 32 blocks x (4 + 4) bytes of parameters
    assert "320 B" in row
    info = ok("info", tmp_path / "q.safetensors").splitlines()
    assert info[0].endswith("3 of 8 tensors quantized by qaffine")
    assert [line.split()[0] for line in info[2:-2]] == ["empty.weight", "layers.0.attn.weight", "layers.0.mlp.bias",
                                                       "layers.0.mlp.weight", "layers.0.norm.weight",
                                                       "layers.10.attn.weight", "position_ids", "scalar"]
    info_row = next(line for line in info if line.startswith("layers.0.mlp.weight "))
    assert info_row.split()[:9] == row.split()[:9]  # the same columns, without the errors
    assert info[-2].startswith("total") and "3 quantized, 5 copied" in info[-2]
    assert info[-1].startswith("size: ") and "x smaller" in info[-1]
    plain = ok("info", tmp_path / "m.safetensors")  # a checkpoint qaffine did not write: its table
    assert "0 of 8 tensors quantized" in plain and "copied" in plain


def test_progress_bar_per_tensor(tmp_path: Path) -> None:
    _model_like(tmp_path)
    status, out, err = run("quantize", tmp_path / "m.safetensors", "-o", tmp_path / "q.safetensors", "--progress")
    assert status == 0 and "layers.0.mlp.weight" in err
    status, out, err = run("quantize", tmp_path / "m.safetensors", "-o", tmp_path / "q.safetensors", "-q")
    assert status == 0 and out == "" and err == ""


# --------------------------------------------------------------------------------------------- sharded
def _sharded(tmp_path: Path, tensors: Dict[str, np.ndarray], split: int) -> Path:
    names = list(tensors)
    shards = {"model-00001-of-00002.safetensors": names[:split], "model-00002-of-00002.safetensors": names[split:]}
    for shard, keys in shards.items():
        safetensors_numpy.save_file({k: tensors[k] for k in keys}, str(tmp_path / shard), metadata={"format": "pt"})
    index = tmp_path / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {"total_size": sum(t.nbytes for t in tensors.values())},
                                 "weight_map": {k: s for s, keys in shards.items() for k in keys}}))
    return index


def test_sharded_checkpoint(tmp_path: Path) -> None:
    t = {"a.weight": RNG.standard_normal((12, 8)).astype(BF16), "a.bias": RNG.standard_normal(12).astype(BF16),
         "b.weight": RNG.standard_normal((5, 8)).astype(np.float32), "c.weight": RNG.standard_normal((3, 3, 4))
         .astype(np.float16)}
    index = _sharded(tmp_path, t, 2)
    (tmp_path / "out").mkdir()
    out = ok("quantize", index, "-o", tmp_path / "out" / "q.safetensors.index.json", "--axis", "0")
    assert "a.bias" in out and "c.weight" in out
    assert _files(tmp_path / "out") == ["q-00001-of-00002.safetensors", "q-00002-of-00002.safetensors",
                                        "q.safetensors.index.json"]
    new = json.loads((tmp_path / "out" / "q.safetensors.index.json").read_text())
    assert new["weight_map"]["a.weight.codes"] == "q-00001-of-00002.safetensors"
    assert new["weight_map"]["c.weight.scale"] == "q-00002-of-00002.safetensors"
    assert new["weight_map"]["a.bias"] == "q-00001-of-00002.safetensors"
    stored = {}
    for shard in set(new["weight_map"].values()):
        stored.update(_plain(tmp_path / "out" / shard)[0])
    assert sorted(stored) == sorted(new["weight_map"])
    assert new["metadata"]["total_size"] == sum(v.nbytes for v in stored.values())
    for name in ("a.weight", "b.weight", "c.weight"):
        assert np.array_equal(stored[f"{name}.codes"], _oracle(t[name], {"axis": 0}).values)
    assert stored["a.bias"].tobytes() == t["a.bias"].tobytes()
    info = ok("info", tmp_path / "out" / "q.safetensors.index.json")
    assert "3 of 4 tensors quantized" in info
    ok("dequantize", tmp_path / "out" / "q.safetensors.index.json", "-o", tmp_path / "back.safetensors.index.json")
    back_index = json.loads((tmp_path / "back.safetensors.index.json").read_text())
    back = {}
    for shard in set(back_index["weight_map"].values()):
        back.update(_plain(tmp_path / shard)[0])
    assert sorted(back) == sorted(t) == sorted(back_index["weight_map"])
    for name, x in t.items():
        assert back[name].dtype == x.dtype
        expected = x if name == "a.bias" else _oracle(x, {"axis": 0}).dequantize().astype(x.dtype)
        assert back[name].tobytes() == expected.tobytes()


# ------------------------------------------------------------------------------- damaged files and errors
def _raw(path: Path, header: Any, data: bytes = b"", length: Optional[int] = None) -> None:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text) if length is None else length) + text + data)


def _setup_errors(d: Path) -> None:
    good = {"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}
    data = np.float32([[1, 2], [3, 4]]).tobytes()
    _raw(d / "ok.safetensors", good, data)
    (d / "text.safetensors").write_text("this is not a checkpoint at all\n")
    (d / "tiny.safetensors").write_bytes(b"\x01\x02")
    _raw(d / "cut_header.safetensors", good, b"", length=4000)
    (d / "cut_header.safetensors").write_bytes((d / "cut_header.safetensors").read_bytes()[:40])
    _raw(d / "cut_data.safetensors", good, data[:10])
    _raw(d / "bad_json.safetensors", b'{"w": {"dtype": "F32", ', data)
    _raw(d / "bad_meta.safetensors", {"__metadata__": {"n": 1}, **good}, data)
    _raw(d / "bad_size.safetensors", {"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 16]}}, data)
    _raw(d / "gap.safetensors", {"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [4, 20]}}, data + bytes(4))
    _raw(d / "trailing.safetensors", good, data + b"xx")
    _raw(d / "bad_shape.safetensors", {"w": {"dtype": "F32", "shape": [2, -2], "data_offsets": [0, 16]}}, data)
    nan = np.ones((4, 5), np.float32)
    nan[2, 3] = np.nan
    inf = np.ones((4, 5), np.float32)
    inf[3, 1] = np.inf
    safetensors_numpy.save_file({"ok": np.ones((3, 3), np.float32), "layer.w": nan}, str(d / "nan.safetensors"))
    safetensors_numpy.save_file({"layer.w": inf}, str(d / "inf.safetensors"))
    safetensors_numpy.save_file({"e": np.zeros((0, 3), np.float32)}, str(d / "empty.safetensors"))
    safetensors_numpy.save_file({"b": np.ones(3, np.float32), "w": np.ones((2, 3), np.float32)},
                                str(d / "bias.safetensors"))
    qa.save_safetensors(d / "q.safetensors", {"w": qa.quantize(np.float32([[1, 2], [3, 4]]))})
    plain, meta = _plain(d / "q.safetensors")
    for name, change in (("newer", {"qaffine_format": "7"}), ("badq", {"qaffine.w": "{not json"}),
                         ("fieldq", {"qaffine.w": meta["qaffine.w"].replace('"bits":8', '"bits":8.0')})):
        safetensors_numpy.save_file(plain, str(d / f"{name}.safetensors"), metadata={**meta, **change})
    safetensors_numpy.save_file({k: v for k, v in plain.items() if k != "w.scale"}, str(d / "noscale.safetensors"),
                                metadata=meta)
    (d / "index.json").write_text(json.dumps({"weight_map": {"w": "ok.safetensors", "v": "ok.safetensors"}}))
    (d / "noindex.json").write_text(json.dumps({"metadata": {}}))


ERRORS = [
    (["quantize", "missing.safetensors", "-o", "o.safetensors"], ["missing.safetensors", "no such file"]),
    (["quantize", "text.safetensors", "-o", "o.safetensors"], ["text.safetensors", "not a safetensors file"]),
    (["quantize", "tiny.safetensors", "-o", "o.safetensors"], ["tiny.safetensors", "not a safetensors file"]),
    (["quantize", "cut_header.safetensors", "-o", "o.safetensors"], ["cut_header.safetensors", "truncated",
                                                                     "4,000 bytes of JSON"]),
    (["quantize", "cut_data.safetensors", "-o", "o.safetensors"], ["cut_data.safetensors", "truncated",
                                                                   "need 16 bytes"]),
    (["info", "bad_json.safetensors"], ["bad_json.safetensors", "damaged", "not valid JSON"]),
    (["info", "bad_meta.safetensors"], ["bad_meta.safetensors", "damaged", "__metadata__"]),
    (["info", "bad_size.safetensors"], ["bad_size.safetensors", "damaged", "'w'", "span 16 bytes"]),
    (["info", "gap.safetensors"], ["gap.safetensors", "damaged", "gap"]),
    (["info", "trailing.safetensors"], ["trailing.safetensors", "damaged", "2 bytes follow"]),
    (["info", "bad_shape.safetensors"], ["bad_shape.safetensors", "damaged", "shape"]),
    (["quantize", "nan.safetensors", "-o", "o.safetensors"], ["nan.safetensors: tensor 'layer.w'",
                                                             "NaN at index (2, 3)"]),
    (["quantize", "nan.safetensors", "-o", "o.safetensors", "--axis", "1", "--chunk-size", "5"],
     ["tensor 'layer.w'", "NaN at index (2, 3)"]),
    (["quantize", "nan.safetensors", "-o", "o.safetensors", "--block-size", "2", "--chunk-size", "5"],
     ["tensor 'layer.w'", "NaN at index (2, 3)"]),
    (["quantize", "inf.safetensors", "-o", "o.safetensors", "--chunk-size", "5"],
     ["tensor 'layer.w'", "infinite value at index (3, 1)"]),
    (["quantize", "empty.safetensors", "-o", "o.safetensors", "--include", "e"], ["tensor 'e'", "empty"]),
    (["quantize", "bias.safetensors", "-o", "o.safetensors", "--axis", "1", "--include", "*"],
     ["tensor 'b'", "--axis 1 is out of range for shape (3,)", "--exclude it"]),
    (["quantize", "ok.safetensors", "-o", "o.safetensors", "--include", "x*"], ["--include 'x*' matches no tensor"]),
    (["quantize", "ok.safetensors", "-o", "o.safetensors", "--bits", "6", "--packed"], ["--packed", "--bits <= 4"]),
    (["quantize", "ok.safetensors", "-o", "ok.safetensors"], ["ok.safetensors", "is the input"]),
    (["quantize", "ok.safetensors", "-o", "nowhere/o.safetensors"], ["nowhere", "no such file"]),
    (["quantize", "q.safetensors", "-o", "o.safetensors"], ["q.safetensors", "already quantized"]),
    (["quantize", "index.json", "-o", "o.safetensors.index.json"], ["index.json", "damaged", "'v'"]),
    (["quantize", "noindex.json", "-o", "o.safetensors.index.json"], ["noindex.json", "weight_map"]),
    (["dequantize", "ok.safetensors", "-o", "o.safetensors"], ["ok.safetensors", "no tensor quantized by qaffine"]),
    (["dequantize", "newer.safetensors", "-o", "o.safetensors"], ["format version 7", "upgrade qaffine"]),
    (["dequantize", "badq.safetensors", "-o", "o.safetensors"], ["damaged", "'qaffine.w'", "not valid JSON"]),
    (["dequantize", "fieldq.safetensors", "-o", "o.safetensors"], ["damaged", "bits must be an integer"]),
    (["dequantize", "noscale.safetensors", "-o", "o.safetensors"], ["damaged", "'w.scale'", "missing"]),
    (["info", "noscale.safetensors"], ["damaged", "'w.scale'", "missing"]),
]


@pytest.mark.parametrize("args, needles", ERRORS, ids=[" ".join(e[0][:2] + e[0][4:]) for e in ERRORS])
def test_errors_are_one_line_status_2_no_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                args: List[str], needles: List[str]) -> None:
    _setup_errors(tmp_path)
    monkeypatch.chdir(tmp_path)
    before = _files(tmp_path)
    status, out, err = run(*args)
    assert status == 2 and out == "", (status, out, err)
    lines = err.splitlines()
    assert len(lines) == 1 and " error: " in lines[0], err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert _files(tmp_path) == before  # no output and no temporary file


def test_a_failing_shard_leaves_no_shard_behind(tmp_path: Path) -> None:
    nan = RNG.standard_normal((4, 4)).astype(np.float32)
    nan[1, 1] = np.nan
    index = _sharded(tmp_path, {"a": RNG.standard_normal((4, 4)).astype(np.float32), "b": nan}, 1)
    before = _files(tmp_path)
    status, _, err = run("quantize", index, "-o", tmp_path / "q.safetensors.index.json")
    assert status == 2 and "model-00002-of-00002.safetensors: tensor 'b' contains NaN at index (1, 1)" in err
    assert _files(tmp_path) == before


def test_optional_packages_are_imported_only_when_needed(tmp_path: Path) -> None:
    safetensors_numpy.save_file({"w": np.ones((4, 4), np.float32)}, str(tmp_path / "f.safetensors"))
    safetensors_numpy.save_file({"w": np.ones((4, 4), BF16)}, str(tmp_path / "b.safetensors"))
    code = """
import sys
from qaffine.__main__ import main
assert main(["quantize", "f.safetensors", "-o", "q.safetensors", "-q"]) == 0
assert main(["dequantize", "q.safetensors", "-o", "back.safetensors", "-q"]) == 0
print(sorted(m for m in ("ml_dtypes", "safetensors", "torch") if m in sys.modules))
sys.modules["ml_dtypes"] = None  # as if it were not installed
sys.exit(main(["quantize", "b.safetensors", "-o", "qb.safetensors"]))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.stdout.strip() == "[]", r.stdout + r.stderr
    assert r.returncode == 2 and 'needs ml_dtypes, an optional dependency: pip install "qaffine[safetensors]"' in \
        r.stderr, r.stderr


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_interrupt_leaves_no_shard_and_no_temporary_file(tmp_path: Path) -> None:
    import os
    import signal
    import time

    index = _sharded(tmp_path, {f"w{i}": RNG.standard_normal((1024, 4096), dtype=np.float32) for i in range(4)}, 2)
    before = _files(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "qaffine", "quantize", str(index), "-o", "q.safetensors.index.json",
                             "--axis", "1", "--chunk-size", "4096"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(name.endswith(".part") for name in os.listdir(tmp_path)):  # writing has started
        assert proc.poll() is None, "finished before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "no output written" in err and "Traceback" not in err, (out, err)
    assert _files(tmp_path) == before


# ----------------------------------------------------------------------------------- bounded memory (slow)
_RSS = """
import sys
from qaffine.__main__ import main
status = main(sys.argv[1:])
with open("/proc/self/status") as f:
    print("PEAK_RSS_KB", next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")), file=sys.stderr)
sys.exit(status)
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/status")
def test_memory_is_bounded_by_a_slice_not_the_file(tmp_path: Path) -> None:
    tensors = {f"layers.{i}.weight": RNG.standard_normal((2048, 4096), dtype=np.float32) for i in range(4)}
    safetensors_numpy.save_file(tensors, str(tmp_path / "big.safetensors"))  # 4 x 32 MiB
    del tensors
    peaks = []
    for args in (["quantize", "big.safetensors", "-o", "q.safetensors", "--block-size", "64", "--bits", "4",
                  "--packed"], ["quantize", "big.safetensors", "-o", "q2.safetensors", "--axis", "1"],
                 ["dequantize", "q.safetensors", "-o", "back.safetensors"]):
        r = subprocess.run([sys.executable, "-c", _RSS, *args], capture_output=True, text=True, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        peaks.append(int(r.stderr.split("PEAK_RSS_KB")[1].split()[0]) / 1024)
    print("peak RSS (MiB):", peaks)
    assert max(peaks) < 32 + 80, peaks  # below the largest tensor plus the interpreter, far below the file


# ----------------------------------------------------------------------------------- a torch model (done when)
def _torch() -> Any:
    return pytest.importorskip("torch", reason="the model test needs PyTorch")


def _net(torch: Any, dtype: Any) -> Any:
    nn = torch.nn

    class Net(nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(100, 64)
            self.norm = nn.LayerNorm(64)
            self.fc = nn.Linear(64, 48)
            self.conv = nn.Conv2d(3, 16, 3, padding=1)
            self.register_buffer("positions", torch.arange(12))  # an integer buffer

        def forward(self, tokens: Any, image: Any) -> Any:
            return torch.cat([self.fc(self.norm(self.emb(tokens[:, self.positions]))).flatten(),
                              self.conv(image).flatten()])

    torch.manual_seed(0)
    net = Net().to(dtype)
    with torch.no_grad():  # a trained-looking norm, so that its copy is checked on values other than 1 and 0
        net.norm.weight.uniform_(0.5, 1.5)
        net.norm.bias.uniform_(-0.1, 0.1)
    return net


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
@pytest.mark.parametrize("sharded", [False, True], ids=["one-file", "2-shards"])
@pytest.mark.parametrize("options, floor", [(["--axis", "0"], 0.999), (["--block-size", "32", "--bits", "4"], 0.99),
                                            (["--block-size", "32", "--bits", "4", "--packed"], 0.99)],
                         ids=["axis0-8bit", "block32-4bit", "block32-4bit-packed"])
def test_torch_model_round_trip(tmp_path: Path, dtype: str, sharded: bool, options: List[str], floor: float) -> None:
    torch = _torch()
    from safetensors.torch import save_file

    net = _net(torch, getattr(torch, dtype))
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    if sharded:
        names = sorted(state)
        shards = {"model-00001-of-00002.safetensors": names[:2], "model-00002-of-00002.safetensors": names[2:]}
        for shard, keys in shards.items():
            save_file({k: state[k] for k in keys}, str(tmp_path / shard), metadata={"format": "pt"})
        src = tmp_path / "model.safetensors.index.json"
        src.write_text(json.dumps({"metadata": {}, "weight_map": {k: s for s, ks in shards.items() for k in ks}}))
        dst, back = tmp_path / "q.safetensors.index.json", tmp_path / "back.safetensors.index.json"
    else:
        save_file(state, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
        src, dst, back = tmp_path / "model.safetensors", tmp_path / "q.safetensors", tmp_path / "back.safetensors"
    ok("quantize", src, "-o", dst, *options)
    info = ok("info", dst)
    assert "3 of 8 tensors quantized" in info  # emb, fc and conv weights; the biases and the norm are copied
    ok("dequantize", dst, "-o", back)

    from safetensors.torch import load_file

    if sharded:
        loaded: Dict[str, Any] = {}
        for shard in set(json.loads(back.read_text())["weight_map"].values()):
            loaded.update(load_file(str(tmp_path / shard)))
    else:
        loaded = load_file(str(back))
    restored = _net(torch, getattr(torch, dtype))
    restored.load_state_dict(loaded)  # strict: every name, shape and dtype as the model has them
    for name in ("fc.bias", "conv.bias", "norm.weight", "norm.bias", "positions"):
        assert torch.equal(loaded[name], state[name]) and loaded[name].dtype == state[name].dtype, name
    for name in ("emb.weight", "fc.weight", "conv.weight"):
        assert loaded[name].dtype == state[name].dtype and not torch.equal(loaded[name], state[name])
    tokens = torch.randint(0, 100, (4, 12), generator=torch.Generator().manual_seed(1))
    image = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(2)).to(getattr(torch, dtype))
    with torch.no_grad():
        a, b = net(tokens, image).double(), restored(tokens, image).double()
    cosine = float(torch.nn.functional.cosine_similarity(a, b, dim=0))
    assert cosine >= floor, cosine


def test_console_script_quantizes_a_checkpoint(tmp_path: Path) -> None:
    safetensors_numpy.save_file({"w": RNG.standard_normal((16, 32)).astype(BF16)}, str(tmp_path / "m.safetensors"))
    r = subprocess.run([sys.executable, "-m", "qaffine", "quantize", "m.safetensors", "-o", "q.safetensors",
                        "--block-size", "32", "--bits", "4", "--packed"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and "w  " in r.stdout and r.stderr == "", r.stderr  # no bar: stderr is no terminal
    _same(qa.load_safetensors(tmp_path / "q.safetensors")["w"],  # type: ignore[arg-type]
          _oracle(_plain(tmp_path / "m.safetensors")[0]["w"], {"block_size": 32, "bits": 4, "packed": True}))
