"""A study's plan: its design read from the database, handed to the pure planner (``simulation.planning``)."""

from __future__ import annotations

from annotation.models import ImagePool, Study
from annotation.simulation import planning
from annotation.simulation.replicate import Design

# The study's feedback setting, as the simulation names it.
FEEDBACK = {Study.Feedback.NONE: "none", Study.Feedback.EACH: "each", Study.Feedback.RANDOMISED: "randomised"}


def study_design(study: Study) -> Design:
    """Generated pools by weight, the smallest pool's image count (every pool is simulated with that many: no plan
    counts on images a pool lacks), and the study's items per assignment, real share and feedback arms."""
    pools, sizes = {}, []
    for sp in study.study_pools.select_related("pool"):
        size = min(sp.max_items or sp.pool.size, sp.pool.size)
        sizes.append(size)
        if sp.pool.kind == ImagePool.Kind.GENERATED:
            pools[sp.pool_id] = sp.weight
    if not pools:
        raise ValueError("pools: the study has no generated pool to plan for")
    images = min(sizes)
    return Design(
        pools=pools,
        images_per_pool=images,
        annotators=planning.MIN_PER_GROUP,
        items_per_assignment=min(study.items_per_assignment, images),
        real_fraction=study.real_fraction,
        feedback=FEEDBACK.get(study.feedback, "none"),
    )


def plan_study(
    study: Study,
    goal: planning.Goal,
    *,
    price: float,
    replicates: int = 100,
    seed: int = 0,
    items_options: list[int] | None = None,
    max_annotators: int = planning.MAX_ANNOTATORS,
    **observer: float,
) -> planning.Plan:
    """The plan of ``planning.plan`` for this study's design, under the prior with ``observer``'s overrides."""
    design = study_design(study)
    model = planning.observer_model(list(design.pools), **observer)
    return planning.plan(
        design, goal, price=price, model=model, replicates=replicates, seed=seed, items_options=items_options,
        max_annotators=max_annotators,
    )  # fmt: skip
