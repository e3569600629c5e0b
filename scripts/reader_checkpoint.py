"""A training run saved every few steps and resumed where it stopped: the model's and AdamW's tensors as
safetensors, the step and optimizer settings as JSON (no pickle), swapped in whole so a kill mid-save loses
nothing but the steps since the last save."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

from script_common import log


class Checkpoint:
    """The run in `folder`, saved every `every` steps."""

    def __init__(self, folder: Path, every: int) -> None:
        self.folder = Path(folder)
        self.every = every

    def restore(self, model, opt, sched) -> int:
        """Load the last saved run into the model, optimizer and schedule; the step it reached (0: none)."""
        import torch
        from safetensors.torch import load_file

        old = self.folder.with_name(self.folder.name + ".old")
        if not self.folder.exists() and old.is_dir():  # killed between the two renames of `save`
            os.replace(old, self.folder)
        meta_path = self.folder / "checkpoint.json"
        if not meta_path.is_file():
            return 0
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        model.load_state_dict(load_file(self.folder / "model.safetensors"))
        tensors = load_file(self.folder / "optimizer.safetensors")
        torch.set_rng_state(tensors.pop("torch_rng_state"))  # dropout goes on as in an unbroken run
        state = {int(i): {k: tensors[f"{i}.{k}"] for k in names} for i, names in meta["optimizer_state"].items()}
        opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
        with warnings.catch_warnings():  # stepping the schedule alone is the point here
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(meta["step"]):  # the schedule is a function of the step alone
                sched.step()
        log(f"resumed from {self.folder} at step {meta['step']}")
        return int(meta["step"])

    def save(self, model, opt, step: int) -> None:
        """Save the run at `step`, replacing the last save only once this one is whole."""
        from safetensors.torch import save_file

        tmp = self.folder.with_name(self.folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, tmp / "model.safetensors")
        sd = opt.state_dict()
        import torch

        tensors = {f"{i}.{k}": v.detach().contiguous() for i, s in sd["state"].items() for k, v in s.items()}
        save_file(tensors | {"torch_rng_state": torch.get_rng_state()}, tmp / "optimizer.safetensors")
        meta = {"step": step, "param_groups": sd["param_groups"],
                "optimizer_state": {str(i): sorted(s) for i, s in sd["state"].items()}}
        (tmp / "checkpoint.json").write_text(json.dumps(meta), encoding="utf-8")
        old = self.folder.with_name(self.folder.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if self.folder.exists():
            os.replace(self.folder, old)
        os.replace(tmp, self.folder)
        shutil.rmtree(old, ignore_errors=True)
        log(f"saved the run at step {step} in {self.folder}")
