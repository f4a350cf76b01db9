"""CycleGAN's history of generated images (Shrivastava et al. 2017, as Zhu et al. 2017 use it).

The discriminator sees a mix of new fakes and fakes from earlier generators: each new image, once
the pool holds ``size`` images, is with probability 1/2 swapped for a random stored one (which the
discriminator gets instead), else passed through. The pool is a buffer and its randomness comes
from torch's global RNG, so a checkpoint resumes it exactly.
"""

from __future__ import annotations

import torch
from torch import nn


class ImagePool(nn.Module):
    def __init__(self, size: int, shape: tuple[int, int, int]):
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, *shape))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def query(self, fakes: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return fakes
        out = []
        for image in fakes.detach():
            n = int(self.count)
            if n < self.size:
                self.images[n] = image
                self.count += 1
                out.append(image)
            elif float(torch.rand(())) < 0.5:
                i = int(torch.randint(self.size, ()))
                out.append(self.images[i].clone())
                self.images[i] = image
            else:
                out.append(image)
        return torch.stack(out)
