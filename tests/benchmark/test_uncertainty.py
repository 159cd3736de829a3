"""Bootstrap intervals over clips and paired comparisons of two runs."""

import numpy as np
import pytest

from benchmark.errors import BenchError
from benchmark.uncertainty import Comparison, compare, compare_runs, compare_seeds, compare_systems, interval, intervals


def test_the_interval_resamples_clips_with_all_their_captions():
    # Each clip's five captions agree, so resampling clips (not captions) must give the
    # spread of ten clip values, not of fifty near-independent ones.
    clip_values = np.array([0, 1] * 5, dtype=float)
    values, clips = np.repeat(clip_values, 5), np.repeat(np.arange(10), 5)
    low, high = interval(values, clips, resamples=2000)
    spread = 1.96 * np.sqrt(0.25 / 10)  # the normal approximation for ten clips
    assert low < 0.5 < high
    assert high - low == pytest.approx(2 * spread, rel=0.25)


def test_intervals_are_seeded_and_shared_across_metrics():
    rng = np.random.default_rng(1)
    values = {"R@1": rng.random(40), "R@10": rng.random(40)}
    clips = np.repeat(np.arange(8), 5)
    assert intervals(values, clips, seed=3) == intervals(values, clips, seed=3)
    assert intervals(values, clips, seed=3)["R@1"] == pytest.approx(interval(values["R@1"], clips, seed=3))
    assert intervals(values, clips, seed=3) != intervals(values, clips, seed=4)


def test_a_clear_difference_is_found_and_identical_runs_are_not():
    rng = np.random.default_rng(2)
    clips = np.repeat(np.arange(200), 5)
    b = rng.random(1000)
    better = compare(b + 0.05, b, clips)
    assert better.difference == pytest.approx(0.05) and better.low > 0 and better.p_value < 0.01
    same = compare(b, b, clips)
    assert same.difference == 0 and same.p_value == 1.0


def test_the_permutation_test_flips_whole_clips():
    # One clip: flipping its total only negates the mean, so every permutation is as far
    # from 0 as the observed difference, p = (1 + R) / (1 + R) (flipping captions one by
    # one would give 2/32 for five equal differences).
    assert compare(np.ones(5), np.zeros(5), np.zeros(5, dtype=int), resamples=50).p_value == 1.0
    # Two clips, totals 3 (three captions of +1) and 1 (one caption): |3 +- 1| >= 4 for half
    # of the four sign patterns, p = 1/2 (by caption: 2 of 16 patterns, 1/8).
    p = compare(np.ones(4), np.zeros(4), np.array([0, 0, 0, 1]), resamples=4000).p_value
    assert p == pytest.approx(0.5, abs=0.04)


def test_the_p_value_counts_the_observed_arrangement():
    # 200 clips all better by 1: no sign pattern but all-equal reaches the observed mean,
    # so none of R random ones does and p = (1 + 0) / (1 + R): 1/1001 at the default.
    clips = np.repeat(np.arange(200), 2)
    assert compare(np.ones(400), np.zeros(400), clips).p_value == 1 / 1001
    assert compare(np.ones(400), np.zeros(400), clips, resamples=99).p_value == 0.01


def test_the_difference_is_a_minus_b_and_swapping_the_sides_negates_it():
    rng = np.random.default_rng(5)
    clips = np.repeat(np.arange(30), [1, 2, 3, 4, 5, 5] * 5)
    b = rng.random(len(clips))
    a = b + rng.normal(0.03, 0.3, len(clips))
    forward, backward = compare(a, b, clips), compare(b, a, clips)
    assert forward.difference == pytest.approx(np.mean(a) - np.mean(b)) and forward.difference > 0
    assert backward.difference == pytest.approx(-forward.difference)
    assert (backward.low, backward.high) == pytest.approx((-forward.high, -forward.low))
    assert backward.p_value == forward.p_value and 0.01 < forward.p_value < 1


def test_the_permutation_test_holds_its_level_on_runs_that_differ_by_chance():
    rng = np.random.default_rng(3)
    clips = np.repeat(np.arange(100), 5)
    p_values = [compare(rng.random(500), rng.random(500), clips, resamples=200, seed=s).p_value for s in range(200)]
    assert 0.02 <= np.mean(np.array(p_values) < 0.05) <= 0.09


def test_unpaired_values_are_refused():
    with pytest.raises(BenchError, match="paired values differ in length"):
        compare(np.zeros(3), np.zeros(4), np.arange(3))
    with pytest.raises(BenchError, match="4 per-query values for 3 queries"):
        interval(np.zeros(4), np.arange(3))


def test_over_seeds_a_paired_t_test_counts_training_randomness():
    rng = np.random.default_rng(4)
    queries = rng.random(300)
    # Each seed shifts a system's scores as a whole (training randomness), the same for A and B.
    a = [queries + shift for shift in (0.02, -0.01, 0.03, 0.0)]
    b = [queries + shift + noise for shift, noise in zip((0.02, -0.01, 0.03, 0.0), (0.004, -0.006, 0.002, 0.001))]
    same = compare_seeds(a, b)
    assert same.test == "seeds" and same.p_value > 0.3 and same.low < 0 < same.high
    clearly = compare_seeds([x + 0.05 for x in a], b)
    assert clearly.p_value < 0.01 and clearly.low > 0
    assert compare_seeds(a, a).p_value == 1.0
    with pytest.raises(BenchError, match="two or more seeds"):
        compare_seeds(a[:1], b[:1])


def test_seed_differences_that_do_not_vary_are_certain_about_training_randomness():
    # Three seeds each, every seed 0.1 apart: no spread to test against. The t-test's limit
    # as the spread shrinks: p = 0 and the interval the difference itself (A - B, signed).
    a, b = [np.full(10, 0.1)] * 3, [np.zeros(10)] * 3
    assert compare_seeds(a, b) == Comparison(0.1, 0.1, 0.1, 0.0, "seeds")
    assert compare_seeds(b, a) == Comparison(-0.1, -0.1, -0.1, 0.0, "seeds")
    assert compare_seeds(a, a) == Comparison(0.0, 0.0, 0.0, 1.0, "seeds")
    # The limit it stands for: differences 0.1 +- 1e-9 give p near 0 and an interval near 0.1.
    nearly = compare_seeds([np.full(10, 0.1 + e) for e in (1e-9, -1e-9, 0.0)], b)
    assert nearly.p_value < 1e-6 and 0.1 - 1e-8 < nearly.low < nearly.high < 0.1 + 1e-8


def test_runs_of_two_systems_compare_by_a_two_sample_t_test_on_their_means():
    # Means 1 and 3 against 0 and 2: difference 1, pooled variance (1 + 1 + 1 + 1) / 2 = 2,
    # standard error sqrt(2 (1/2 + 1/2)), t = 1/sqrt(2) on 2 degrees of freedom, whose
    # two-sided p is 1 - t / sqrt(2 + t^2) = 1 - 1/sqrt(5); the 97.5% point of t(2) is
    # 0.95 sqrt(2 / (4 * 0.975 * 0.025)).
    a, b = [np.array([1.0, 1.0]), np.array([2.0, 4.0])], [np.array([0.0]), np.array([2.0])]
    two = compare_runs(a, b)
    half = 0.95 * np.sqrt(2 / (4 * 0.975 * 0.025)) * np.sqrt(2)
    assert two.test == "runs" and two.difference == 1.0 and two.p_value == pytest.approx(1 - 1 / np.sqrt(5))
    assert (two.low, two.high) == pytest.approx((1 - half, 1 + half))
    assert compare_runs(b, a).difference == -1.0 and compare_runs(b, a).p_value == pytest.approx(two.p_value)
    # Seeds need not pair: means 0, 1, 2 against -1, 1: pooled variance (2 + 2) / 3, error
    # sqrt(4/3 (1/3 + 1/2)) = sqrt(10) / 3, on 3 degrees of freedom.
    from scipy import stats

    three = compare_runs([np.array([v]) for v in (0.0, 1.0, 2.0)], [np.array([v]) for v in (-1.0, 1.0)])
    assert three.difference == 1.0 and three.p_value == pytest.approx(2 * stats.t.sf(3 / np.sqrt(10), 3))
    assert three.high - three.low == pytest.approx(2 * stats.t.ppf(0.975, 3) * np.sqrt(10) / 3)
    # Runs that do not vary with the seed: no spread, as for compare_seeds.
    assert compare_runs([np.full(4, 0.5)] * 2, [np.full(4, 0.25)] * 3) == Comparison(0.25, 0.25, 0.25, 0.0, "runs")
    with pytest.raises(BenchError, match="two or more seeds on each side, got 1 and 2"):
        compare_runs(a[:1], b)


def test_two_seeds_each_two_sample_test_holds_its_level_and_tells_what_the_paired_cannot():
    # 400 pairs of "systems" of two seeds each: each run's mean is the system's plus a
    # seed's shift (sd 0.01); B is A's system (null) or 0.06 worse.
    rng = np.random.default_rng(6)
    queries = rng.random(50)
    runs = lambda shift: [queries + shift + s for s in rng.normal(0, 0.01, 2)]  # noqa: E731
    null = [compare_runs(runs(0.0), runs(0.0)).p_value < 0.05 for _ in range(400)]
    assert 0.025 <= np.mean(null) <= 0.08
    worse = [(runs(0.0), runs(-0.06)) for _ in range(400)]
    power = np.mean([compare_runs(a, b).p_value < 0.05 for a, b in worse])
    paired_power = np.mean([compare_seeds(a, b).p_value < 0.05 for a, b in worse])
    assert power > 0.7 and paired_power < 0.5  # measured: 0.80 and 0.37


def test_systems_are_told_apart_only_beyond_both_training_and_test_set_randomness():
    clips = np.repeat(np.arange(40), 5)
    rng = np.random.default_rng(7)
    b = rng.random(200)
    # Runs that do not vary with the seed, 0.005 apart on one clip: the runs' test is
    # certain, the clips' test is not.
    a = b.copy()
    a[:5] += 0.2
    runs, by_clip = compare_systems([a, a], [b, b], clips)
    assert runs.p_value == 0.0 and by_clip.p_value > 0.2
    assert by_clip == compare(a, b, clips)
    # The clips' test sees the seeds' average of each query.
    by_clip, averaged = compare_systems([b + 0.3, b - 0.1], [b, b], clips)[1], compare(b + 0.1, b, clips)
    assert by_clip.p_value == averaged.p_value
    assert (by_clip.difference, by_clip.low, by_clip.high) == pytest.approx((averaged.difference, averaged.low, averaged.high))
    runs, by_clip = compare_systems([b + 0.11, b + 0.09], [b - 0.01, b + 0.01], clips)
    assert runs.p_value < 0.05 and by_clip.p_value < 0.05
