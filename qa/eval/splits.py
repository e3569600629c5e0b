"""The one declared split of every question source: what trained the reader, what chose its threshold, what may
train and tune the selector, and what is only reported. `qa eval --split`, the training scripts and the model
cards all ask here.

| source | trained the reader | chose its threshold | may train the selector | reported on |
|---|---|---|---|---|
| SQuAD v1.1 train (420 articles) | all | | no: the reader remembers them | no |
| SQuAD v2.0 dev "train half" (13 articles, in v1.1 dev too) | `READER_TRAINED` (9) | `READER_THRESHOLD` (4) | no | no |
| SQuAD v1.1 dev, the other 35 articles (v2.0's report half, 22, among them) | no | no | cross-fitted by article (`fold`) | yes: `clean` |
| CUAD, PolicyQA (`../shared/data/realdocs`) | the `train` part, by document | | the `train` part | the `report` part |
| `seeds/`, `eval/seeds.jsonl` | no | no | no | yes |

A figure on the clean SQuAD articles that involves the selector comes from a selector that never saw the article
(`scripts/train_selector.py` cross-fits it); the shipped selector is trained on every fold.
"""

from __future__ import annotations

import hashlib

SQUAD_DEV_ARTICLES = frozenset("""1973_oil_crisis Amazon_rainforest American_Broadcasting_Company Apollo_program
Black_Death Chloroplast Civil_disobedience Computational_complexity_theory Construction Ctenophora Doctor_Who
Economic_inequality European_Union_law Force French_and_Indian_War Fresno,_California Genghis_Khan Geology
Harvard_University Huguenot Immune_system Imperialism Intergovernmental_Panel_on_Climate_Change Islamism
Jacksonville,_Florida Kenya Martin_Luther Newcastle_upon_Tyne Nikola_Tesla Normans Oxygen Packet_switching Pharmacy
Prime_number Private_school Rhine Scottish_Parliament Sky_(United_Kingdom) Southern_California Steam_engine
Super_Bowl_50 Teacher United_Methodist_Church University_of_Chicago Victoria_(Australia) Victoria_and_Albert_Museum
Warsaw Yuan_dynasty""".split())  # the 48 articles of SQuAD v1.1 dev; v2.0 dev's 35 are among them
READER_TRAINED = frozenset("""1973_oil_crisis Civil_disobedience Construction Ctenophora Huguenot Packet_switching
Scottish_Parliament Southern_California Warsaw""".split())  # v2.0 dev train-half articles in the reader's training
READER_THRESHOLD = frozenset("""Computational_complexity_theory Islamism Normans Private_school""".split())
# ... and the four whose questions chose the reader's threshold (models/reader/qa_reader.json, threshold_data)

SPLITS = ("all", "report", "train")


def report_half(title: str) -> bool:
    """Whether a SQuAD v2.0 dev article is in the half reported on; the rule that made the 13 train-half articles."""
    return hashlib.sha1(title.encode("utf-8")).digest()[0] % 2 == 1


def squad_part(title: str) -> str:
    """What a SQuAD article was used for: "reader" (trained it), "threshold" (chose its threshold) or "clean"."""
    if title in READER_THRESHOLD:
        return "threshold"
    if title in SQUAD_DEV_ARTICLES and title not in READER_TRAINED:
        return "clean"
    return "reader"  # every v1.1 train article, and the nine


def document_part(doc: str) -> str:
    """A real document's part, by a fixed hash of its file name: "train" (may train and tune) or "report"."""
    return "report" if hashlib.sha1(f"realdocs:{doc}".encode("utf-8")).digest()[0] % 2 == 1 else "train"


def in_split(split: str, *, article: str | None = None, doc: str | None = None) -> bool:
    """Whether a SQuAD article, or a question asked of the document `doc`, belongs to `split` (all, report, train)."""
    if split == "all":
        return True
    reported = squad_part(article) == "clean" if article is not None else document_part(doc) == "report"
    return reported == (split == "report")


def fold(key: str, folds: int) -> int:
    """The cross-fitting fold of an article or document: a fixed hash, so that every run cuts the same folds."""
    return int.from_bytes(hashlib.sha1(f"fold:{key}".encode("utf-8")).digest()[:4], "big") % folds
