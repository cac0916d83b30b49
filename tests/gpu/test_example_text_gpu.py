"""The text example model on CUDA gives the CPU's output and attribution bit for
bit: its inference is fixed-point (integer activations and weights carried in
float64, every product exact), so the GPU's kernels cannot change a logit.
Skipped without a CUDA device."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from attribution.examples import text
from attribution.split import NoPositiveAttribution, attribution_hash, reward_weights

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

QUERY_HASH = bytes(range(32))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("text-gpu") / "model"
    text.train(text.example_contributions(), out)
    text.build_index(out)
    return out


def _prompts() -> list[str]:
    prompts = []
    for _, blob in text.example_contributions():
        sentences = blob.decode("utf-8").split(". ")
        prompts += [sentences[1][:20], sentences[3][:40]]
    return prompts + ["Hello world, my name is", "Καλημέρα", "x"]


def _settle(model: text.TextModel, prompt: str) -> tuple[bytes, dict[int, object], object]:
    output = model.infer(model.parse_input(prompt.encode()))
    credit = model.attribute(prompt.encode(), output)
    try:
        split = reward_weights(credit)
    except NoPositiveAttribution:
        return output, dict(credit), None
    return output, dict(credit), (split, attribution_hash(7, QUERY_HASH, split))


def test_logits_on_cuda_equal_the_cpu_bits(model_dir: Path) -> None:
    cpu = text.load_served(model_dir, "cpu")
    gpu = text.load_served(model_dir, "cuda")
    documents = [(cid, blob.decode()) for cid, blob in text.example_contributions()]
    contexts, _ = text._training_examples(documents, cpu.vocabulary, cpu.context)
    on_cpu = cpu._net.logits(contexts)
    on_gpu = gpu._net.logits(contexts)
    assert on_gpu.device.type == "cuda"
    assert torch.equal(on_gpu.cpu(), on_cpu)
    # One context at a time on the GPU (another kernel shape) gives the same bits.
    for row in range(0, len(contexts), 997):
        assert torch.equal(gpu._net.logits(contexts[row : row + 1]).cpu()[0], on_cpu[row])


def test_output_and_attribution_on_cuda_equal_the_cpu_ones(model_dir: Path) -> None:
    cpu = text.load_served(model_dir, "cpu")
    gpu = text.load_served(model_dir, "cuda")
    assert gpu.index_version == cpu.index_version
    settled = 0
    for prompt in _prompts():
        on_cpu = _settle(cpu, prompt)
        assert _settle(gpu, prompt) == on_cpu, prompt
        settled += on_cpu[2] is not None
    assert settled >= 20  # most prompts echo a contribution, so most settle
