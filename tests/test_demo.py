"""``python -m qaffine demo`` and examples/seed_walkthrough.py against the "How to quantize" notebook.

* with no options the demo quantizes the notebook's own ten values and prints the notebook's α, β, s, z and
  codes, checked against the constants the notebook printed (its output cells, copied below);
* qaffine's numbers beside them, checked against a NumPy oracle of the ONNX formulas in float32;
* the figure's axes and data (not pixels): four panels, their titles, the plotted values, codes, dequantized
  values and errors, an error axis scaled to the errors, annotations that do not overlap;
* the random-data options and how they combine;
* every file the demo, the walkthrough and docs/make_demo_png.py write is named in what they print.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Set, Tuple

import numpy as np
import pytest

import qaffine as qa
from qaffine._demo import NOTEBOOK_VALUES, notebook_formulas, run_demo

ROOT = Path(__file__).resolve().parents[1]

# The notebook's printed output, verbatim: cell 2 (print(fp32_values)), cell 3 (print(beta, alpha, beta_q,
# alpha_q)), cell 4 (print(s)), cell 5 (print(z)) and cell 8 (print(q_values)).
NOTEBOOK_OUTPUT = """\
[0.28301402 0.77873235 1.12233709 1.39843439 1.6999251  1.74000648
 2.00392207 3.13781879 3.16970945 3.34183501]
3.341835014788046 0.28301401533430914 255 0
0.011995376468446027
-24
[  0  40  69  92 117 121 143 237 240 254]
"""


def _notebook() -> Dict[str, Any]:
    arrays = re.findall(r"\[([^\]]*)\]", NOTEBOOK_OUTPUT)
    rest = re.sub(r"\[[^\]]*\]", "", NOTEBOOK_OUTPUT).split()
    beta, alpha, beta_q, alpha_q, s, z = rest
    return dict(values=np.array(arrays[0].split(), dtype=np.float64), codes=np.array(arrays[1].split(), dtype=int),
                alpha=float(alpha), beta=float(beta), alpha_q=int(alpha_q), beta_q=int(beta_q), s=float(s),
                z=int(z))


def _onnx_oracle(x: np.ndarray, include_zero: bool) -> Tuple[np.float32, int, np.ndarray, np.ndarray]:
    """ONNX DynamicQuantizeLinear in float32 (include_zero=False: the tight range, zero point unclamped)."""
    x = x.astype(np.float32)
    lo, hi = x.min(), x.max()
    if include_zero:
        lo, hi = min(lo, np.float32(0)), max(hi, np.float32(0))
    s = np.float32((hi - lo) / np.float32(255))
    z = np.rint(np.float32(0) - lo / s)
    if include_zero:
        z = np.clip(z, 0, 255)
    q = np.clip(np.rint(x / s) + z, 0, 255).astype(np.uint8)
    x_hat = (q.astype(np.float32) - np.float32(z)) * s
    return s, int(z), q, x_hat


def _truncation_oracle(v: np.ndarray) -> Tuple[float, int, np.ndarray, np.ndarray]:
    """The notebook's cells 3 to 10, in float64."""
    alpha, beta = v.min(), v.max()
    s = (beta - alpha) / 255
    z = int(np.round((beta * 0 - alpha * 255) / (beta - alpha)))
    q = np.clip(v / s + z, 0, 255).astype(np.uint8)
    return float(s), z, q, s * (q.astype(np.float64) - z)


class _Utf8(io.StringIO):
    encoding = "utf-8"  # the demo prints α, β and x̂ to streams that can encode them


def _demo_text(**kwargs: Any) -> Tuple[str, Any]:
    out = _Utf8()
    result = run_demo(out_dir=None, stream=out, **kwargs)
    return out.getvalue(), result


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(PYTHONIOENCODING="utf-8", MPLBACKEND="Agg")
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, encoding="utf-8", cwd=cwd,
                          env=env, check=True)


def _files(folder: Path) -> Set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


# ------------------------------------------------------------------------------------------------ data
def test_the_stored_values_are_the_notebooks_printout() -> None:
    nb = _notebook()
    with np.printoptions(precision=8, linewidth=75):  # NumPy's defaults, as the notebook printed
        assert str(NOTEBOOK_VALUES) == "\n".join(NOTEBOOK_OUTPUT.splitlines()[:2])
    assert np.array_equal(np.round(NOTEBOOK_VALUES, 8), nb["values"])
    assert NOTEBOOK_VALUES.dtype == np.float64 and np.all(np.diff(NOTEBOOK_VALUES) > 0)  # sorted, as printed
    assert NOTEBOOK_VALUES.min() == nb["alpha"] and NOTEBOOK_VALUES.max() == nb["beta"]


def test_notebook_formulas_reproduce_its_printed_constants() -> None:
    nb, r = _notebook(), notebook_formulas(NOTEBOOK_VALUES)
    assert r is not None
    assert (r.alpha, r.beta, r.alpha_q, r.beta_q) == (nb["alpha"], nb["beta"], nb["alpha_q"], nb["beta_q"])
    assert r.scale == nb["s"] and r.zero_point == nb["z"]  # every printed digit
    assert np.array_equal(r.codes, nb["codes"])
    s, z, q, x_hat = _truncation_oracle(NOTEBOOK_VALUES)
    assert (r.scale, r.zero_point) == (s, z) and np.array_equal(r.codes, q) and np.array_equal(r.x_hat, x_hat)
    assert notebook_formulas(np.ones(5)) is None  # the notebook divides by zero on constant data


# ------------------------------------------------------------------------------------------- printout
def _column_rows(text: str) -> Dict[str, List[str]]:
    """The comparison block: row label -> [the notebook, qaffine default, include_zero=False] cells."""
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^(\d\. )?\s*(α, β|α_q, β_q|s|z)\s{2,}(.*)$", line)
        if m:
            cells = re.split(r"\s{2,}", m.group(3).strip())
            rows[m.group(2)] = cells
    return rows


def test_demo_prints_the_notebooks_numbers_beside_qaffines(tmp_path: Path) -> None:
    r = _cli("-m", "qaffine", "demo", "--out", str(tmp_path), cwd=tmp_path)
    text, result = _demo_text()
    assert r.stdout.split("\nwrote ")[0].rstrip() == text.split("\n(no plot")[0].rstrip()
    nb = _notebook()
    assert "the notebook's ten values" in text
    rows = _column_rows(text)
    assert rows["α, β"][0] == f"{nb['alpha']:.6f}, {nb['beta']:.6f}" == "0.283014, 3.341835"
    assert rows["α_q, β_q"] == [f"{nb['alpha_q']}, {nb['beta_q']}"] * 3
    assert rows["s"][0] == f"{nb['s']:.9f}" == "0.011995376"
    assert rows["z"][0] == str(nb["z"]) == "-24"
    codes = re.search(r"codes, the notebook\s+\[([^\]]*)\]", text)
    assert codes is not None and [int(c) for c in codes.group(1).split()] == nb["codes"].tolist()

    x32 = NOTEBOOK_VALUES.astype(np.float32)
    assert rows["α, β"][1] == rows["α, β"][2] == f"{x32.min():.6f}, {x32.max():.6f}"
    for col, include_zero, label in ((1, True, "default"), (2, False, "include_zero=False")):
        s, z, q, _ = _onnx_oracle(x32, include_zero)
        assert rows["s"][col] == f"{s:.9f}" and rows["z"][col] == str(z)
        m = re.search(rf"codes, (qaffine )?{re.escape(label)}\s+\[([^\]]*)\]", text)
        assert m is not None and [int(c) for c in m.group(2).split()] == q.tolist(), label
    assert rows["z"][1:] == ["0", "-24"] and rows["s"][2] == "0.011995376"

    table = [line for line in text.splitlines() if line.count("│") == 3 and re.match(r"\s*\d", line)]
    assert len(table) == 10
    e_nb = _truncation_oracle(NOTEBOOK_VALUES)[3] - NOTEBOOK_VALUES
    for line, v, qn, en, qd in zip(table, NOTEBOOK_VALUES, nb["codes"], e_nb, _onnx_oracle(x32, True)[2]):
        cells = line.replace("│", " ").split()
        assert cells[:2] == [f"{v:.6f}", str(qn)] and cells[3] == f"{en:+.6f}" and cells[4] == str(qd)
    assert f"max |error| {np.max(np.abs(e_nb)):.6f}" in text and "SQNR" in text
    assert result.notebook is not None and result.notebook.scale == nb["s"]


def test_random_options_and_how_they_combine() -> None:
    text, r = _demo_text(random=True)
    assert "default_rng(0).uniform(0, 5, 10)" in text
    assert np.array_equal(r.values, np.sort(np.random.default_rng(0).uniform(0, 5, 10)))
    _, r = _demo_text(seed=3)  # any random-data option implies random data; the others keep their defaults
    assert np.array_equal(r.values, np.sort(np.random.default_rng(3).uniform(0, 5, 10)))
    text, r = _demo_text(n=25, low=-3, high=2, seed=7)
    x = np.sort(np.random.default_rng(7).uniform(-3, 2, 25)).astype(np.float32)
    assert np.array_equal(r.x, x) and np.array_equal(r.q.values, qa.quantize(x).values)
    assert f"{float(qa.quantize(x).scale):.9f}" in text
    _, r = _demo_text(x=[2.0, 2.0, 2.0])  # constant data: no notebook column, qaffine still works
    assert r.notebook is None and r.q.values.tolist() == [255] * 3


def test_cli_random_options(tmp_path: Path) -> None:
    r = _cli("-m", "qaffine", "demo", "--random", "--out", str(tmp_path), cwd=tmp_path)
    assert "10 random values, np.sort(np.random.default_rng(0).uniform(0, 5, 10))" in r.stdout
    r = _cli("-m", "qaffine", "demo", "--seed", "3", "--high", "2", "--out", str(tmp_path), cwd=tmp_path)
    assert "10 random values, np.sort(np.random.default_rng(3).uniform(0, 2, 10))" in r.stdout
    q = qa.quantize(np.sort(np.random.default_rng(3).uniform(0, 2, 10)).astype(np.float32))
    assert f"qaffine default (s = {float(q.scale):.9f}, z = {q.zero_point})" in r.stdout


def test_cli_help_names_the_defaults() -> None:
    r = subprocess.run([sys.executable, "-m", "qaffine", "demo", "--help"], capture_output=True, text=True,
                       check=True)
    help_text = " ".join(r.stdout.split())
    for needle in ("--random", "notebook's own ten values", "implies --random", "default 10", "--seed"):
        assert needle in help_text, needle


# --------------------------------------------------------------------------------------------- figure
def _offsets(ax: Any, label_start: str) -> np.ndarray:
    for c in ax.collections:
        if c.get_label().startswith(label_start):
            return np.asarray(c.get_offsets())
    raise AssertionError(f"no series {label_start!r} in {[c.get_label() for c in ax.collections]}")


def test_figure_panels_and_their_data() -> None:
    pytest.importorskip("matplotlib")
    _, r = _demo_text()
    fig = r.figure
    assert fig is not None and len(fig.axes) == 4
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["the data x (fp32 values)", "codes q (uint8)", "dequantized x̂ = s·(q − z) and x",
                      "error x̂ − x per value (its own axis)"]
    assert [ax.get_ylabel() for ax in fig.axes] == ["value", "code", "value", "error"]
    assert [ax.get_xlabel() for ax in fig.axes[2:]] == ["index", "index"]
    idx = np.arange(10)
    x32 = NOTEBOOK_VALUES.astype(np.float32)
    _, _, q_nb, hat_nb = _truncation_oracle(NOTEBOOK_VALUES)
    _, _, q_def, hat_def = _onnx_oracle(x32, True)
    _, _, _, hat_tight = _onnx_oracle(x32, False)
    ax_x, ax_q, ax_hat, ax_err = fig.axes

    xy = _offsets(ax_x, "x")
    assert np.array_equal(xy[:, 0], idx) and np.array_equal(xy[:, 1], NOTEBOOK_VALUES)
    assert [t.get_text() for t in ax_x.texts] == [f"{v:.2f}" for v in NOTEBOOK_VALUES]  # as the notebook labels
    assert np.array_equal(_offsets(ax_q, "the notebook")[:, 1], q_nb)
    assert np.array_equal(_offsets(ax_q, "qaffine default")[:, 1], q_def)
    assert sorted(t.get_text() for t in ax_q.texts) == sorted(str(c) for c in [*q_nb, *q_def])
    assert np.array_equal(_offsets(ax_hat, "x")[:, 1], NOTEBOOK_VALUES)
    assert np.array_equal(_offsets(ax_hat, "the notebook")[:, 1], hat_nb)
    assert np.array_equal(_offsets(ax_hat, "qaffine default")[:, 1], hat_def)

    errors = {"the notebook": hat_nb - NOTEBOOK_VALUES,
              "qaffine include_zero=False": hat_tight.astype(np.float64) - x32,
              "qaffine default": hat_def.astype(np.float64) - x32}
    bars = {c.get_label(): c for c in ax_err.containers}
    assert len(bars) == 3
    for start, err in errors.items():
        (label,) = [k for k in bars if k.startswith(start)]
        heights = np.array([b.get_height() for b in bars[label]])
        centres = np.array([b.get_x() + b.get_width() / 2 for b in bars[label]])
        assert np.allclose(heights, err, rtol=0, atol=1e-12), label
        assert np.all(np.abs(centres - idx) < 0.5)
    biggest = max(np.max(np.abs(e)) for e in errors.values())
    lo, hi = ax_err.get_ylim()
    assert lo < -biggest * 0.5 and hi > biggest and hi - lo < 6 * biggest  # the errors fill their axis
    assert np.max(np.abs(errors["the notebook"])) > 1.5 * np.max(np.abs(errors["qaffine default"]))


def test_figure_texts_do_not_overlap() -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    _, r = _demo_text()
    fig = r.figure
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    boxes = []
    for ax in fig.axes:
        texts = [*ax.texts, ax.title, ax.xaxis.label, ax.yaxis.label]
        boxes += [(t.get_text(), t.get_window_extent(renderer)) for t in texts if t.get_text()]
        legend = ax.get_legend()
        if legend is not None:
            boxes.append((f"legend of {ax.get_title()}", legend.get_window_extent(renderer)))
    for i, (a, ba) in enumerate(boxes):
        for b, bb in boxes[i + 1:]:
            assert not ba.overlaps(bb), (a, b)
    fig_box = fig.bbox
    for name, box in boxes:
        assert fig_box.x0 <= box.x0 and box.x1 <= fig_box.x1 and fig_box.y0 <= box.y0 and box.y1 <= fig_box.y1, name


# ------------------------------------------------------------------------------------------ outputs
def _named(stdout: str, cwd: Path) -> Set[Path]:
    """The files a program says it wrote: its lines ``wrote PATH`` (PATH relative to its folder or absolute)."""
    return {(cwd / m).resolve() for m in re.findall(r"^wrote (.+?\.png)", stdout, flags=re.M)}


def test_demo_names_the_file_it_writes(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    r = _cli("-m", "qaffine", "demo", cwd=tmp_path)
    assert _files(tmp_path) == {tmp_path / "quantization.png"}
    assert _named(r.stdout, tmp_path) == {(tmp_path / "quantization.png").resolve()}


def test_walkthrough_names_every_file_it_writes(tmp_path: Path) -> None:
    script = str(ROOT / "examples" / "seed_walkthrough.py")
    r = _cli(script, cwd=tmp_path)
    assert _files(tmp_path) == set() and "No file written" in r.stdout
    assert "s = 0.011995376, z = -24" in r.stdout and "[  0  40  69  92 117 121 143 237 240 254]" in r.stdout
    r = _cli(script, "--out", "pics", cwd=tmp_path)
    written = _files(tmp_path)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert written == set() and "no picture" in r.stdout
    else:
        assert written == {tmp_path / "pics" / "quantization.png"} == _named(r.stdout, tmp_path)


def test_the_readme_picture_is_deterministic(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    script = str(ROOT / "docs" / "make_demo_png.py")
    first = _cli(script, "--out", "a", cwd=tmp_path)
    _cli(script, "--out", "b", cwd=tmp_path)
    assert _files(tmp_path) == {tmp_path / "a" / "quantization.png", tmp_path / "b" / "quantization.png"}
    assert (tmp_path / "a" / "quantization.png").read_bytes() == (tmp_path / "b" / "quantization.png").read_bytes()
    assert _named(first.stdout, tmp_path) == {(tmp_path / "a" / "quantization.png").resolve()}
