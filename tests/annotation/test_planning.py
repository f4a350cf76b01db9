"""The study planner: its recommendation against a direct simulation, monotone in the goal, bad input refused by
name, and its page shown to the study's owner only."""

from __future__ import annotations

import dataclasses

import pytest
from django.urls import reverse

from annotation.actions.studies import create_study, set_study_pool
from annotation.simulation import planning
from annotation.simulation.planning import Goal, plan, simulate
from annotation.simulation.replicate import Design
from testkit.factories import STUDY_TEXTS, ImagePoolFactory, UserFactory, open_study

DESIGN = Design(pools={1: 1.0, 2: 1.0}, images_per_pool=60, items_per_assignment=30, feedback="randomised")


def test_the_recommendation_meets_the_goal_in_a_fresh_simulation_and_the_next_smaller_misses():
    goal = Goal("halfwidth", 0.06)
    found = plan(DESIGN, goal, price=2.0, replicates=40, seed=1)
    best, previous = found.recommended, found.previous
    assert best is not None and previous is not None and previous.annotators < best.annotators
    fresh = simulate(found.model, found.design, goal, 120, seed=99)
    assert fresh.value <= goal.target + 3 * fresh.mc_error
    smaller = simulate(found.model, dataclasses.replace(found.design, annotators=previous.annotators), goal, 120, 99)
    assert smaller.value >= goal.target - 3 * smaller.mc_error
    assert found.cost == best.annotators * 2.0
    assert found.total_judgments == best.annotators * 30
    # Half of all judgments are of the 60 real images: the busiest pool.
    assert found.judgments_per_image == pytest.approx(best.annotators * 30 * 0.5 / 60)
    assert found.judgments_wanted >= found.judgments_per_image


def test_a_power_recommendation_reaches_80_percent_in_a_fresh_simulation():
    goal = Goal("arms", 0.07)
    found = plan(DESIGN, goal, price=1.0, replicates=30, seed=2)
    assert found.recommended is not None
    fresh = simulate(found.model, found.design, goal, 80, seed=77)
    assert fresh.value >= planning.POWER - 3 * max(fresh.mc_error, 0.03)
    assert found.previous is not None
    smaller = dataclasses.replace(found.design, annotators=found.previous.annotators)
    missed = simulate(found.model, smaller, goal, 80, seed=77)
    assert missed.value <= planning.POWER + 3 * max(missed.mc_error, 0.03)


def test_a_stricter_goal_never_needs_fewer_annotators():
    counts = [
        plan(DESIGN, Goal("halfwidth", h), price=1.0, replicates=20).recommended.annotators for h in (0.09, 0.07, 0.05)
    ]
    assert counts == sorted(counts)
    assert counts[0] < counts[-1]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: Goal("halfwidth", 0.0), "target"),
        (lambda: Goal("vibes", 0.05), "goal"),
        (lambda: Goal("halfwidth", 0.05, scope="some"), "scope"),
        (lambda: Goal("pools", 0.05, pools=(1, 1)), "pools"),
        (lambda: plan(DESIGN, Goal("halfwidth", 0.05), price=-1), "price"),
        (lambda: plan(DESIGN, Goal("halfwidth", 0.05), price=1, replicates=10_000), "replicates"),
        (lambda: plan(DESIGN, Goal("pools", 0.05, pools=(1, 7)), price=1), "pools"),
        (lambda: plan(dataclasses.replace(DESIGN, feedback="none"), Goal("arms", 0.05), price=1), "feedback"),
        (lambda: planning.observer_model([1], d_prime=-1.0), "d_prime"),
        (lambda: planning.observer_model([1], lapse=2.0), "lapse"),
        (lambda: planning.observer_model([1], mood=1.0), "mood"),
    ],
)
def test_bad_input_is_refused_naming_the_field(call, field):
    with pytest.raises(ValueError, match=field):
        call()


@pytest.mark.django_db
def test_the_plan_page_shows_the_recommendation_to_the_owner_and_is_404_to_others(client):
    owner, other = UserFactory(is_staff=True), UserFactory(is_staff=True)
    study = open_study(
        [ImagePoolFactory(kind="real"), ImagePoolFactory(kind="generated")],
        items_per_assignment=20,
        judgments_per_item=1,
        user=owner,
    )
    url = reverse("annotation:plan", args=[study.pk])
    query = {"goal": "halfwidth", "target": "0.08", "scope": "overall", "price": "1.5", "d_prime": "0.8",
             "d_prime_sd": "0.5", "criterion": "0", "lapse": "0.02", "replicates": "10", "seed": "0",
             "max_annotators": "100", "items_options": "10, 20"}  # fmt: skip
    client.force_login(other)
    assert client.get(url, query).status_code == 404
    client.force_login(owner)
    page = client.get(url, query)
    assert page.status_code == 200
    text = page.content.decode()
    assert 'id="plan-annotators"' in text and 'id="plan-method"' in text
    assert page.context["plan"].cost == page.context["plan"].recommended.annotators * 1.5
    assert page.context["plan"].recommended.items_per_assignment in (10, 20)
    assert page.context["plan"].judgments_wanted > 1
    assert 'id="plan-too-few"' in text  # the study wants 1 judgment an image: fewer than the plan needs
    for field, value in (("target", "2"), ("items_options", "ten"), ("max_annotators", "5000"), ("pool_b", "")):
        refused = client.get(url, {**query, "goal": "pools" if field == "pool_b" else "halfwidth", field: value})
        assert refused.status_code == 200 and field in refused.context["form"].errors
        assert refused.context["plan"] is None
    assert client.get(url).status_code == 200  # the empty form, nothing simulated


def test_a_goal_no_design_can_meet_returns_no_recommendation():
    found = plan(DESIGN, Goal("halfwidth", 0.001), price=1.0, replicates=5, max_annotators=12)
    assert found.recommended is None and found.total_judgments == 0


def test_a_pools_goal_builds_the_difference_into_the_model():
    goal = Goal("pools", 0.1, pools=(1, 2))
    model = planning.with_effect(planning.observer_model([1, 2]), DESIGN, goal)
    assert model.population_p_real(2) - model.population_p_real(1) == pytest.approx(0.1, abs=1e-6)


def test_the_difference_between_pools_is_tested_at_its_nominal_size_and_reaches_its_power():
    null = planning.observer_model([1, 2])
    design = dataclasses.replace(DESIGN, annotators=30)
    size = simulate(null, design, Goal("pools", 0.5, pools=(1, 2)), 200, seed=5)
    assert 0.01 <= size.value <= 0.10  # 5% ± Monte Carlo error: the interval is neither too narrow nor too wide
    goal = Goal("pools", 0.15, pools=(1, 2))
    found = plan(DESIGN, goal, price=1.0, replicates=40, seed=3)
    fresh = simulate(found.model, found.design, goal, 100, seed=55)
    assert fresh.value >= planning.POWER - 3 * max(fresh.mc_error, 0.03)


@pytest.mark.django_db
def test_a_study_without_generated_pools_is_refused_by_name(staff_client):
    study = create_study(name="only real", **STUDY_TEXTS)
    set_study_pool(study, ImagePoolFactory(kind="real"))
    page = staff_client.get(
        reverse("annotation:plan", args=[study.pk]),
        {"goal": "halfwidth", "target": "0.05", "scope": "overall", "price": "1", "d_prime": "0.8", "d_prime_sd": "0.5",
         "criterion": "0", "lapse": "0.02", "replicates": "5", "seed": "0", "max_annotators": "20"},
    )  # fmt: skip
    assert page.status_code == 200 and "pools: the study has no generated pool" in page.context["error"]


@pytest.mark.django_db
def test_the_plan_page_needs_staff(client):
    client.force_login(UserFactory())
    study = open_study()
    response = client.get(reverse("annotation:plan", args=[study.pk]))
    assert response.status_code == 302 and "login" in response["Location"]
