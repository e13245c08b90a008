"""Which rows of each kernel call's output a seed needs: the per-series row dependencies.

A seed (:meth:`features.incremental.StreamingEngine.seed`) runs the feature code once over a
symbol's last 30 days of bars to record the *state* of every kernel call, and keeps nothing
else: its features are thrown away (the radar scores the next bar from the states). A state
needs the last rows of its kernel's input (``w`` bars for a window of ``w`` bars, the whole
grid for a long window's hourly aggregates), so the batch output of a kernel call matters only
where it feeds a later kernel call: ``log_return_1bar`` of the close feeds the 7-day variance
(every row), the 1-hour liquidation sum feeds a 24-hour maximum (a day of rows), and most
outputs feed no kernel at all (a feature of the last row, thrown away by the seed). Computing
every output over 43,200 rows was most of a seed's cost.

How the rows are found, with no second definition of the features: the group code runs once
on a tiny *tracing* grid (:class:`_TracingGrid`) whose arrays carry the set of kernel calls
they derive from (:class:`_Traced`). Numpy's elementwise operations keep the rows aligned, so
the set of an elementwise result is the union of its operands' sets. Anything that could move
values between rows (a reduction, a reshape, an index other than whole rows, a numpy function
not known to be elementwise, a plain array whose origin is unknown) marks its result as
depending on *every* earlier call (:data:`_ALL`), so a new feature written in another way costs
time, never correctness. Backwards over the calls, the input rows each call needs (its state's,
and those its own needed output reads) become the output rows needed of the calls its inputs
derive from. The result is cached per bar and set of columns present (the group code's only
branches); the recording grid checks each call against it and records the old way on any
difference.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from features import hour_blocks as hb
from features.rolling import Grid

logger = logging.getLogger("flushrisk.seed_needs")

_ALL = None
"""The taint of an array that may depend on any earlier kernel call (rows not aligned)."""

TRACE_ROWS = 8
"""Rows of the tracing grid: its kernels compute nothing, so any small number will do."""


class Untraceable(Exception):
    """The group code did something the tracer cannot follow: the seed records the old way."""


def _union(taints: Iterable[frozenset[int] | None]) -> frozenset[int] | None:
    out: set[int] = set()
    for t in taints:
        if t is _ALL:
            return _ALL
        out |= t
    return frozenset(out)


def _taint(value: Any) -> frozenset[int] | None:
    """The kernel calls an operand derives from: none for a constant, every earlier one for
    an array of unknown origin (e.g. returned by a compiled function)."""
    if isinstance(value, _Traced):
        return value.taint
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return _ALL
    if isinstance(value, list | tuple):
        return _union(_taint(v) for v in value)
    return frozenset()


def _plain(value: Any, kind: type[np.ndarray] | None = None) -> Any:
    """``value`` with every array of the subclass ``kind`` (the tracer's by default), also
    inside lists and tuples, as a plain ndarray view: what numpy computes on."""
    if isinstance(value, kind or _Traced):
        return value.view(np.ndarray)
    if isinstance(value, list | tuple):
        return type(value)(_plain(v, kind) for v in value)
    return value


def _wrap(result: Any, taint: frozenset[int] | None) -> Any:
    if isinstance(result, tuple):
        return tuple(_wrap(r, taint) for r in result)
    if result is None or isinstance(result, bool | int | float | str):
        return result if taint == frozenset() else _wrap(np.asarray(result), taint)
    out = np.asarray(result).view(_Traced)
    out.taint = taint
    return out


def _mean_of_sequence(args: tuple, kwargs: dict) -> bool:
    """``np.mean([a, b, ...], axis=0)``: row by row, as an elementwise operation."""
    return isinstance(args[0], list | tuple) and kwargs.get("axis", args[1] if len(args) > 1 else None) == 0


_ELEMENTWISE_FUNCTIONS = {np.where, np.round, np.around, np.clip, np.copy}


def _elementwise(func: Any, args: tuple, kwargs: dict) -> bool:
    """Whether a numpy function keeps the rows aligned (row i of the result from rows i)."""
    if func is np.where:
        return len(args) == 3
    return func in _ELEMENTWISE_FUNCTIONS or (func is np.mean and _mean_of_sequence(args, kwargs))


def _across_rows(taint: frozenset[int] | None) -> frozenset[int] | None:
    """The taint of a result that mixes rows (a reduction, a scan): every earlier call, unless
    it derives from no call at all (e.g. whether a column has values)."""
    return taint if taint == frozenset() else _ALL


class _Traced(np.ndarray):
    """An array of the tracing grid with the kernel calls it derives from (``taint``)."""

    taint: frozenset[int] | None

    def __array_finalize__(self, obj: Any) -> None:
        self.taint = getattr(obj, "taint", frozenset())

    def __bool__(self) -> bool:
        if self.taint != frozenset():  # a branch on a kernel's output: not followed
            raise Untraceable("the feature code branches on the value of a kernel's output")
        return bool(self.view(np.ndarray))

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        taint = _union(_taint(v) for v in inputs + (out or ()))
        if method != "__call__":  # a reduction or an accumulation moves values between rows
            taint = _across_rows(taint)
        result = getattr(ufunc, method)(*_plain(inputs), **({"out": _plain(out)} if out else {}), **kwargs)
        if out:
            for o in out:
                if isinstance(o, _Traced):
                    o.taint = taint
            return out[0] if len(out) == 1 else out
        return _wrap(result, taint)

    def __array_function__(self, func, types, args, kwargs):
        taint = _union([_taint(args), _taint(tuple(kwargs.values()))])
        if not _elementwise(func, args, kwargs):
            taint = _across_rows(taint)
        return _wrap(func(*_plain(args), **_plain_kwargs(kwargs)), taint)

    def __getitem__(self, index):
        result = super().__getitem__(index)
        head = index[0] if isinstance(index, tuple) and index else index
        whole_rows = isinstance(head, slice) and head == slice(None)
        return _wrap(result.view(np.ndarray) if isinstance(result, np.ndarray) else result,
                     self.taint if whole_rows else _across_rows(self.taint))

    def __setitem__(self, index, value) -> None:
        super().__setitem__(index, _plain(value))
        self.taint = _across_rows(_union([self.taint, _taint(value)]))

    def _untraceable(self, *args, **kwargs):
        raise Untraceable("the feature code reshapes, sorts, scans or leaves numpy")

    # methods that move values between rows or out of numpy: the tracer gives up
    reshape = ravel = flatten = transpose = swapaxes = cumsum = cumprod = _untraceable
    sort = argsort = take = repeat = tolist = item = tobytes = __iter__ = _untraceable

    @property
    def T(self):
        self._untraceable()


class Unused(np.ndarray):
    """The output of a kernel call that no later call reads, in a seed (its features are
    thrown away): NaN, and so is whatever numpy computes from it elementwise, without computing
    it (an array of NaN of the result's shape, shared). What a kernel's input derives from
    such an output the trace has said no kernel reads; the recording grid checks that none
    does all the same (an Unused input means the trace was wrong: it records the old way)."""

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        if method == "__call__" and out is None:
            return _unused_like(ufunc, inputs, kwargs)
        return getattr(ufunc, method)(*_views(inputs), **({"out": _views(out)} if out else {}), **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if _elementwise(func, args, kwargs) and func is not np.mean:
            return _unused_like(func, args, kwargs)
        return func(*_views(args), **{k: _views(v) for k, v in kwargs.items()})

    def astype(self, dtype, *args, **kwargs):
        return unused(self.shape, np.dtype(dtype))


_UNUSED: dict[tuple, Unused] = {}


def unused(shape: tuple[int, ...], dtype: np.dtype) -> Unused:
    """The shared read-only :class:`Unused` array of this shape: NaN (0 for integers, False)."""
    key = (shape, dtype.str)
    got = _UNUSED.get(key)
    if got is None:
        fill = np.nan if dtype.kind in "fc" else 0
        got = np.full(shape, fill, dtype).view(Unused)
        got.flags.writeable = False
        if len(_UNUSED) > 32:  # grids of many lengths: keep a few megabytes at most
            _UNUSED.clear()
            _RESULTS.clear()
        _UNUSED[key] = got
    return got


def _views(value: Any) -> Any:
    return _plain(value, Unused)


_RESULTS: dict[tuple, Any] = {}


def _unused_like(func: Any, args: tuple, kwargs: dict) -> Any:
    """What ``func(*args)`` gives, as shared NaN: its shape from the arrays' shapes, its type
    from computing it on their last rows (once per function, argument types and shapes)."""
    key = (func, *[(a.dtype.char, a.shape) if isinstance(a, np.ndarray) else type(a) for a in args])
    got = _RESULTS.get(key) if not kwargs else None
    if got is None:
        arrays = [a for a in args if isinstance(a, np.ndarray) and a.ndim]
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        last = tuple(a.view(np.ndarray)[-1:] if isinstance(a, np.ndarray) and a.ndim else a for a in args)
        sample = func(*last, **kwargs)
        if isinstance(sample, tuple):
            got = tuple(unused(shape, np.asarray(x).dtype) for x in sample)
        else:
            got = unused(shape, np.asarray(sample).dtype)
        if not kwargs:
            _RESULTS[key] = got
    return got


def _plain_kwargs(kwargs: dict) -> dict:
    return {k: _plain(v) for k, v in kwargs.items()}


class _TracingGrid(Grid):
    """The group code's kernel calls, with the calls each one's inputs derive from."""

    def _start(self, input_rows: dict[type, Any]) -> None:
        self.calls: list[tuple[tuple, list[frozenset[int] | None], Any]] = []
        self.input_rows = input_rows

    def _out(self, signature: tuple, inputs: list, rows, *shapes: tuple[tuple, type]):
        k = len(self.calls)
        self.calls.append((signature, [_taint(x) for x in inputs], rows))
        outs = tuple(_wrap(np.zeros(shape, dtype), frozenset({k})) for shape, dtype in shapes)
        return outs if len(outs) > 1 else outs[0]

    def _sums(self, x, w):
        return self._out(("sums", w), [x], _blocks(w), ((self.n,), float), ((self.n,), np.int64))

    def _moments(self, x, w):
        return self._out(("moments", w), [x], _blocks(w), *[((self.n,), float)] * 3)

    def _extreme(self, x, w, sign):
        return self._out(("extreme", w, sign), [x], lambda r, n: max(r + w - 1, w), ((self.n,), float))

    def _corr(self, x, y, w, min_count):
        return self._out(("corr", w, min_count), [x, y], _blocks(w), ((self.n,), float))

    def _lag(self, x, k, tol):
        return self._out(("lag", k, tol), [x], lambda r, n: max(r + k + tol, k + tol + 1), ((self.n,), float))

    def _positive_run(self, x, cap):
        return self._out(("run", cap), [x], _whole, ((self.n,), float))

    def _previous_day_min(self, x):
        return self._out(("daymin",), [x], _whole, ((self.n,), float))

    def _hour_stat(self, x, kind, sign, hours):
        return self._out(("hours", kind, sign, hours), [x], _whole, ((self.n, hb.WIDTH[kind]), float))

    def bar_numbers(self):
        # a call of its own: the calendar's features need them, and (so far) no kernel does
        return self._out(("bar numbers",), [], lambda r, n: 0, ((self.n,), np.int64))

    def stateful(self, kernel, *args):
        state_class = self.input_rows.get(kernel)
        if state_class is None:
            raise Untraceable("a stateful kernel without a streaming version")
        series, rows = state_class.input_series(args)
        shape = np.shape(kernel(*_plain(args)))
        return self._out(("stateful", kernel), list(args[:series]), rows, (shape, float))


def _blocks(w: int):
    """A block-decomposed window: the state keeps the previous block and the current one."""
    return lambda r, n: max(r + w - 1, 2 * w)


def _whole(r: int, n: int) -> int:
    return n


def _trace(bar: pd.Timedelta, first_bar: int, present: tuple[str, ...], states: dict) -> list:
    from features.pipeline import _compute  # the pipeline imports the groups, they import rolling

    columns = {name: _wrap(np.ones(TRACE_ROWS), frozenset()) for name in present}
    grid = _TracingGrid(
        bar=bar, first_bar=first_bar, n=TRACE_ROWS, positions=np.arange(TRACE_ROWS), columns=columns
    )
    grid._start(states)
    _compute(grid, grid.positions[-1:])
    return grid.calls


@functools.lru_cache(maxsize=64)
def _calls(bar: pd.Timedelta, present: tuple[str, ...], states_key: tuple) -> tuple | None:
    states = dict(states_key)
    try:
        # the bar number only places block boundaries, which no call signature depends on
        return tuple(_trace(bar, 0, present, states))
    except Exception as err:  # noqa: BLE001 - a trace that fails costs time, never a seed
        logger.info("seeds compute every kernel output on every row: %s", err)
        return None


def output_rows(
    bar: pd.Timedelta, present: Iterable[str], n: int, states: dict
) -> tuple[tuple[tuple, int], ...] | None:
    """Per kernel call of the feature code on a grid of ``n`` rows with these columns present:
    (its signature, the trailing rows of its output a seed needs, 0 for none). None when the
    tracer cannot follow the feature code (then every output is needed).

    ``states``: the streaming state classes of the stateful kernels, each with
    ``input_series(args) -> (how many leading args are series, rows(r, n) needed of them)``.
    """
    return _output_rows(bar, tuple(sorted(present)), n, tuple(states.items()))


@functools.lru_cache(maxsize=256)
def _output_rows(bar: pd.Timedelta, present: tuple[str, ...], n: int, states_key: tuple) -> tuple | None:
    calls = _calls(bar, present, states_key)
    if calls is None:
        return None
    need = [0] * len(calls)
    for j in range(len(calls) - 1, -1, -1):
        _, taints, rows = calls[j]
        want = min(rows(need[j], n), n)
        for taint in taints:
            for k in range(j) if taint is _ALL else taint:
                need[k] = max(need[k], want)
    return tuple((signature, r) for (signature, _, _), r in zip(calls, need, strict=True))


__all__ = ["Untraceable", "Unused", "output_rows", "unused"]
