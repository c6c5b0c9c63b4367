"""A model ready to be written in any layout: traced, with the outputs torch gave for the example inputs."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from tritonops.packaging.signature import Signature
from tritonops.packaging.source import LoadedModel

if TYPE_CHECKING:
    import torch


@dataclasses.dataclass
class Prepared:
    model: LoadedModel
    traced: Any  # torch.jit.ScriptModule
    examples: list[torch.Tensor]
    expected: list[torch.Tensor]  # torch's outputs for the examples
    signature: Signature
    # With batching: the examples grown by one along the batch dimension, and torch's outputs for them, so
    # that the artifacts are checked on a batch size they were not traced with.
    grown_examples: list[torch.Tensor] | None = None
    grown_expected: list[torch.Tensor] | None = None
    onnx_opset: int = 17

    def cases(self) -> list[tuple[str, list[torch.Tensor], list[torch.Tensor]]]:
        """(label, inputs, torch's outputs) for each input batch an artifact must reproduce."""
        batch = f"batch {self.examples[0].shape[0]}" if self.signature.batching else "the example input"
        cases = [(batch, self.examples, self.expected)]
        if self.grown_examples is not None and self.grown_expected is not None:
            cases.append((f"batch {self.grown_examples[0].shape[0]}", self.grown_examples, self.grown_expected))
        return cases
