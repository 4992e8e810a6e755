"""qa.error against a plain NumPy computation; qa.plot's figure, and its ImportError without matplotlib."""

from __future__ import annotations

import dataclasses
import io
import math
import sys
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest

import qaffine as qa


def _numpy_error(x: np.ndarray, q: qa.QuantizedArray) -> Dict[str, Any]:
    x_hat = q.dequantize(dtype=np.float64 if x.dtype == np.float64 else np.float32)
    d = x_hat.astype(np.float64) - x.astype(np.float64)
    signal, noise = float(np.sum(x.astype(np.float64) ** 2)), float(np.sum(d ** 2))
    used = np.unique(q.codes()).size
    return dict(mse=float(np.mean(d ** 2)), rmse=math.sqrt(float(np.mean(d ** 2))), max_abs=float(np.max(np.abs(d))),
                mean_abs=float(np.mean(np.abs(d))), sqnr_db=10 * math.log10(signal / noise), codes_used=used,
                code_usage=used / 2 ** q.params.bits)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("mode", [{}, {"axis": 0}, {"block_size": 7, "bits": 4, "packed": True},
                                  {"bits": 3, "signed": True, "symmetric": True}, {"include_zero": False}],
                         ids=["default", "axis", "block-packed", "3bit-signed-sym", "tight"])
def test_error_matches_numpy(dtype: Any, mode: Dict[str, Any]) -> None:
    x = (np.random.default_rng(1).standard_normal((30, 7000)) * 3 + 1).astype(dtype)  # > one 64 Ki slice
    q = qa.quantize(x, **mode)
    e = qa.error(x, q)
    for key, value in _numpy_error(x, q).items():
        assert getattr(e, key) == pytest.approx(value, rel=1e-9, abs=1e-300), key
    assert e.count == x.size and e.bits == q.params.bits
    # every mode, symmetric too: its extreme value lies half a step beyond the end code, so clips by s/2
    assert e.max_abs <= float(np.max(q.scale)) / 2 * (1 + 1e-3)


def test_error_special_cases() -> None:
    zeros = np.zeros(10, np.float32)
    e = qa.error(zeros, qa.quantize(zeros))
    assert e.mse == 0 and e.max_abs == 0 and e.sqnr_db == math.inf and e.codes_used == 1
    assert "SQNR inf dB (exact)" in str(e)
    x = np.float32([0.0, 1.0, 2.0])  # 0 and 2 exact, 1 rounded
    e = qa.error(x, qa.quantize(x))
    assert 0 < e.max_abs <= float(qa.quantize(x).scale) / 2
    assert qa.error([0.5], qa.quantize(np.float32([0.5]))).count == 1  # array-likes accepted
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.mse = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="shape"):
        qa.error(np.zeros(4, np.float32), qa.quantize(np.ones(3, np.float32)))
    with pytest.raises(TypeError, match="QuantizedArray"):
        qa.error(x, x)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="float16, bfloat16, float32 or float64"):
        qa.error(np.arange(3), qa.quantize(x))


def test_error_str() -> None:
    x = np.linspace(-1, 1, 1000, dtype=np.float32)
    e = qa.error(x, qa.quantize(x, bits=4))
    text = str(e)
    assert text.startswith(f"rmse {e.rmse:.4g}, max |error| {e.max_abs:.4g}")
    assert f"SQNR {e.sqnr_db:.1f} dB" in text and "15 of 16 codes used (93.8%)" in text
    assert e.codes_used == np.unique(qa.quantize(x, bits=4).values).size == 15


# ------------------------------------------------------------------------------------------------ plot
def test_plot_three_panels(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    x = np.sort(np.random.default_rng(0).uniform(0, 5, 10)).astype(np.float32)
    fig = qa.plot(x, path=tmp_path / "p.png")
    assert len(fig.axes) == 3
    assert [ax.get_xlabel() for ax in fig.axes] == ["x", "x", "error"]
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    q = qa.quantize(x)
    codes = fig.axes[0].collections[0].get_offsets()
    assert np.array_equal(np.asarray(codes)[:, 1], q.values)  # the mapping panel shows the codes
    fig.savefig(io.BytesIO(), format="svg")


def test_plot_other_modes_and_big_arrays(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    w = np.random.default_rng(2).standard_normal((64, 2000)).astype(np.float32)
    fig = qa.plot(w, qa.quantize(w, axis=0, bits=4, signed=True, packed=True))
    assert len(fig.axes) == 3 and "4-bit int8" in fig.axes[0].get_title()
    assert len(fig.axes[0].collections[0].get_offsets()) == 20_000  # sampled
    with pytest.raises(ValueError, match="shape"):
        qa.plot(w, qa.quantize(w[:3]))


def test_plot_without_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r'pip install "qaffine\[plot\]"'):
        qa.plot(np.float32([1, 2, 3]))
    # the demo still prints everything, and says why there is no picture
    from qaffine._demo import run_demo

    out = io.StringIO()
    result = run_demo(out_dir=None, stream=out)
    assert result.figure is None and 'no plot' in out.getvalue() and "qaffine[plot]" in out.getvalue()
