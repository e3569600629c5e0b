"""qa.answering.selector: the shipped answer selector, end to end on tiny corpora; and selector files that cannot serve."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from qa.config import default_selector
from qa.answering.evidence import FEATURES
from qa.pipeline import Assistant
from qa.answering.selector import SELECTOR_FILE, Selector, SelectorError

SHIPPED = Path(default_selector())
DATA = Path(__file__).parents[1] / "data" / "selector"


@pytest.fixture
def selector_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped selector's folder."""
    target = tmp_path / "selector"
    shutil.copytree(SHIPPED, target)
    return target


def corpus_of(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir(parents=True)
    for name in names:
        shutil.copy(DATA / name, folder / name)
    return folder


def test_the_shipped_selector_is_for_the_bundled_reader(trained_reader_model: str) -> None:
    selector = Selector(SHIPPED / SELECTOR_FILE, trained_reader_model)
    selector.warm_up()
    assert 0.0 < selector.threshold < 1.0


def test_a_question_whose_subject_and_object_are_both_candidates(tmp_path: Path, trained_reader_model: str) -> None:
    a = Assistant(corpus_of(tmp_path, "lease.txt"), tmp_path / "index", reader_model=trained_reader_model)
    answer = a.ask("Who signed the lease for the Tenant?")
    assert "Omar Haddad" in answer.text and answer.source == "lease.txt"
    assert 0.0 <= answer.score <= 1.0
    assert all(alt.score <= answer.score for alt in answer.alternatives)


def test_a_question_answered_in_two_documents(tmp_path: Path, trained_reader_model: str) -> None:
    a = Assistant(corpus_of(tmp_path, "museum.txt", "guide.txt", "lease.txt"), tmp_path / "index",
                  reader_model=trained_reader_model)
    answer = a.ask("At what time does the harbour museum open on Sundays?")
    assert answer.text == "10 am" and answer.source in ("museum.txt", "guide.txt")
    assert answer.score >= a.threshold and {h.chunk.source for h in answer.passages} >= {"museum.txt", "guide.txt"}
    for alt in answer.alternatives:  # another candidate may be the same answer in the other file, never this one
        assert alt.source != answer.source or alt.end <= answer.start or alt.start >= answer.end


def test_a_question_the_corpus_cannot_answer(tmp_path: Path, trained_reader_model: str) -> None:
    a = Assistant(corpus_of(tmp_path, "lease.txt", "museum.txt"), tmp_path / "index", reader_model=trained_reader_model)
    answer = a.ask("What is the boiling point of liquid nitrogen in kelvin?")
    assert answer.abstained and answer.text == ""
    assert answer.score == (answer.alternatives[0].score if answer.alternatives else 0.0)
    assert answer.score < a.threshold


def test_a_missing_selector_names_the_file_and_how_to_rebuild(tmp_path: Path, trained_reader_model: str) -> None:
    with pytest.raises(SelectorError, match=r"no answer selector at .*selector\.json.*train_selector\.py"):
        Selector(tmp_path / SELECTOR_FILE, trained_reader_model).warm_up()


def test_a_truncated_selector_is_a_clear_error(selector_copy: Path, trained_reader_model: str) -> None:
    path = selector_copy / SELECTOR_FILE
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(SelectorError, match=r"damaged.*train_selector\.py"):
        Selector(path, trained_reader_model).warm_up()


def test_a_selector_of_another_feature_version_is_refused(selector_copy: Path, trained_reader_model: str) -> None:
    path = selector_copy / SELECTOR_FILE
    model = json.loads(path.read_text())
    model["feature_version"] += 1
    path.write_text(json.dumps(model))
    with pytest.raises(SelectorError, match=r"features of version .*train_selector\.py"):
        Selector(path, trained_reader_model).warm_up()


@pytest.mark.parametrize("damage", ["a node too few", "a node past the end", "no trees", "no baseline"])
def test_a_selector_of_the_wrong_shape_is_refused(selector_copy: Path, trained_reader_model: str,
                                                  damage: str) -> None:
    path = selector_copy / SELECTOR_FILE
    model = json.loads(path.read_text())
    for key in ("bias", "weights"):  # the shipped file may be a logistic map: these are trees
        model.pop(key, None)
    tree = {"feature": [0, 0, 0], "threshold": [0.5, 0.0, 0.0], "left": [1, -1, -1], "right": [2, -1, -1],
            "value": [0.0, -1.0, 1.0]}
    model |= {"model": "gradient-boosted trees", "baseline": 0.1, "depth": 1, "trees": [tree]}
    path.write_text(json.dumps(model))
    Selector(path, trained_reader_model).warm_up()  # whole, these trees load: what is refused below is the damage
    if damage == "a node too few":
        tree["value"] = tree["value"][:-1]
    elif damage == "a node past the end":
        tree["left"][0] = len(tree["left"])
    elif damage == "no trees":
        model["trees"] = []
    else:
        del model["baseline"]
    path.write_text(json.dumps(model))
    with pytest.raises(SelectorError, match=r"wrong shape.*train_selector\.py"):
        Selector(path, trained_reader_model).warm_up()


def test_a_selector_for_another_reader_is_refused(tmp_path: Path, selector_copy: Path,
                                                  trained_reader_model: str) -> None:
    from safetensors.numpy import load_file, save_file

    other = tmp_path / "other-reader"
    shutil.copytree(trained_reader_model, other)
    weights = load_file(other / "model.safetensors")
    head = next(k for k in weights if "qa_outputs" in k and k.endswith("bias"))
    weights[head] = weights[head] + 1  # a reader with other weights: retrained, say
    save_file(weights, other / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(SelectorError, match=r"trained for another reader.*train_selector\.py"):
        Selector(selector_copy / SELECTOR_FILE, str(other)).warm_up()
    # ... and the assistant says so before indexing anything.
    with pytest.raises(SelectorError):
        Assistant(corpus_of(tmp_path, "lease.txt"), tmp_path / "index", reader_model=str(other),
                  selector_model=str(selector_copy)).ask("Who signed the lease?")
    assert not (tmp_path / "index").exists()


def test_without_a_selector_the_reader_confidence_ranks(tmp_path: Path, trained_reader_model: str) -> None:
    a = Assistant(corpus_of(tmp_path, "lease.txt"), tmp_path / "index", reader_model=trained_reader_model,
                  selector_model="", answer_threshold=0.0)
    answer = a.ask("Who signed the lease for the Tenant?")
    ranked = [answer, *answer.alternatives]
    assert a.selector is None and answer.text
    assert [x.score for x in ranked] == sorted((x.score for x in ranked), reverse=True)


def test_features_and_file_agree(selector_copy: Path) -> None:
    model = json.loads((selector_copy / SELECTOR_FILE).read_text())
    assert model["features"] == list(FEATURES)


def test_trees_are_walked_as_written() -> None:
    from qa.answering.selector import trees_from_json

    stump = {"feature": [0, 0, 0], "threshold": [0.5, 0.0, 0.0], "left": [1, -1, -1], "right": [2, -1, -1],
             "value": [0.0, -1.0, 1.0]}
    deeper = {"feature": [1, 0, 0, 0, 0], "threshold": [2.0, 0.0, 0.0, 0.0, 0.0], "left": [1, -1, 3, -1, -1],
              "right": [2, -1, 4, -1, -1], "value": [0.0, 0.5, 0.0, 0.25, 0.0]}
    trees = trees_from_json({"baseline": 0.1, "depth": 2, "trees": [stump, deeper]})
    x = [[0.2, 1.0], [0.9, 3.0], [0.5, 2.0]]
    # Row 0: the stump goes left (-1), the deeper tree left (0.5). Row 1: right (+1); right, then x0 = 0.9 > 0
    # right again (0.0). Row 2: a value at the threshold goes left in both (-1 and 0.5).

    expected = 1 / (1 + np.exp(-np.array([0.1 - 1 + 0.5, 0.1 + 1 + 0.0, 0.1 - 1 + 0.5])))
    assert trees.probabilities(np.array(x)) == pytest.approx(expected)


def test_a_logistic_selector_on_the_reader_confidence_keeps_its_ranking(tmp_path: Path, selector_copy: Path,
                                                                        trained_reader_model: str) -> None:
    path = selector_copy / SELECTOR_FILE
    model = json.loads(path.read_text())
    weights = [0.0] * len(FEATURES)
    weights[FEATURES.index("confidence_logit")] = 0.8
    for key in ("trees", "baseline", "depth"):
        model.pop(key, None)
    path.write_text(json.dumps(model | {"model": "logistic", "bias": -0.3, "weights": weights, "threshold": 0.2}))
    a = Assistant(corpus_of(tmp_path, "lease.txt", "museum.txt"), tmp_path / "index",
                  reader_model=trained_reader_model, selector_model=str(selector_copy))
    plain = Assistant(a.settings.corpus, tmp_path / "index", reader_model=trained_reader_model, selector_model="",
                      answer_threshold=0.0)
    question = "Who signed the lease for the Tenant?"
    answer, reader_only = a.ask(question), plain.ask(question)
    assert a.threshold == 0.2
    # Recalibrated, not reordered: the same candidates in the same order, each at sigmoid(0.8 logit(c) - 0.3).
    assert [x.text for x in (answer, *answer.alternatives)] == [x.text for x in (reader_only, *reader_only.alternatives)]
    for mine, theirs in zip((answer, *answer.alternatives), (reader_only, *reader_only.alternatives)):
        c = min(max(theirs.score, 1e-6), 1 - 1e-6)
        assert mine.score == pytest.approx(1 / (1 + np.exp(0.3 - 0.8 * np.log(c / (1 - c)))), abs=1e-4)
    model["weights"] = weights[:-1]
    path.write_text(json.dumps(model | {"model": "logistic", "bias": 0.0}))
    with pytest.raises(SelectorError, match=r"wrong shape.*weights for"):
        Selector(path, trained_reader_model).warm_up()
