"""One-row LightGBM predictions through the C API's single-row fast path.

``Booster.predict`` on one row spends most of its ~27 µs in Python: argument checks, a new
prediction config, array conversion and result reshaping. LightGBM's C API has a path made for
serving one row at a time: ``LGBM_BoosterPredictForMatSingleRowFastInit`` parses the
configuration once and returns a handle; ``LGBM_BoosterPredictForMatSingleRowFast`` then scores
one dense float64 row with it (~10 µs for the bundled model, measured in benchmarks/api_profile.py).

:class:`SingleRowPredictor` wraps that pair for one booster and one prediction type (raw score,
leaf indices or SHAP contributions). It gives exactly what ``Booster.predict`` gives on the same
row (tests/unit/test_lgbm_fast.py compares them bit for bit): both run the same C++ predictor.

Threads: LightGBM keeps one single-row predictor per booster and prediction type and serialises
calls to it with a mutex; the input and output buffers here are guarded by a lock as well.
The foreign function is declared with explicit argument types (a pointer passed without them
is truncated to a C ``int`` and crashes the process).
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

PredictKind = Literal["raw", "leaf", "contrib"]

#: LightGBM C API constants (c_api.h): prediction types and the float64 data type
_PREDICT_TYPE: dict[str, int] = {"raw": 1, "leaf": 2, "contrib": 3}
_DTYPE_FLOAT64 = 1

_INIT = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_void_p,  # BoosterHandle
    ctypes.c_int,  # predict_type
    ctypes.c_int,  # start_iteration
    ctypes.c_int,  # num_iteration
    ctypes.c_int,  # data_type
    ctypes.c_int32,  # ncol
    ctypes.c_char_p,  # parameter
    ctypes.c_void_p,  # FastConfigHandle* out
)
_PREDICT = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_void_p,  # FastConfigHandle
    ctypes.c_void_p,  # const void* data
    ctypes.c_void_p,  # int64_t* out_len
    ctypes.c_void_p,  # double* out_result
)
_FREE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)


def _lib() -> Any:
    from lightgbm.basic import _LIB

    return _LIB


def _params_text(params: Mapping[str, Any]) -> str:
    from lightgbm.basic import _param_dict_to_str

    return str(_param_dict_to_str(dict(params)))


class SingleRowPredictor:
    """``booster.predict(row, raw_score | pred_leaf | pred_contrib, **params)`` for one row."""

    def __init__(self, booster: Any, kind: PredictKind, params: Mapping[str, Any]) -> None:
        from lightgbm.basic import LightGBMError

        lib = _lib()
        self._error = LightGBMError
        self._last_error = lib.LGBM_GetLastError
        self._predict = _PREDICT(("LGBM_BoosterPredictForMatSingleRowFast", lib))
        self._free = _FREE(("LGBM_FastConfigFree", lib))
        self.kind: PredictKind = kind
        self.params = dict(params)
        self.ncol = int(booster.num_feature())
        # Booster.predict's default iteration range: the best iteration when one was recorded
        best = int(getattr(booster, "best_iteration", -1) or -1)
        num_iteration = best if best > 0 else -1
        # the output size from LightGBM itself (the C call writes that many doubles)
        width = ctypes.c_int64(0)
        self._check(
            lib.LGBM_BoosterCalcNumPredict(
                booster._handle,
                ctypes.c_int(1),
                ctypes.c_int(_PREDICT_TYPE[kind]),
                ctypes.c_int(0),
                ctypes.c_int(num_iteration),
                ctypes.byref(width),
            )
        )
        self._in = np.zeros(self.ncol, dtype=np.float64)
        self._out = np.zeros(width.value, dtype=np.float64)
        self._len = ctypes.c_int64(0)
        self._in_ptr = self._in.ctypes.data
        self._out_ptr = self._out.ctypes.data
        self._len_ptr = ctypes.addressof(self._len)
        self._lock = threading.Lock()
        self._booster = booster  # the handle below is only valid while the booster lives
        handle = ctypes.c_void_p()
        self._check(
            _INIT(("LGBM_BoosterPredictForMatSingleRowFastInit", lib))(
                booster._handle,
                _PREDICT_TYPE[kind],
                0,
                num_iteration,
                _DTYPE_FLOAT64,
                self.ncol,
                _params_text(params).encode(),
                ctypes.addressof(handle),
            )
        )
        self._handle: int | None = handle.value

    def _check(self, rc: int) -> None:
        if rc != 0:
            raise self._error(self._last_error().decode("utf-8"))

    def predict_row(self, row: np.ndarray) -> np.ndarray:
        """The prediction for one row of ``ncol`` values, as a new 1-d float64 array."""
        if row.size != self.ncol:
            raise ValueError(f"expected {self.ncol} features, got {row.size}")
        with self._lock:
            self._in[:] = row.reshape(-1)
            self._check(self._predict(self._handle, self._in_ptr, self._len_ptr, self._out_ptr))
            return self._out[: self._len.value].copy()

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            self._free(handle)

    def __del__(self) -> None:
        # at interpreter shutdown the library may already be gone
        with contextlib.suppress(Exception):
            self.close()
