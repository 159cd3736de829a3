"""Windows over clips of any length: placed without randomness, run in batches of one size."""

import numpy as np
import pytest

from benchmark.windows import embed_windows, window_starts


@pytest.mark.parametrize("samples, starts", [
    (1, [0]), (10, [0]), (11, [0, 1]), (20, [0, 10]), (25, [0, 10, 15]), (30, [0, 10, 20]),
])
def test_windows_are_consecutive_from_zero_with_the_last_one_ending_with_the_clip(samples, starts):
    assert window_starts(samples, 10) == starts
    if samples > 10:
        assert starts[-1] + 10 == samples and len(starts) == -(-samples // 10)


def test_every_batch_has_the_same_size_and_a_clips_outputs_do_not_depend_on_its_companions():
    seen = []

    def run(batch):
        seen.append(batch.shape)
        return batch.sum(axis=1, keepdims=True)

    rng = np.random.default_rng(0)
    clips = [rng.standard_normal((n, 4)).astype(np.float32) for n in (3, 1, 2)]
    together = embed_windows(clips, 4, run)
    alone = [embed_windows([clip], 4, run)[0] for clip in clips]
    assert set(seen) == {(4, 4)}
    assert [part.shape for part in together] == [(3, 1), (1, 1), (2, 1)]
    for mixed, single, clip in zip(together, alone, clips):
        np.testing.assert_array_equal(mixed, single)
        np.testing.assert_allclose(mixed[:, 0], clip.sum(axis=1), rtol=1e-6)


def test_the_zero_rows_that_fill_the_last_batch_are_dropped_and_no_clips_run_nothing():
    calls = []
    out = embed_windows([np.ones((5, 2), dtype=np.float32)], 4, lambda batch: calls.append(batch.copy()) or batch)
    assert len(out) == 1 and out[0].shape == (5, 2) and np.all(out[0] == 1)
    assert len(calls) == 2 and np.all(calls[1][1:] == 0)
    assert embed_windows([], 4, lambda batch: pytest.fail("nothing to run")) == []
