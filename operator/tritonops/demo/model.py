"""The demo's PyTorch model: a tiny classifier, 4 features in, 3 class probabilities out.

Its weights are seeded random values, not trained ones: the demo is about serving and releasing a model,
and an answer's shape and its probabilities summing to 1 are what its load generator checks. The
factories take no arguments, as `tritonops package MODULE:FACTORY` wants:

- `classifier` (versions 1 and 3; version 3 is packaged from `classifier_retrained`, other weights);
- `classifier_five_features`, version 2: the same network built for 5 input features. The model's
  config.pbtxt, shared by all its versions, declares 4, so every request to version 2 fails inside
  torch ("mat1 and mat2 shapes cannot be multiplied"): the kind of schema mismatch a release can carry;
- `classifier_misquantized`, version 4: version 3's network with every weight rounded to a multiple of
  0.25, as a broken quantization would leave it. It loads, answers fast and never errors, and its
  probabilities still sum to 1: only the golden gate, which knows version 3's answers, sees it is wrong.
"""

from __future__ import annotations

import torch

FEATURES = 4
CLASSES = 3
HIDDEN = 16


def _network(*, features: int, seed: int) -> torch.nn.Module:
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        network = torch.nn.Sequential(
            torch.nn.Linear(features, HIDDEN),
            torch.nn.ReLU(),
            torch.nn.Linear(HIDDEN, CLASSES),
            torch.nn.Softmax(dim=-1),
        )
    finally:
        torch.random.set_rng_state(generator_state)
    return network.eval()


def classifier() -> torch.nn.Module:
    return _network(features=FEATURES, seed=1)


def classifier_retrained() -> torch.nn.Module:
    return _network(features=FEATURES, seed=3)


def classifier_five_features() -> torch.nn.Module:
    return _network(features=FEATURES + 1, seed=2)


MISQUANTIZED_STEP = 0.25


def classifier_misquantized() -> torch.nn.Module:
    network = classifier_retrained()
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.copy_(torch.round(parameter / MISQUANTIZED_STEP) * MISQUANTIZED_STEP)
    return network
