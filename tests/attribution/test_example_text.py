"""The text example model (attribution/examples/text.py): deterministic training
on the bundled contributions, deterministic greedy generation, span attribution
of what it generates, and the errors a caller sees."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from attribution.errors import AttributionError
from attribution.examples import text
from attribution.payable.models import (
    InputError,
    ModelDirError,
    ServedModel,
    attribute_query,
    load_served_model,
)
from attribution.payable.record import QueryRecord, canonical_json, index_version
from attribution.split import WEIGHT_DENOMINATOR, attribution_hash, reward_weights

QUERY_HASH = bytes(range(32))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("text") / "model"
    text.train(text.example_contributions(), out)
    text.build_index(out)
    return out


@pytest.fixture(scope="module")
def served(model_dir: Path) -> text.TextModel:
    return text.load_served(model_dir)


@pytest.fixture()
def torch_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _echo_prompts() -> list[tuple[int, str]]:
    """Per contribution, the first 32 characters of its third sentence: a phrase
    that only that contributor wrote."""
    prompts = []
    for contribution_id, blob in text.example_contributions():
        sentences = blob.decode("utf-8").split(". ")
        prompts.append((contribution_id, sentences[2][:32]))
    return prompts


_RETRAIN = """
import json, sys
from pathlib import Path
from attribution.examples import text
out = Path(sys.argv[1])
text.train(list(reversed(text.example_contributions())), out)
text.build_index(out)
model = text.load_served(out)
prompts = json.loads(sys.argv[2])
print(json.dumps([model.infer(model.parse_input(p.encode())).hex() for p in prompts]))
"""


def test_training_is_deterministic(model_dir: Path, served: text.TextModel, tmp_path: Path) -> None:
    # Another run in a fresh process on one OpenMP thread (this one has the
    # machine's default), with the contributions handed over in another order.
    again = tmp_path / "again"
    prompts = [p for _, p in _echo_prompts()[:4]] + ["Hello world"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", _RETRAIN, str(again), json.dumps(prompts)], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    for name in (text.WEIGHTS_FILE, text.CORPUS_FILE, text.MODEL_FILE):
        assert _sha256(again / name) == _sha256(model_dir / name), name
    assert index_version(again) == index_version(model_dir)
    assert json.loads(done.stdout) == [served.infer(served.parse_input(p.encode())).hex() for p in prompts]
    meta = json.loads((model_dir / text.MODEL_FILE).read_bytes())
    assert meta["weights"]["sha256"] == _sha256(model_dir / text.WEIGHTS_FILE)
    assert meta["training_set"]["contributions"] == list(range(1, 13))


def test_another_seed_or_corpus_gives_other_weights(model_dir: Path, tmp_path: Path) -> None:
    few = text.example_contributions()[:3]
    text.train(few, tmp_path / "seed0", seed=0)
    text.train(few, tmp_path / "seed1", seed=1)
    digests = {_sha256(d / text.WEIGHTS_FILE) for d in (model_dir, tmp_path / "seed0", tmp_path / "seed1")}
    assert len(digests) == 3


def test_model_json_is_canonical_and_names_the_index(model_dir: Path, served: text.TextModel) -> None:
    raw = (model_dir / text.MODEL_FILE).read_bytes()
    meta = json.loads(raw)
    assert raw == json.dumps(meta, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert "°" in meta["vocabulary"]
    assert served.index_version == index_version(model_dir)
    assert len(served.index_version) == 32
    assert meta["index"]["min_length"] == text.DEFAULT_MIN_LENGTH
    assert len(bytes.fromhex(meta["index"]["digest"])) == 32


def test_index_version_changes_with_the_index(model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(model_dir, copy)
    text.build_index(copy, min_length=20)
    assert index_version(copy) != index_version(model_dir)
    assert text.load_served(copy).min_length == 20


def test_exact_inference_predicts_like_the_trained_float_model(model_dir: Path, served: text.TextModel) -> None:
    documents = [(cid, blob.decode()) for cid, blob in text.example_contributions()]
    contexts, targets = text._training_examples(documents, served.vocabulary, served.context)
    net = text.CharMLP(len(served.vocabulary), served.context, text.EMBED, text.HIDDEN)
    net.load_state_dict(load_file(str(model_dir / text.WEIGHTS_FILE)))
    with torch.no_grad():
        float_best = net(contexts).argmax(dim=1)
    exact = served._net.logits(contexts)
    assert torch.equal(exact, torch.round(exact)), "the fixed-point logits are integers"
    exact_best = exact.argmax(dim=1)
    assert (exact_best == float_best).float().mean().item() >= 0.999
    # The model has learnt its corpus: nearly every next character is predicted.
    assert (exact_best == targets).float().mean().item() >= 0.99
    # Logits of a batch equal the logits of each context alone.
    for row in (0, 1000, len(targets) - 1):
        assert torch.equal(served._net.logits(contexts[row : row + 1])[0], exact[row])


def test_generation_is_deterministic(model_dir: Path, served: text.TextModel) -> None:
    prompts = [p for _, p in _echo_prompts()] + ["Hello world, my name is", "x"]
    first = [served.infer(served.parse_input(p.encode())) for p in prompts]
    reloaded = text.load_served(model_dir)
    assert [reloaded.infer(reloaded.parse_input(p.encode())) for p in prompts] == first
    assert [served.infer(served.parse_input(p.encode())) for p in prompts] == first
    assert all(0 < len(out.decode()) <= text.MAX_NEW_CHARS for out in first)


def test_echoed_phrase_is_attributed_to_its_contribution(served: text.TextModel) -> None:
    corpus = dict(text.example_contributions())
    for contribution_id, prompt in _echo_prompts():
        output = served.infer(served.parse_input(prompt.encode()))
        # The model continues the phrase the way its contributor wrote it.
        assert (prompt.encode() + output[:20]) in corpus[contribution_id], (prompt, output)
        credit = served.attribute(prompt.encode(), output)
        assert all(isinstance(v, Fraction) for v in credit.values())
        assert sum(credit.values()) <= len(output.decode())
        weights = dict(reward_weights(credit))
        top = max(weights, key=lambda cid: weights[cid])
        assert top == contribution_id, (prompt, output, weights)
        assert weights[contribution_id] > WEIGHT_DENOMINATOR // 2


def test_credit_follows_the_output_not_the_prompt(served: text.TextModel) -> None:
    corpus = {cid: blob.decode() for cid, blob in text.example_contributions()}
    prompt = corpus[1][:60]  # the lighthouse keeper's words
    output = corpus[10][:50]  # the beekeeper's
    credit = served.attribute(prompt.encode(), output.encode())
    assert credit == {10: Fraction(50)}
    # Unmatched output earns nothing, however well the prompt matches.
    assert served.attribute(prompt.encode(), b" qzx vvv jjj kkk www") == {}
    # A span that several contributions hold is split equally among them.
    shared = " a handful of co"  # the smith's coke, the preserver's coarse salt
    assert [cid for cid, t in corpus.items() if shared in t] == [8, 12]
    assert served.attribute(b"zzzz", shared.encode()) == {8: Fraction(8), 12: Fraction(8)}
    # Matches shorter than min_length are common English, not copying: no credit.
    assert served.attribute(b"zzzz", b" and the ") == {}


def test_attribution_is_identical_on_one_and_two_threads(model_dir: Path, torch_threads: None) -> None:
    prompts = [p for _, p in _echo_prompts()[:6]] + ["Hello world, my name is"]
    results = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        model = text.load_served(model_dir)
        run = []
        for prompt in prompts:
            output = model.infer(model.parse_input(prompt.encode()))
            credit = model.attribute(prompt.encode(), output)
            split = reward_weights(credit) if credit else []
            run.append((output, credit, split, attribution_hash(1, QUERY_HASH, split) if split else None))
        results.append(run)
    assert results[0] == results[1]


def test_bad_prompts_are_refused_with_the_reason(served: text.TextModel) -> None:
    cases = [
        (b"", "prompt is empty"),
        (b"a" * (text.MAX_PROMPT_BYTES + 1), f"prompt is {text.MAX_PROMPT_BYTES + 1} bytes, the limit is {text.MAX_PROMPT_BYTES}"),
        (b"caf\xc3", "prompt is not valid UTF-8: unexpected end of data at byte 3"),
        (b"ab\xffcd", "prompt is not valid UTF-8: invalid start byte at byte 2"),
        (b"ab\x00cd", "prompt contains a NUL character at byte 2"),
    ]
    for data, message in cases:
        with pytest.raises(InputError) as info:
            served.parse_input(data)
        assert str(info.value) == message
        assert isinstance(info.value, AttributionError)
    with pytest.raises(InputError, match="prompt must be bytes, got str"):
        served.parse_input("a str")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="output is not valid UTF-8: invalid start byte at byte 1"):
        served.attribute(b"The keeper", b"a\xff")
    # Exactly at the limit, and characters the corpus never had, are accepted.
    assert served.parse_input(b"a" * text.MAX_PROMPT_BYTES)
    assert served.infer(served.parse_input("Καλημέρα".encode())) is not None


def test_train_refuses_bad_contributions(tmp_path: Path) -> None:
    cases = [
        ([], "no contributions to train on"),
        ([(0, b"text")], "contribution id 0 is not a positive integer"),
        ([(1, b"one"), (1, b"two")], "contribution 1 appears twice"),
        ([(3, b"ok \xff")], "contribution 3 is not UTF-8 text: invalid start byte at byte 3"),
        ([(4, b"")], "contribution 4 is empty"),
        ([(5, "text")], "contribution 5: content is str, expected bytes"),
    ]
    for contributions, message in cases:
        with pytest.raises(InputError) as info:
            text.train(contributions, tmp_path / "out")  # type: ignore[arg-type]
        assert str(info.value) == message
    assert not (tmp_path / "out").exists()


def test_retraining_replaces_the_model_and_drops_its_index(tmp_path: Path) -> None:
    out = tmp_path / "model"
    text.train([(1, b"The first model's only text.")], out)
    text.build_index(out)
    first = index_version(out)
    text.train([(2, b"Another text, another model.")], out)
    assert not (out / text.INDEX_DIR).exists()
    assert json.loads((out / text.MODEL_FILE).read_bytes())["index"] is None
    with pytest.raises(ModelDirError, match="has no span index: run `openledger-attribution index --model-dir"):
        text.load_served(out)
    text.build_index(out)
    assert index_version(out) != first


def test_load_checks_the_model_directory(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelDirError, match="no model.json in"):
        text.load_served(tmp_path)

    unindexed = tmp_path / "unindexed"
    shutil.copytree(model_dir, unindexed)
    meta = json.loads((unindexed / text.MODEL_FILE).read_bytes())
    meta["index"] = None
    (unindexed / text.MODEL_FILE).write_bytes(canonical_json(meta))
    with pytest.raises(ModelDirError, match="has no span index"):
        text.load_served(unindexed)

    tampered = tmp_path / "tampered"
    shutil.copytree(model_dir, tampered)
    state = load_file(str(tampered / text.WEIGHTS_FILE))
    state["output.bias"][0] += 1.0
    from safetensors.torch import save_file

    save_file(state, str(tampered / text.WEIGHTS_FILE))
    with pytest.raises(ModelDirError, match="weights.safetensors does not match the sha256 in model.json"):
        text.load_served(tampered)

    stale = tmp_path / "stale"
    shutil.copytree(model_dir, stale)
    tokens = stale / text.INDEX_DIR / "tokens.npy"
    import numpy as np

    np.save(tokens, np.load(tokens)[::-1].copy())
    with pytest.raises(ModelDirError, match="does not match the index digest in model.json"):
        text.load_served(stale)

    digits = tmp_path / "digits"
    digits.mkdir()
    (digits / text.MODEL_FILE).write_bytes(canonical_json({"kind": "digits", "format": 1}))
    with pytest.raises(ModelDirError, match="is a digits model of format 1, not a text model of format 1"):
        text.load_served(digits)

    with pytest.raises(ValueError, match="the text model's index takes no option rank_in"):
        text.build_index(model_dir, rank_in=4)
    with pytest.raises(ValueError, match="min_length must be a positive integer, got 0"):
        text.build_index(model_dir, min_length=0)


def test_served_through_the_payable_protocol(model_dir: Path, served: text.TextModel) -> None:
    model = load_served_model(model_dir)
    assert isinstance(model, text.TextModel) and isinstance(model, ServedModel)
    assert model.kind == "text" and model.index_version == served.index_version
    prompt = _echo_prompts()[4][1].encode()
    result = attribute_query(model, 42, prompt)
    assert result.record == QueryRecord(42, served.index_version, prompt, served.infer(served.parse_input(prompt)))
    assert result.top[0][0] == 5  # the glassblower wrote the echoed phrase
    assert sum(result.weights) == WEIGHT_DENOMINATOR
    assert result.attribution_hash == attribution_hash(42, result.query_hash, result.split)
    # The verifier's recomputation from the record alone gives the same settlement.
    again = attribute_query(text.load_served(model_dir), 42, result.record.input, result.record.output)
    assert again == result
