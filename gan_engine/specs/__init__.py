"""What each recipe is, torch-free: one module per family of recipes registers them with
``registry.recipe``, beside the options its step reads and the checks of a config that uses them.

Importing this package fills ``registry.RECIPES`` (which imports it when first read). The config's
``gans`` section is the recipes' options classes put together (``config.GansConfig``), in the order of
``FAMILIES``: the order of its fields in the CLI's help and the web form.

Adding a recipe: a module here (its ``@recipe`` with defaults, options and checks), named in ``FAMILIES``,
and its torch step in ``gan_engine/recipes/`` (see docs/recipes.md).
"""

from __future__ import annotations

import importlib

# The Improved-GAN switches off: the later GANs' networks have neither.
PLAIN = {"weight_norm": False, "gaussian_noise": False}

FAMILIES = ("improved_gan", "supervised", "wgan", "began", "progan", "cyclegan", "bgan", "cgan", "infogan")

for _family in FAMILIES:
    importlib.import_module(f"{__name__}.{_family}")
