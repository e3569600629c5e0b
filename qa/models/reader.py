"""Loading a reader's model: ONNX Runtime for a BERT folder on the CPU, transformers for anything else.

Both give the same call: token arrays in, start and end logits out as one [batch, tokens, 2] array.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np

from qa.models.bert_onnx import BertOnnx, is_bert_folder
from qa.errors import ModelError
from qa.models.hub import load_by_name
from qa.models.tokens import load_tokenizer

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class TorchQA:
    """A transformers question-answering model behind BertOnnx's call."""

    def __init__(self, model, device: str) -> None:
        self._model, self._device = model, device
        self._inputs = [k for k in INPUTS if k in inspect.signature(model.forward).parameters]

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray,
                 token_type_ids: np.ndarray | None = None) -> np.ndarray:
        """float32 [batch, tokens, 2]: start and end logits."""
        import torch

        arrays = dict(zip(INPUTS, (input_ids, attention_mask, token_type_ids)))
        with torch.inference_mode():
            out = self._model(**{k: torch.from_numpy(arrays[k]).to(self._device) for k in self._inputs
                                 if arrays[k] is not None})
        return np.stack([out.start_logits.float().cpu().numpy(), out.end_logits.float().cpu().numpy()], axis=-1)


def load_qa_model(name: str, device: str = "cpu"):
    """A QA model (called as TorchQA is) and its tokenizer, from a folder or hub name; it must have a QA head."""
    path = Path(name).expanduser()
    local = path.is_dir()
    if not local and (path.is_absolute() or name.startswith((".", "~")) or path.exists()):
        raise ModelError(_missing_message(name))
    if local and device == "cpu" and is_bert_folder(path, "qa"):
        try:
            return BertOnnx(path, "qa"), load_tokenizer(path)
        except KeyError as exc:
            what = "trained question-answering head" if "qa_outputs" in str(exc) else "complete set of BERT weights"
            raise ModelError(f"the model at {name} has no {what} ({exc.args[0]} is missing)") from exc
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load the reader {name!r}: {exc}") from exc
    return _load_with_transformers(name, path, local, device)


def _load_with_transformers(name: str, path: Path, local: bool, device: str):
    from transformers import AutoConfig, AutoModelForQuestionAnswering, AutoTokenizer

    source = str(path.resolve()) if local else name

    def load(local_only: bool):
        config = AutoConfig.from_pretrained(source, local_files_only=local_only)
        if not any(a.endswith("ForQuestionAnswering") for a in (config.architectures or [])):
            raise ModelError(f"the model at {name} has no question-answering head "
                             f"(its architectures are {config.architectures}); give an extractive QA model")
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
        model, info = AutoModelForQuestionAnswering.from_pretrained(
            source, local_files_only=local_only, output_loading_info=True)
        return tokenizer, model, info

    try:
        tokenizer, model, info = load(True) if local else load_by_name(load, name, "reader")
    except (OSError, ValueError) as exc:
        raise ModelError(_missing_message(name) if local and not (path / "config.json").is_file()
                         else f"cannot load the reader {name!r}: {exc}") from exc
    if any("qa_outputs" in k for k in info.get("missing_keys", [])):
        raise ModelError(f"the model at {name} has no trained question-answering head (qa_outputs is missing)")
    if not getattr(tokenizer, "is_fast", False):
        raise ModelError(f"the reader {name!r} needs a fast tokenizer for character offsets")
    # Weights ship in fp16; fp32 is what runs fast on CPUs, so upcast whatever dtype was loaded.
    return TorchQA(model.float().to(device).eval(), device), tokenizer


def _missing_message(name: str) -> str:
    return (f"no reader model at {name}. The bundled reader is trained with scripts/train_reader.py on a GPU "
            "(see models/README.md); or set QA_READER_MODEL to a local extractive QA model folder, "
            "or to a hub name such as deepset/minilm-uncased-squad2 where a hub is reachable.")
