"""The documentation runs: docstring examples (doctest) and the seed walkthrough script."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("module", ["qaffine", "qaffine._api", "qaffine._params", "qaffine._io", "qaffine._report",
                                    "qaffine._demo", "qaffine._cli", "qaffine._mode", "qaffine.__main__",
                                    "qaffine._calibrate"])
def test_docstring_examples_run(module: str) -> None:
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{module} has no examples"
    assert result.failed == 0


def test_readme_shows_the_walkthrough_output_in_full() -> None:
    """README's "step by step" section prints what examples/seed_walkthrough.py prints, every line of it."""
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "seed_walkthrough.py")], capture_output=True,
                       text=True, check=True)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("`python examples/seed_walkthrough.py` prints", 1)[1]
    block = section.split("```\n", 1)[1].split("\n```", 1)[0]
    assert block == r.stdout.rstrip("\n")


def test_seed_walkthrough_reproduces_the_notebook(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "seed_walkthrough.py"), "--out", str(tmp_path)],
        capture_output=True, text=True, check=True,
    )
    # The notebook's own numbers, computed by its formulas inside the script.
    assert "s = 0.011995376, z = -24" in r.stdout
    assert "[  0  40  69  92 117 121 143 237 240 254]" in r.stdout
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "no plot" in r.stdout
    else:
        png = tmp_path / "quantization.png"
        assert png.stat().st_size > 10_000
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_one_line_quantize_command_prints_the_codes() -> None:
    # `python -c "import qaffine as qa, numpy as np; print(qa.quantize(np.float32([0.283, 3.34])).values)"`
    r = subprocess.run(
        [sys.executable, "-c",
         "import qaffine as qa, numpy as np; print(qa.quantize(np.float32([0.283, 3.34])).values)"],
        capture_output=True, text=True, check=True,
    )
    x = np.float32([0.283, 3.34])
    s = np.float32(x.max()) / np.float32(255)
    expected = np.clip(np.rint(x / s), 0, 255).astype(np.uint8)  # lo = 0 -> zero point 0
    assert r.stdout.strip() == str(expected)


def test_readme_examples_run() -> None:
    """Every `>>>` example in README.md gives the output shown there."""
    import qaffine as qa

    # A code fence ends an example's expected output.
    text = (ROOT / "README.md").read_text(encoding="utf-8").replace("\n```", "\n\n```")
    parser = doctest.DocTestParser()
    test = parser.get_doctest(text, {"np": np, "qa": qa}, "README.md", str(ROOT / "README.md"), 0)
    assert test.examples, "README has no >>> examples"
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0
