"""One mode, one rule: every entry point validates the mode through ``qaffine._mode.Mode``.

The oracle for every entry point is the Mode validator itself (``Mode(**{option: value})``): a value it
accepts works everywhere, a value it refuses fails everywhere with the same exception type — except where
an entry point's contract says otherwise, in which case the mapping is written out here:

* a file (``.npz`` header, Zarr attributes) that holds a refused value is a damaged file: ``ValueError``;
* command-line arguments are strings: the CLI parses integers with ``int(text)`` (argparse) and then
  validates ``int(text)`` as Mode does; text that is not an integer literal is an option error (status 2).

Also: the kernels are reached once per call, NaN input included, and a static per-channel call with
``choose_qparams(..., axis=-1)`` parameters does not rebuild or re-validate them.
"""

from __future__ import annotations

import contextlib
import io
import pickle
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import pytest

import qaffine as qa
import qaffine._api
import qaffine._kernels
import qaffine._params
from qaffine._mode import Mode, code_range

X = np.linspace(-1.0, 3.0, 48, dtype=np.float32).reshape(4, 12)

# option -> values to try: valid ones of every integer / flag type, and the refused lookalikes.
INT_VALUES: Dict[str, List[Any]] = {
    "bits": [8, np.int64(8), np.uint8(8), np.int32(4), 4, 8.0, np.float32(8), np.float64(8.0), True, np.True_,
             "8", 8.5, 0, 9, -1, [8], None],
    "block_size": [3, np.int64(3), np.int16(6), 3.0, np.float32(3), True, "3", 3.5, 0, -2, None],
    "axis": [1, np.int64(1), np.int8(0), -1, 1.0, np.float32(1), True, False, "1", 0.5, None],
}
QRANGE_VALUES: List[Any] = [0, np.int64(0), np.uint8(3), 3, 0.0, np.float32(0), True, "0", 0.5, None]
FLAG_VALUES: List[Any] = [True, False, np.True_, np.False_, 1, 0, 1.0, "True", None]
FLAGS = ["signed", "symmetric", "include_zero"]


def outcome(call: Callable[[], Any]) -> Any:
    """'ok', or the type of the exception raised."""
    try:
        call()
    except Exception as e:  # noqa: BLE001 - the type is the answer
        return type(e)
    return "ok"


def oracle(**options: Any) -> Any:
    return outcome(lambda: Mode(**options))


def _ids(values: List[Any]) -> List[str]:
    return [f"{type(v).__name__}({v!r})" for v in values]


def _cases() -> List[Tuple[str, Any]]:
    cases = [(opt, v) for opt, values in INT_VALUES.items() for v in values]
    cases += [(opt, v) for opt in ("qmin", "qmax") for v in QRANGE_VALUES]
    cases += [(opt, v) for opt in FLAGS for v in FLAG_VALUES]
    return cases


CASES = _cases()
CASE_IDS = [f"{opt}={i}" for (opt, _), i in zip(CASES, _ids([v for _, v in CASES]))]


def _select(keep: Callable[[str, Any], bool]) -> Dict[str, Any]:
    """parametrize arguments for the cases kept (chosen by position: 1 == 1.0 == True would merge them)."""
    kept = [k for k, (opt, v) in enumerate(CASES) if keep(opt, v)]
    return {"argvalues": [CASES[k] for k in kept], "ids": [CASE_IDS[k] for k in kept]}


NOT_RANGE = _select(lambda opt, v: opt not in ("qmin", "qmax"))


# ------------------------------------------------------------------------------------- Python entry points
@pytest.mark.parametrize("option,value", CASES, ids=CASE_IDS)
def test_the_same_answer_from_quantize_choose_qparams_and_qparams(option: str, value: Any) -> None:
    expected = oracle(**{option: value})
    if option not in ("qmin", "qmax"):  # quantize / choose_qparams take no code range
        got = outcome(lambda: qa.quantize(X, **{option: value}))
        assert got == expected, f"qa.quantize(x, {option}={value!r}): {got}, Mode says {expected}"
        if option == "axis" and value is not None:  # per channel: 1-D bounds, the axis kept as given
            lo, hi = qa.minmax(X, axis=1)
            got = outcome(lambda: qa.choose_qparams(lo, hi, axis=value))
        elif option == "block_size" and value is not None:
            lo, hi = qa.minmax(X, block_size=3)
            got = outcome(lambda: qa.choose_qparams(lo, hi, block_size=value))
        else:
            got = outcome(lambda: qa.choose_qparams(np.float32(-1), np.float32(1), **{option: value}))
        assert got == expected, f"qa.choose_qparams(..., {option}={value!r}): {got}, Mode says {expected}"
    if option == "axis" or option == "block_size":
        mode = Mode(**{option: value}) if expected == "ok" else None
        shape = mode.resolved(X.shape).params_shape(X.shape) if mode is not None else (12,)
    else:
        shape = ()
    args: Tuple[Any, Any] = (np.full(shape, 0.1, np.float32), np.zeros(shape, np.int32)) if shape else (0.1, 0)
    got = outcome(lambda: qa.QParams(*args, **{option: value}))
    assert got == expected, f"qa.QParams(..., {option}={value!r}): {got}, Mode says {expected}"


@pytest.mark.parametrize("option,value", **NOT_RANGE)
def test_keywords_given_with_params_follow_the_same_rule(option: str, value: Any) -> None:
    """With params, a keyword is validated as Mode validates it, then compared (agreeing: accepted)."""
    expected = oracle(**{option: value})
    p = qa.quantize(X, **{option: value}).params if expected == "ok" else qa.quantize(X).params
    got = outcome(lambda: qa.quantize(X, p, **{option: value}))
    assert got == expected, f"qa.quantize(x, params, {option}={value!r}): {got}, Mode says {expected}"


def test_mode_fields_hold_plain_python_values() -> None:
    m = Mode(np.int64(1), np.int16(4), np.uint8(4), np.True_, np.False_, np.True_, np.int8(-3), np.int32(5))
    assert m == (1, 4, 4, True, False, True, -3, 5, False)
    assert all(type(v) in (int, bool) for v in m)
    assert (m.dtype, m.granularity) == (np.dtype(np.int8), "block")
    assert Mode() == Mode(None, None, 8, False, False, True, 0, 255, False)
    assert (Mode(bits=3, signed=True).qmin, Mode(bits=3, signed=True).qmax) == code_range(3, True) == (-4, 3)


# ------------------------------------------------------------------------------------------- the CLI
def _cli_oracle(option: str, text: str) -> Any:
    """What the CLI should answer for --option TEXT: 'ok' or 'error' (status 2)."""
    try:
        number = int(text)
    except ValueError:
        return "error"
    return "ok" if oracle(**{option: number}) == "ok" else "error"


CLI_CASES = [(opt, v) for opt, values in INT_VALUES.items() for v in values if v is not None]


@pytest.mark.parametrize("option,value", CLI_CASES, ids=[f"{o}={i}" for (o, _), i in
                                                        zip(CLI_CASES, _ids([v for _, v in CLI_CASES]))])
def test_the_cli_gives_the_answer_of_mode_for_the_text_of_the_value(tmp_path: Path, option: str, value: Any) -> None:
    from qaffine.__main__ import main

    text = value if isinstance(value, str) else str(value)
    np.save(tmp_path / "x.npy", X)
    argv = ["quantize", str(tmp_path / "x.npy"), "-o", str(tmp_path / "x.npz"), "-q",
            "--" + option.replace("_", "-"), text]
    with contextlib.redirect_stderr(io.StringIO()) as err, contextlib.redirect_stdout(io.StringIO()):
        try:
            status = main(argv)
        except SystemExit as e:  # argparse refuses the text
            status = e.code
    expected = _cli_oracle(option, text)
    assert ("ok" if status == 0 else "error") == expected, f"--{option} {text}: status {status}, {err.getvalue()}"
    if expected == "ok":
        mode = Mode(**{option: int(text)}).resolved(X.shape)
        assert qa.load(tmp_path / "x.npz").params._mode == mode


# ------------------------------------------------------------------------------------------- .npz headers
# None and lists have no .npz scalar; axis -1 and block_size 0 are how the format writes "absent".
NPZ_CASES = _select(lambda opt, v: v is not None and not isinstance(v, list)
                    and not (opt == "axis" and type(v) is int and v == -1)
                    and not (opt == "block_size" and type(v) is int and v == 0))


@pytest.mark.parametrize("option,value", **NPZ_CASES)
def test_a_npz_header_gives_the_answer_of_mode_for_its_values(tmp_path: Path, option: str, value: Any) -> None:
    base = {"axis": 1, "block_size": 3} if option in ("axis", "block_size") else {}
    qa.save(tmp_path / "q.npz", qa.quantize(X, **base))
    with np.load(tmp_path / "q.npz") as f:
        entries = {k: f[k] for k in f.files}
    stored = np.asarray(value)
    entries[option] = stored
    fields = {k: entries[k][()] for k in ("bits", "qmin", "qmax", "signed", "symmetric", "include_zero")}
    fields["axis"] = None if option != "axis" and entries["axis"][()] == -1 else entries["axis"][()]
    fields["block_size"] = None if option != "block_size" and entries["block_size"][()] == 0 \
        else entries["block_size"][()]
    expected = oracle(**fields)
    if expected == "ok":  # the codes and parameters of another valid mode
        mode = Mode(**fields).resolved(X.shape)
        ref = qa.quantize(X, axis=mode.axis, block_size=mode.block_size, bits=mode.bits, signed=mode.signed,
                          symmetric=mode.symmetric, include_zero=mode.include_zero)
        entries.update(codes=ref.values, scale=np.asarray(ref.scale, dtype=np.float32),
                       zero_point=np.asarray(ref.zero_point, dtype=np.int32))
        if (mode.qmin, mode.qmax) != (ref.params.qmin, ref.params.qmax):  # a narrower stored range
            entries.update(codes=np.clip(ref.values, mode.qmin, mode.qmax))
    np.savez(tmp_path / "bad.npz", **entries)
    got = outcome(lambda: qa.load(tmp_path / "bad.npz"))
    assert got == ("ok" if expected == "ok" else ValueError), f"{option} stored as {stored!r}: {got}, Mode: {expected}"


# ------------------------------------------------------------------------------------------- qaffine.dask
@pytest.mark.parametrize("option,value", **NOT_RANGE)
def test_dask_quantize_gives_the_answer_of_mode(option: str, value: Any) -> None:
    dask = pytest.importorskip("dask")
    import dask.array as da

    import qaffine.dask as qd

    expected = oracle(**{option: value})
    with dask.config.set(scheduler="sync"):
        got = outcome(lambda: qd.quantize(da.from_array(X, chunks=(2, 6)), **{option: value}).compute())
    assert got == expected, f"qd.quantize(a, {option}={value!r}): {got}, Mode says {expected}"


@pytest.mark.parametrize("option,value", **_select(lambda opt, v: type(v) in (int, float, bool, str)))
def test_zarr_attributes_give_the_answer_of_mode(tmp_path: Path, option: str, value: Any) -> None:
    dask = pytest.importorskip("dask")
    pytest.importorskip("zarr")
    import dask.array as da

    import qaffine.dask as qd

    base = {"axis": 1, "block_size": 3} if option in ("axis", "block_size") else {}
    with dask.config.set(scheduler="sync"):
        qd.to_zarr(qd.quantize(da.from_array(X, chunks=(2, 6)), **base), str(tmp_path / "g"))
        import zarr

        group = zarr.open_group(str(tmp_path / "g"), mode="r+")
        attrs = dict(group.attrs["qaffine"])
        written = Mode(**{k: attrs[k] for k in Mode._fields[:8]})
        attrs[option] = value
        group.attrs["qaffine"] = attrs
        fields = {k: attrs[k] for k in Mode._fields[:8]}
        expected = oracle(**fields)
        if expected == "ok" and Mode(**fields).resolved(X.shape) != written:
            return  # another valid mode, which the stored arrays were not written for: not this test's question
        got = outcome(lambda: qd.from_zarr(str(tmp_path / "g")))
    assert got == ("ok" if expected == "ok" else ValueError), f"{option}={value!r} in Zarr: {got}, Mode: {expected}"


# ------------------------------------------------------------------------------------------- pickles
def test_mode_is_frozen_hashable_and_pickles_through_validation() -> None:
    m = Mode(axis=-1, block_size=4, bits=4, signed=True)
    assert pickle.loads(pickle.dumps(m)) == m and hash(pickle.loads(pickle.dumps(m))) == hash(m)
    with pytest.raises(AttributeError):
        m.bits = 3  # type: ignore[misc]
    assert len({m, Mode(axis=-1, block_size=4, bits=4, signed=True), Mode()}) == 2


class _OldPickle:
    """Pickles as QParams did before they held a Mode: a call of qaffine._params._rebuild by name."""

    def __init__(self, *args: Any) -> None:
        self.args = args

    def __reduce__(self) -> Tuple[Any, ...]:
        return (qaffine._params._rebuild, self.args)


def test_old_qparams_pickles_still_load() -> None:
    s, z = np.float32([0.5, 0.25]), np.int32([3, -1])
    old = pickle.dumps(_OldPickle(s, z, -8, 7, 0, None, 4, True, True, True))
    assert b"_rebuild" in old
    assert pickle.loads(old) == qa.QParams(s, z, -8, 7, axis=0, bits=4, signed=True, symmetric=True)
    per_tensor = pickle.dumps(_OldPickle(np.float32(0.1), 128, 0, 255, None, None, 8, False, False, True))
    assert pickle.loads(per_tensor) == qa.QParams(np.float32(0.1), 128)


def test_new_qparams_pickles_go_through_the_mode() -> None:
    p = qa.quantize(X, block_size=5, bits=3).params
    data = pickle.dumps(p)
    assert b"_restore" in data and b"Mode" in data
    back = pickle.loads(data)
    assert back == p and back._mode == p._mode


# ------------------------------------------------------------------------------------------- one kernel call
_COMPUTE = {"minmax", "choose_qparams", "choose_qparams_array", "quantize", "quantize_dynamic", "dequantize",
            "minmax_groups", "quantize_groups", "quantize_dynamic_groups", "dequantize_groups",
            "quantize_packed", "quantize_dynamic_packed", "quantize_groups_packed", "quantize_dynamic_groups_packed",
            "dequantize_packed", "dequantize_groups_packed"}


class _Counting:
    """A stand-in for the _core module that records the compute functions called."""

    def __init__(self, core: Any, calls: List[str]) -> None:
        self._core, self._calls = core, calls

    def __getattr__(self, name: str) -> Any:
        f = getattr(self._core, name)
        if name not in _COMPUTE:
            return f

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._calls.append(name)
            return f(*args, **kwargs)

        return counted


@pytest.fixture
def kernel_calls(monkeypatch: pytest.MonkeyPatch) -> List[str]:
    calls: List[str] = []
    for module in (qaffine._kernels, qaffine._api):
        monkeypatch.setattr(module, "_core", _Counting(module._core, calls))
    return calls


BAD_CASES = [
    ("dynamic", {}), ("dynamic", {"bits": 4, "signed": True, "symmetric": True}), ("dynamic", {"axis": 0}),
    ("dynamic", {"axis": 1}), ("dynamic", {"block_size": 5}), ("dynamic", {"axis": 0, "block_size": 2}),
    ("static", {}), ("static", {"axis": 1}), ("static", {"block_size": 5}),
]


@pytest.mark.parametrize("kind,kw", BAD_CASES, ids=[f"{k}-{kw}" for k, kw in BAD_CASES])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_bad_values_reach_the_kernels_once(kernel_calls: List[str], kind: str, kw: Dict[str, Any], bad: float) -> None:
    x = X.copy()
    x[2, 7] = bad
    params = qa.quantize(X, **kw).params if kind == "static" else None
    kernel_calls.clear()
    if kind == "static" and not np.isnan(bad):  # static quantization saturates infinities
        qa.quantize(x, params)
    else:
        what = "NaN" if np.isnan(bad) else "an infinite value"
        with pytest.raises(ValueError, match=rf"x contains {what} at index \(2, 7\)"):
            qa.quantize(x, params, **({} if params is not None else kw))
    assert len(kernel_calls) == 1, kernel_calls


def test_nan_with_an_infinity_in_another_block_is_reported_as_nan(kernel_calls: List[str]) -> None:
    x = X.copy()
    x[0, 1], x[3, 10] = np.inf, np.nan
    for kw in ({}, {"block_size": 3}, {"axis": 0}):
        kernel_calls.clear()
        with pytest.raises(ValueError, match=r"x contains NaN at index \(3, 10\)"):
            qa.quantize(x, **kw)
        assert len(kernel_calls) == 1, (kw, kernel_calls)


def test_good_calls_reach_the_kernels_once(kernel_calls: List[str]) -> None:
    for kw in ({}, {"axis": 0}, {"block_size": 5, "bits": 4, "packed": True}):
        kernel_calls.clear()
        q = qa.quantize(X, **kw)
        assert len(kernel_calls) == 1, (kw, kernel_calls)
        kernel_calls.clear()
        q.dequantize()
        assert len(kernel_calls) == 1, (kw, kernel_calls)


# ------------------------------------------------------------------------------------------- no rebuilding
def test_static_per_channel_with_choose_qparams_params_does_not_rebuild_them(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.random.default_rng(1).standard_normal((16, 32)).astype(np.float32)
    p = qa.choose_qparams(*qa.minmax(x, axis=-1), axis=-1)
    built: List[str] = []
    real_init, real_validate, real_new = qa.QParams.__init__, qa.QParams._validate, Mode.__new__

    def init(self: Any, *a: Any, **k: Any) -> None:
        built.append("QParams.__init__")
        real_init(self, *a, **k)

    def validate(self: Any, *a: Any, **k: Any) -> None:
        built.append("QParams._validate")
        real_validate(self, *a, **k)

    def new(cls: Any, *a: Any, **k: Any) -> Any:
        built.append("Mode.__new__")
        return real_new(cls, *a, **k)

    monkeypatch.setattr(qa.QParams, "__init__", init)
    monkeypatch.setattr(qa.QParams, "_validate", validate)
    monkeypatch.setattr(Mode, "__new__", new)
    q = qa.quantize(x, p)
    assert built == []
    assert q.params.axis == 1 and p.axis == -1  # the axis resolved against x; the caller's params unchanged
    assert q.params.scale is p.scale and q.params.zero_point is p.zero_point  # the same arrays, not copies
    ref = qa.quantize(x, axis=1)
    assert np.array_equal(q.values, ref.values) and q.params == ref.params
