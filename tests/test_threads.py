"""shapes_viz.engine.threads: numpy's OpenBLAS threads are set at run time, and the app uses one."""

from __future__ import annotations

import numpy as np
import pytest

from shapes_viz.engine.threads import blas_threads, limit_blas_threads
from tests.helpers.apptest import app_env, shared_model  # noqa: F401 - fixtures


def test_the_thread_count_is_set_and_read_back():
    if blas_threads() is None:
        pytest.skip("numpy's BLAS here is not OpenBLAS")
    before = blas_threads()
    try:
        assert limit_blas_threads(1) == 1 == blas_threads()
        a = np.random.default_rng(0).random((300, 300))
        np.testing.assert_allclose(a @ a, np.einsum("ij,jk->ik", a, a))  # products still right on one thread
        assert limit_blas_threads(2) == 2
    finally:
        limit_blas_threads(before)
    with pytest.raises(ValueError, match="Received: threads=0"):
        limit_blas_threads(0)


def test_loading_the_apps_model_limits_blas_to_one_thread(app_env):
    from shapes_viz.config import BLAS_THREADS
    from tests.helpers.apptest import new_app

    if blas_threads() is None:
        pytest.skip("numpy's BLAS here is not OpenBLAS")
    before = blas_threads()
    limit_blas_threads(2)
    try:
        from shapes_viz.ui import resources

        resources.load_engine.clear()
        new_app().run()
        assert blas_threads() == BLAS_THREADS == 1
    finally:
        limit_blas_threads(before)
