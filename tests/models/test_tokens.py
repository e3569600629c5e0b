"""qa.models.tokens: the tokenizers library alone gives transformers' windows, offsets and inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qa.answering.reader import featurize
from qa.models.tokens import count_tokens, encode_texts, load_tokenizer

READER = Path(__file__).resolve().parents[2] / "models" / "reader"
QUESTIONS = ["Who built the lighthouse?", "何?", "Wann?"]
PASSAGES = ["The Old Harbour Lighthouse was built by Thomas Stevenson in 1854 on Gull Point. " * 20,
            "上海海关学院 hosted Mr Tang Ping-keung – the Secretary – on 3 May.", "CafÃ© Rosenâ€™s bakery opened."]


def test_windows_are_transformers_windows() -> None:
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(READER)
    ours = featurize(load_tokenizer(READER), QUESTIONS, PASSAGES, 96, 24)
    ref = hf(QUESTIONS, PASSAGES, truncation="only_second", max_length=96, stride=24, return_overflowing_tokens=True,
             return_offsets_mapping=True, padding="longest")
    assert ours.passage == list(ref["overflow_to_sample_mapping"]) and len(ours.passage) > len(PASSAGES)
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        np.testing.assert_array_equal(ours.inputs[key], np.asarray(ref[key]))
    for w in range(len(ours.passage)):
        seq = ref.sequence_ids(w)
        n = len(ours.offsets[w])  # transformers' lists run on over the padding, all None there
        assert ours.offsets[w] == [tuple(o) if s == 1 else None for o, s in zip(ref["offset_mapping"][w], seq)][:n]
        assert ours.words[w] == [i if s == 1 else None for i, s in zip(ref.word_ids(w), seq)][:n]
        assert set(seq[n:]) <= {None} and n == ours.inputs["attention_mask"][w].sum()
    # A transformers tokenizer may be passed too (the training scripts do): the same windows.
    assert featurize(hf, QUESTIONS, PASSAGES, 96, 24).offsets == ours.offsets


def test_texts_are_truncated_and_padded() -> None:
    tokenizer = load_tokenizer(READER)
    batch = encode_texts(tokenizer, ["a b c d e f g h", "a"], max_length=5)
    np.testing.assert_array_equal(batch["attention_mask"], [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    assert batch["input_ids"][0, -1] == tokenizer.token_to_id("[SEP]")
    # Truncation set for one call does not leak into the next.
    assert count_tokens(tokenizer, "a b c d e f g h") == 8
