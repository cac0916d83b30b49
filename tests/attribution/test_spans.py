"""Suffix-array span attribution of attribution/spans.py on a small text task."""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.errors import IndexMismatchError, IndexNotFoundError
from attribution.spans import (
    SEPARATOR,
    Span,
    SpanIndex,
    load_span_index,
    save_span_index,
    span_index_exists,
    suffix_array_divsufsort,
    suffix_array_numpy,
)
from attribution.split import reward_weights

# ------------------------------------------------------------------ text task

SHARED_WORDS = ["the", "a", "of", "and", "to", "in", "with", "near"]
NUM_CONTRIBUTORS = 5
SENTENCES_PER_CONTRIBUTOR = 20
SHARED_SPAN = ["the", "amber", "falcon", "sings", "of", "rivers", "near", "winter"]
SHARED_OWNERS = (104, 309)  # contributor 1 sentence 4, contributor 3 sentence 9


class Vocabulary:
    """Word-level tokeniser built from the corpus; unknown words get fresh ids."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def encode(self, text: str | list[str]) -> list[int]:
        words = text.split() if isinstance(text, str) else text
        return [self.ids.setdefault(word, len(self.ids)) for word in words]


def _sentence(rng: random.Random, own_words: list[str]) -> list[str]:
    """Template: (shared own own own) x 4, each contributor drawing from its own words."""
    words: list[str] = []
    for _ in range(4):
        words.append(rng.choice(SHARED_WORDS))
        words.extend(rng.choice(own_words) for _ in range(3))
    return words


def _text_task() -> tuple[dict[int, list[str]], Vocabulary]:
    """contribution id (100 * contributor + sentence) -> words; one contribution per sentence."""
    rng = random.Random(1234)
    corpus: dict[int, list[str]] = {}
    for contributor in range(1, NUM_CONTRIBUTORS + 1):
        own_words = [f"c{contributor}w{j}" for j in range(25)]
        for sentence in range(SENTENCES_PER_CONTRIBUTOR):
            corpus[100 * contributor + sentence] = _sentence(rng, own_words)
    for owner in SHARED_OWNERS:
        corpus[owner] = corpus[owner][:5] + SHARED_SPAN + corpus[owner][5:]
    vocab = Vocabulary()
    for words in corpus.values():
        vocab.encode(words)
    return corpus, vocab


@pytest.fixture(scope="module")
def text_task() -> tuple[dict[int, list[str]], Vocabulary, SpanIndex]:
    corpus, vocab = _text_task()
    index = SpanIndex.build([(cid, vocab.encode(words)) for cid, words in corpus.items()])
    return corpus, vocab, index


def test_planted_copy_gets_top_attribution(text_task: tuple[dict[int, list[str]], Vocabulary, SpanIndex]) -> None:
    """A "model output" copying a 6-12 token span of one sentence, with other corpus
    words and unseen words edited in around it, is attributed mostly to that sentence."""
    corpus, vocab, index = text_task
    rng = random.Random(99)
    all_words = [w for words in corpus.values() for w in words]
    sources = [cid for cid in corpus if cid not in SHARED_OWNERS]
    for trial in range(100):
        source = rng.choice(sources)
        words = corpus[source]
        length = rng.randint(6, 12)
        start = rng.randrange(0, len(words) - length + 1)
        copied = words[start : start + length]

        def edits(n: int) -> list[str]:
            return [rng.choice(all_words) if rng.random() < 0.5 else f"novel{rng.randrange(50)}" for _ in range(n)]

        # A shorter (4-5 token) decoy copied from another sentence competes for credit.
        decoy_words = corpus[rng.choice([cid for cid in sources if cid != source])]
        decoy_length = rng.randint(4, 5)
        decoy_start = rng.randrange(0, len(decoy_words) - decoy_length + 1)
        decoy = decoy_words[decoy_start : decoy_start + decoy_length]
        # An unseen word on each side of the copy stands for the model's edit there.
        output = (
            decoy + edits(rng.randint(1, 8)) + ["edited"] + copied + ["edited"] + edits(rng.randint(0, 8))
        )
        scores = index.attribute(vocab.encode(output), min_length=4)
        top = max(scores, key=lambda cid: (scores[cid], -cid))
        assert top == source, f"trial {trial}: {scores}"
        assert len(scores) >= 2, f"trial {trial}: the decoy was not matched: {scores}"
        assert scores[source] >= length
        # The settlement built from these scores pays the source the largest weight.
        weights = dict(reward_weights(scores))
        assert max(weights, key=lambda cid: weights[cid]) == source


def test_planted_copy_aggregates_to_its_contributor(
    text_task: tuple[dict[int, list[str]], Vocabulary, SpanIndex],
) -> None:
    corpus, vocab, index = text_task
    output = ["novel1"] + corpus[205][2:12] + ["novel2", "novel3"] + corpus[211][0:3]
    per_contributor: dict[int, float] = defaultdict(float)
    for cid, score in index.attribute(vocab.encode(output)).items():
        per_contributor[cid // 100] += score
    assert max(per_contributor, key=lambda c: per_contributor[c]) == 2


def test_shared_span_is_split_between_contributions(
    text_task: tuple[dict[int, list[str]], Vocabulary, SpanIndex],
) -> None:
    _, vocab, index = text_task
    output = ["novel1", "novel2"] + SHARED_SPAN + ["novel3"]
    spans = index.find_spans(vocab.encode(output), min_length=4)
    assert spans == [Span(2, 2 + len(SHARED_SPAN), SHARED_OWNERS)]
    scores = index.attribute(vocab.encode(output), min_length=4)
    assert scores == {SHARED_OWNERS[0]: len(SHARED_SPAN) / 2, SHARED_OWNERS[1]: len(SHARED_SPAN) / 2}
    assert reward_weights(scores) == [(SHARED_OWNERS[0], 500_000), (SHARED_OWNERS[1], 500_000)]


def test_match_shorter_than_min_length_is_ignored(
    text_task: tuple[dict[int, list[str]], Vocabulary, SpanIndex],
) -> None:
    corpus, vocab, index = text_task
    output = ["novel1"] + corpus[402][4:7] + ["novel2"]  # 3 copied tokens
    tokens = vocab.encode(output)
    assert index.find_spans(tokens, min_length=4) == []
    assert index.attribute(tokens, min_length=4) == {}
    spans = index.find_spans(tokens, min_length=3)
    assert len(spans) == 1 and (spans[0].start, spans[0].end) == (1, 4)
    assert 402 in spans[0].contribution_ids


def test_match_does_not_cross_document_boundaries(
    text_task: tuple[dict[int, list[str]], Vocabulary, SpanIndex],
) -> None:
    corpus, vocab, index = text_task
    # End of sentence 100 followed by the start of sentence 101: adjacent in the index.
    output = corpus[100][-5:] + corpus[101][:5]
    spans = index.find_spans(vocab.encode(output), min_length=4)
    assert [(s.start, s.end) for s in spans] == [(0, 5), (5, 10)]


# ------------------------------------------------------- exactness vs brute force


def _brute_force_spans(documents: list[tuple[int, list[int]]], query: list[int], min_length: int) -> list[Span]:
    def contains(doc: list[int], piece: list[int]) -> bool:
        return any(doc[j : j + len(piece)] == piece for j in range(len(doc) - len(piece) + 1))

    spans = []
    i = 0
    while i < len(query):
        length = 0
        while i + length < len(query) and any(contains(d, query[i : i + length + 1]) for _, d in documents):
            length += 1
        if length >= min_length:
            piece = query[i : i + length]
            owners = tuple(sorted({cid for cid, d in documents if contains(d, piece)}))
            spans.append(Span(i, i + length, owners))
            i += length
        else:
            i += 1
    return spans


small_documents = st.lists(
    st.tuples(st.integers(min_value=1, max_value=6), st.lists(st.integers(min_value=0, max_value=3), max_size=25)),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(small_documents, st.lists(st.integers(min_value=0, max_value=4), max_size=30), st.integers(1, 5))
def test_find_spans_matches_brute_force(
    documents: list[tuple[int, list[int]]], query: list[int], min_length: int
) -> None:
    index = SpanIndex.build(documents)
    assert index.find_spans(query, min_length) == _brute_force_spans(documents, query, min_length)
    for i in range(len(query)):
        length, lo, hi = index.longest_match(query, i)
        brute = next(
            (n for n in range(len(query) - i, 0, -1) if any(
                d[j : j + n] == query[i : i + n] for _, d in documents for j in range(len(d) - n + 1)
            )),
            0,
        )
        assert length == brute
        if length:
            occurrences = sum(
                d[j : j + length] == query[i : i + length] for _, d in documents for j in range(len(d) - length + 1)
            )
            assert hi - lo == occurrences == index.count(query[i : i + length])


def _naive_suffix_array(values: list[int]) -> list[int]:
    return sorted(range(len(values)), key=lambda i: values[i:])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=-1, max_value=5), max_size=80))
def test_suffix_array_backends_match_naive_sort(values: list[int]) -> None:
    array = np.asarray(values, dtype=np.int32)
    expected = _naive_suffix_array(values)
    assert suffix_array_numpy(array).tolist() == expected
    assert suffix_array_divsufsort(array).tolist() == expected


def test_suffix_array_backends_agree_on_text_task(
    text_task: tuple[dict[int, list[str]], Vocabulary, SpanIndex],
) -> None:
    _, _, index = text_task
    assert index.backend == "pydivsufsort"
    assert np.array_equal(suffix_array_numpy(index.tokens), index.suffix_array)
    rng = np.random.default_rng(5)
    large = rng.integers(0, 50, size=20_000).astype(np.int32)
    assert np.array_equal(suffix_array_numpy(large), suffix_array_divsufsort(large))


def test_build_rejects_negative_tokens() -> None:
    with pytest.raises(ValueError, match="token ids"):
        SpanIndex.build([(1, [3, SEPARATOR, 4])])


def test_empty_index_matches_nothing() -> None:
    index = SpanIndex.build([])
    assert index.find_spans([1, 2, 3], min_length=1) == []
    assert index.attribute([1, 2, 3], min_length=1) == {}


# ------------------------------------------------------------------- save / load


def test_save_load_round_trip(
    tmp_path: Path, text_task: tuple[dict[int, list[str]], Vocabulary, SpanIndex]
) -> None:
    corpus, vocab, index = text_task
    directory = tmp_path / "span-index"
    assert not span_index_exists(directory)
    save_span_index(index, directory)
    assert span_index_exists(directory)
    loaded = load_span_index(directory)
    for name in ("tokens", "suffix_array", "doc_starts", "doc_contributions"):
        assert np.array_equal(getattr(loaded, name), getattr(index, name))
    assert loaded.backend == index.backend
    output = vocab.encode(["novel1"] + corpus[305][3:13] + SHARED_SPAN)
    assert loaded.find_spans(output) == index.find_spans(output)
    assert loaded.attribute(output) == index.attribute(output)
    manifest = directory / "span_index.json"
    text = manifest.read_text()
    manifest.write_text(text.replace('"num_tokens": ', '"num_tokens": 1'))
    with pytest.raises(IndexMismatchError, match="num_tokens"):
        SpanIndex.load(directory)
    manifest.unlink()
    assert not SpanIndex.exists(directory)
    with pytest.raises(IndexNotFoundError, match="no span index"):
        SpanIndex.load(directory)
