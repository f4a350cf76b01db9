"""The model observer and its signal-detection maths, without a server: formulas against scipy and closed forms,
judgments that reach the accuracy the model predicts, the population truths the calibration bench scores
against, learning, and the HYPE-time staircase recovering a known threshold."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from annotation import stats
from annotation.simulation import observer as obs
from annotation.simulation.observer import ObserverModel
from annotation.simulation.replicate import Design, population_truth, simulate_judgments


def binomial_tolerance(p: float, n: int, sigmas: float = 4.0) -> float:
    return sigmas * math.sqrt(p * (1 - p) / n)


def test_rates_and_accuracy_are_the_equal_variance_formulas():
    # Macmillan & Creelman (2005): H = Φ(d′/2 − c), F = Φ(−d′/2 − c); d′ = 1, c = 0 gives Φ(0.5) = 69.15%.
    assert obs.proportion_correct(1.0, 0.0) == pytest.approx(0.691462461, abs=1e-9)
    for d, c in ((0.0, 0.0), (1.0, 0.3), (2.5, -0.4)):
        h, f = obs.hit_rate(d, c), obs.false_alarm_rate(d, c)
        assert norm.ppf(h) - norm.ppf(f) == pytest.approx(d)
        assert -(norm.ppf(h) + norm.ppf(f)) / 2 == pytest.approx(c)
        # The app's estimator inverts them (without its log-linear correction: huge counts).
        n = 10**9
        sdt = stats.signal_detection(round(h * n), n, round(f * n), n)
        assert sdt.d_prime == pytest.approx(d, abs=1e-4) and sdt.criterion == pytest.approx(c, abs=1e-4)
    assert obs.proportion_correct(3.0, 0.0, lapse=1.0) == 0.5
    assert obs.proportion_correct(3.0, 0.0, lapse=0.2) == pytest.approx(0.8 * norm.cdf(1.5) + 0.1)
    assert obs.d_prime_for_accuracy(obs.proportion_correct(1.7, 0.0)) == pytest.approx(1.7)


def test_the_psychometric_function_puts_the_mean_observer_at_75_percent_at_the_threshold():
    model = ObserverModel(default_d_prime=2.5, threshold_ms=300, weibull_shape=2.0)
    w = obs.exposure_weight(300.0, model.scale_ms, model.weibull_shape)
    assert obs.proportion_correct(2.5 * w, 0.0) == pytest.approx(0.75)
    p_real = model.p_real(truth_real=np.array([True, False]), pool_d_prime=2.5, exposure_ms=300.0)
    assert (p_real[0] + 1 - p_real[1]) / 2 == pytest.approx(0.75)
    assert obs.exposure_weight(None, 100.0, 2.0) == 1.0 and obs.exposure_weight(np.nan, 100.0, 2.0) == 1.0
    with pytest.raises(ValueError, match="d_prime: must exceed"):
        ObserverModel(default_d_prime=1.0, threshold_ms=300)


def test_bad_parameters_are_refused_by_name():
    with pytest.raises(ValueError, match="lapse"):
        ObserverModel(lapse=1.5)
    with pytest.raises(ValueError, match="d_prime_sd"):
        ObserverModel(d_prime_sd=-1)
    with pytest.raises(ValueError, match="feedback"):
        Design(pools={1: 1.0}, feedback="sometimes")
    with pytest.raises(ValueError, match="pools"):
        Design(pools={0: 1.0})


def test_one_observer_answering_one_image_at_a_time_reaches_the_predicted_accuracy():
    # The path the HTTP driver takes: Observer.respond per image. d′ = 1, c = 0: Φ(0.5) = 69.1%.
    rng = np.random.default_rng(3)
    observer = ObserverModel(default_d_prime=1.0).draw_observer(rng)
    n = 6000
    truths = rng.random(n) < 0.5
    right = sum(observer.respond(rng, truth_real=bool(t), pool_d_prime=1.0)[0] == bool(t) for t in truths)
    assert right / n == pytest.approx(norm.cdf(0.5), abs=binomial_tolerance(norm.cdf(0.5), n))


@pytest.mark.parametrize(
    "model",
    [
        ObserverModel(default_d_prime=1.0),
        ObserverModel(
            d_prime={1: 0.6, 2: 1.8}, criterion=0.3, lapse=0.1, d_prime_sd=0.6, criterion_sd=0.4, image_sd=0.5
        ),
    ],
    ids=["d1-c0", "spread-lapse-images"],
)
def test_simulated_studies_reach_the_population_truth(model):
    design = Design(pools={1: 1.0, 2: 1.0}, annotators=400, items_per_assignment=50, images_per_pool=400)
    truth = population_truth(model, design)
    table = simulate_judgments(model, design, np.random.default_rng(11))
    summary = stats.accuracy_summary(table)
    # Many observers and images, so the clustered sampling error is small; 4 binomial SEs doubled for clustering.
    tolerance = 2 * binomial_tolerance(truth.accuracy["all"], summary.n)
    assert summary.accuracy == pytest.approx(truth.accuracy["all"], abs=tolerance)
    assert summary.fake_error == pytest.approx(truth.fake_error_all["all"], abs=2 * tolerance)
    assert summary.real_error == pytest.approx(truth.real_error["all"], abs=2 * tolerance)
    if model.d_prime_sd == 0:
        assert truth.accuracy["all"] == pytest.approx(norm.cdf(0.5))


def test_feedback_teaches_only_the_arm_that_gets_it():
    model = ObserverModel(default_d_prime=1.0, learning_gain=1.0, learning_trials=20)
    design = Design(
        pools={1: 1.0}, annotators=300, items_per_assignment=100, images_per_pool=100, feedback="randomised"
    )
    truth = population_truth(model, design)
    assert truth.accuracy["feedback"] > truth.accuracy["no_feedback"] + 0.05
    assert truth.accuracy["no_feedback"] == pytest.approx(norm.cdf(0.5))
    arms = stats.compare_arms(simulate_judgments(model, design, np.random.default_rng(5)), n_boot=0)
    expected = truth.accuracy["feedback"] - truth.accuracy["no_feedback"]
    assert arms.difference == pytest.approx(expected, abs=0.03)
    # The learning curve rises with feedback: late trials beat early ones by what the model says.
    first, late = model.learning(0), model.learning(90)
    assert first == 0 and late == pytest.approx(1 - math.exp(-4.5))


def test_the_hype_time_staircase_recovers_a_known_threshold():
    # The staircase (−10 ms right, +30 ms wrong) aims at 75% right, where the simulated population's threshold is put;
    # the modal exposure sits a few ms above it (the calibration bench measures the bias), well within 5%.
    for threshold in (250.0, 500.0):
        model = ObserverModel(default_d_prime=3.0, threshold_ms=threshold)
        design = Design(
            pools={1: 1.0}, annotators=30, items_per_assignment=450, images_per_pool=450, feedback="each",
            timed=True, block_size=150,
        )  # fmt: skip
        table = simulate_judgments(model, design, np.random.default_rng(int(threshold)))
        assert set(np.unique(table.block)) == {0, 1, 2}
        score = stats.hype_time_score(table, n_boot=1000, seed=0)
        assert score.ci_low < score.score < score.ci_high
        assert score.score == pytest.approx(threshold, rel=0.05)


def test_the_two_way_interval_is_the_cluster_robust_formula_and_wider_than_wilson_when_annotators_differ():
    model = ObserverModel(default_d_prime=1.0, d_prime_sd=0.8, criterion_sd=0.5, image_sd=0.8)
    table = simulate_judgments(model, Design(pools={1: 1.0}, annotators=20), np.random.default_rng(2))
    summary = stats.accuracy_summary(table)
    low, high = stats.two_way_accuracy_interval(table)
    assert low < summary.accuracy < high
    assert high - low > 1.3 * (summary.ci_high - summary.ci_low)

    # Cameron, Gelbach & Miller (2011), eq. 2.11 for the mean of y (the OLS of y on a constant), written out as the
    # sandwich (X'X)⁻¹ (Σ_g X_g'u_g u_g'X_g) (X'X)⁻¹ with its G/(G − 1) factors, one loop per clustering.
    y = table.correct.astype(float)
    u = y - y.mean()

    def sandwich(keys: list[tuple]) -> float:
        clusters: dict[tuple, float] = {}
        for key, residual in zip(keys, u, strict=True):
            clusters[key] = clusters.get(key, 0.0) + residual
        g = len(clusters)
        return g / (g - 1) * sum(s * s for s in clusters.values()) / len(y) ** 2

    images = list(zip(table.pool.tolist(), table.item.tolist(), strict=True))
    judgments = list(zip(table.annotator.tolist(), table.pool.tolist(), table.item.tolist(), strict=True))
    variance = sandwich([(a,) for a in table.annotator.tolist()]) + sandwich(images) - sandwich(judgments)
    half = norm.ppf(0.975) * math.sqrt(variance)
    assert (low, high) == pytest.approx((y.mean() - half, y.mean() + half), abs=1e-12)

    # Independent judgments (each annotator and each image once): V_A = V_B = V_AB, the sandwich's iid variance.
    rng = np.random.default_rng(0)
    n = 400
    iid = stats.Judgments.from_records(
        {"annotator": i, "item": i, "truth_real": bool(t), "answer_real": bool(a)}
        for i, (t, a) in enumerate(zip(rng.random(n) < 0.5, rng.random(n) < 0.5, strict=True))
    )
    p = iid.correct.mean()
    half = norm.ppf(0.975) * math.sqrt(p * (1 - p) / (n - 1))
    assert stats.two_way_accuracy_interval(iid) == pytest.approx((p - half, p + half), abs=1e-12)
    assert all(math.isnan(v) for v in stats.two_way_accuracy_interval(stats.Judgments.empty()))
    one_annotator = table.subset(table.annotator == table.annotator[0])
    assert all(math.isnan(v) for v in stats.two_way_accuracy_interval(one_annotator))
