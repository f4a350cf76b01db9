"""The fields of a study's plan: the goal, the price, and the observer model assumed (the planner's prior)."""

from __future__ import annotations

from typing import Any

from django import forms

from annotation.models import ImagePool, Study
from annotation.simulation import planning

GOAL_CHOICES = [
    ("halfwidth", "95% interval on human error no wider than ± target"),
    ("pools", "80% power to detect a difference of target in error between two generated pools"),
    ("arms", "80% power to detect a difference of target in accuracy between the feedback arms"),
]


class PlanForm(forms.Form):
    goal = forms.ChoiceField(choices=GOAL_CHOICES)
    target = forms.FloatField(min_value=0.001, max_value=0.999, initial=0.05, help_text="a fraction: 0.05 = 5 points")
    scope = forms.ChoiceField(choices=[("overall", "overall"), ("per_pool", "each generated pool")], initial="overall")
    pool_a = forms.TypedChoiceField(coerce=int, required=False, help_text="pools goal: the pool assumed")
    pool_b = forms.TypedChoiceField(coerce=int, required=False, help_text="pools goal: the pool fooling more")
    price = forms.FloatField(min_value=0, initial=1.0, help_text="paid per assignment")
    d_prime = forms.FloatField(min_value=0, max_value=6, initial=planning.PRIOR["d_prime"], label="d′")
    d_prime_sd = forms.FloatField(min_value=0, max_value=3, initial=planning.PRIOR["d_prime_sd"], label="σ(d′)")
    criterion = forms.FloatField(min_value=-3, max_value=3, initial=planning.PRIOR["criterion"], label="c")
    lapse = forms.FloatField(min_value=0, max_value=1, initial=planning.PRIOR["lapse"])
    items_options = forms.CharField(
        required=False,
        label="items per assignment to try",
        help_text="comma-separated, e.g. 50, 100, 200 (default: the study's)",
    )
    max_annotators = forms.IntegerField(
        min_value=planning.MIN_PER_GROUP,
        max_value=planning.MAX_ANNOTATORS,
        initial=300,
        help_text="search no further (each larger count costs simulation time)",
    )
    replicates = forms.IntegerField(min_value=2, max_value=planning.MAX_REPLICATES, initial=100)
    seed = forms.IntegerField(min_value=0, max_value=2**31, initial=0)

    def __init__(self, *args: Any, study: Study, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        generated = study.study_pools.filter(pool__kind=ImagePool.Kind.GENERATED).select_related("pool")
        choices = [("", "—"), *[(sp.pool_id, sp.label or str(sp.pool)) for sp in generated]]
        self.fields["pool_a"].choices = self.fields["pool_b"].choices = choices

    def clean_items_options(self) -> list[int]:
        text = self.cleaned_data["items_options"].strip()
        try:
            options = [int(part) for part in text.split(",") if part.strip()]
        except ValueError:
            raise forms.ValidationError("whole numbers separated by commas") from None
        if any(n < 1 for n in options) or len(options) > 5:
            raise forms.ValidationError("at most 5 positive whole numbers")
        return options

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("goal") == "pools":
            if data.get("pool_a") in (None, "") or data.get("pool_b") in (None, ""):
                self.add_error("pool_b", "the pools goal compares two generated pools")
            elif data["pool_a"] == data["pool_b"]:
                self.add_error("pool_b", "pick two different pools")
        return data

    def arguments(self) -> dict[str, Any]:
        d = self.cleaned_data
        pools = (d["pool_a"], d["pool_b"]) if d["goal"] == "pools" else None
        goal = planning.Goal(d["goal"], d["target"], scope=d["scope"], pools=pools)
        observer = {k: d[k] for k in ("d_prime", "d_prime_sd", "criterion", "lapse")}
        search = {"items_options": d["items_options"] or None, "max_annotators": d["max_annotators"]}
        return {
            "goal": goal,
            "price": d["price"],
            "replicates": d["replicates"],
            "seed": d["seed"],
            **search,
            **observer,
        }
