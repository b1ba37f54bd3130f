"""LoRA training of a model from the model store on data made by :mod:`autonom.tuning.data`.

The base model is read from its GGUF file by transformers (dequantised to float32, so the
default model trains without any hub access), wrapped with peft LoRA adapters on the
attention and MLP projections, and trained on the answers only (prompt tokens carry no
loss). A checkpoint is written at most every ``CHECKPOINT_SECONDS`` and on interruption;
the same command resumes from it when the base model, data and settings are the same. The
result is a GGUF LoRA adapter (:mod:`autonom.tuning.export`) that the embedded engine loads
beside the unchanged base model — chosen over a merged GGUF because the adapter is a few MB
instead of a second copy of the model, loads into a running engine, and is switched per
request.

torch, transformers and peft are an optional extra (``pip install 'autonom[tune]'``).
"""

from __future__ import annotations

import json
import os
import random
import resource
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from autonom.errors import AutonomError, InvalidRequestError, TrainingInterrupted
from autonom.tuning import data as tune_data
from autonom.tuning import export

CHECKPOINT_SECONDS = 60.0
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
MAX_EPOCHS = 100
MAX_RANK = 256


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 3
    rank: int = 16
    alpha: float = 32.0
    lr: float = 3e-4
    batch_size: int = 8
    max_tokens: int = 768
    """Longer examples are cut (the answer must fit)."""
    batch_tokens: int = 2048
    """Tokens per batch, padding included: activations take about 1.5 MB per token for the
    135M default model, so this bounds the memory of a step."""
    max_minutes: float | None = None
    seed: int = 0

    def check(self) -> None:
        if not 1 <= self.epochs <= MAX_EPOCHS:
            raise InvalidRequestError(f"epochs must be between 1 and {MAX_EPOCHS}")
        if not 1 <= self.rank <= MAX_RANK:
            raise InvalidRequestError(f"rank must be between 1 and {MAX_RANK}")
        if not 0 < self.lr < 1:
            raise InvalidRequestError("the learning rate must be above 0 and below 1")
        if not 1 <= self.batch_size <= 512 or not 32 <= self.max_tokens <= 32768:
            raise InvalidRequestError("batch size 1–512 and max tokens 32–32768")
        if self.batch_tokens < self.max_tokens:
            raise InvalidRequestError("batch tokens must be at least max tokens")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise InvalidRequestError("max minutes must be above 0")


@dataclass
class TrainReport:
    adapter: str
    base: str
    data_digest: str
    data_dir: str
    settings: dict[str, Any]
    steps: int
    total_steps: int
    complete: bool
    examples: int
    losses: list[float] = field(default_factory=list)
    wall_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    device: str = "cpu"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


Report = Callable[[int, int, float | None], None]
"""progress: (step, total steps, latest loss)."""


def _torch():
    try:
        import peft
        import torch
        import transformers
    except ImportError as exc:
        raise AutonomError(f"training needs torch, transformers and peft ({exc.name} is "
                           "missing): pip install 'autonom[tune]'") from exc
    _quiet_gguf_reader()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
    warnings.filterwarnings("ignore", category=UserWarning, module="peft")
    return torch, transformers, peft


def _quiet_gguf_reader() -> None:
    """transformers draws its own progress bar while it dequantises a GGUF file, through
    tqdm directly (its logging switches do not reach it); ours is the one users see."""
    import functools

    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    bar = getattr(gguf_utils, "tqdm", None)
    if bar is not None and not isinstance(bar, functools.partial):
        gguf_utils.tqdm = functools.partial(bar, disable=True)  # type: ignore[attr-defined]


def train(base: Path, base_name: str, data_dir: Path, out: Path,
          settings: TrainSettings | None = None, progress: Report | None = None,
          threads: int | None = None, stop: Callable[[], bool] | None = None) -> TrainReport:
    """Trains, writes ``out/adapter.gguf`` and ``out/training.json``; resumes a checkpoint."""
    settings = settings or TrainSettings()
    settings.check()
    manifest = tune_data.read_manifest(data_dir)
    conversations = tune_data.read_train(data_dir)
    if not conversations:
        raise InvalidRequestError(f"{data_dir}: no training examples")
    torch, transformers, peft = _torch()
    if threads:
        torch.set_num_threads(threads)
    started = time.monotonic()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer, model = _load(transformers, base)
    encoded = _encode(tokenizer, conversations, settings)
    plan = [b for epoch in range(settings.epochs) for b in _epoch_batches(encoded, epoch,
                                                                           settings)]
    model = peft.get_peft_model(model, peft.LoraConfig(
        r=settings.rank, lora_alpha=settings.alpha, lora_dropout=0.0,
        target_modules=list(TARGETS), task_type="CAUSAL_LM"))
    model.to(device)
    total = len(plan)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                  lr=settings.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_then_linear(total))
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / "checkpoint"
    identity = {"base": base_name, "data": manifest["digest"], "settings": asdict(settings)}
    step, losses = _resume(torch, peft, checkpoint, identity, model, optimizer, schedule)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    saved_at = time.monotonic()
    autocast = _autocast(torch, device)
    model.train()
    try:
        while step < total:
            if stop is not None and stop():
                raise KeyboardInterrupt
            if settings.max_minutes and time.monotonic() - started > settings.max_minutes * 60:
                break
            batch = _batch(encoded, plan[step], pad, torch, device)
            loss = _loss(model, batch, torch, autocast)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            losses.append(round(float(loss.detach()), 4))
            if progress:
                progress(step, total, losses[-1])
            if time.monotonic() - saved_at > CHECKPOINT_SECONDS and step < total:
                _save(torch, checkpoint, identity, model, optimizer, schedule, step, losses)
                saved_at = time.monotonic()
    except KeyboardInterrupt:
        _save(torch, checkpoint, identity, model, optimizer, schedule, step, losses)
        raise TrainingInterrupted(f"training interrupted at step {step} of {total}; the "
                                  "checkpoint is kept and the same command resumes") from None
    adapter = out / "adapter.gguf"
    try:
        _export(model, base, adapter, settings)
    except OSError as exc:
        _save(torch, checkpoint, identity, model, optimizer, schedule, step, losses)
        raise AutonomError(f"could not write the adapter to {adapter} ({exc.strerror or exc});"
                           " the checkpoint is kept and the same command writes it once "
                           "there is room") from exc
    report = TrainReport(
        adapter=str(adapter), base=base_name, data_digest=manifest["digest"],
        data_dir=str(data_dir.resolve()),
        settings=asdict(settings), steps=step, total_steps=total, complete=step >= total,
        examples=len(encoded), losses=losses,
        wall_seconds=round(time.monotonic() - started, 1),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        device=device)
    (out / "training.json").write_text(json.dumps(report.to_json(), indent=2) + "\n",
                                       encoding="utf-8")
    if report.complete:
        _remove(checkpoint)
    return report


def _load(transformers, base: Path):
    folder, name = str(base.parent), base.name
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = transformers.AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
    except (ValueError, OSError, KeyError, RuntimeError) as exc:
        raise InvalidRequestError(f"{base.name}: transformers cannot load this GGUF model for "
                                  f"training ({exc})") from exc
    if tokenizer.chat_template is None:
        raise InvalidRequestError(f"{base.name} has no chat template to train with")
    return tokenizer, model


def _encode(tokenizer, conversations: list[list[dict[str, str]]],
            settings: TrainSettings) -> list[tuple[list[int], list[int]]]:
    """Token ids and labels per conversation (prompt tokens labelled -100, i.e. no loss)."""
    encoded = []
    for messages in conversations:
        prompt = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True,
                                               tokenize=False)
        whole = tokenizer.apply_chat_template(messages, tokenize=False)
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        ids = tokenizer(whole, add_special_tokens=False)["input_ids"]
        if ids[:len(prompt_ids)] != prompt_ids or len(ids) <= len(prompt_ids):
            continue  # the template does not extend the prompt: cannot mask it safely
        ids = ids[:settings.max_tokens]
        labels = [-100] * len(prompt_ids) + ids[len(prompt_ids):]
        encoded.append((ids, labels[:len(ids)]))
    encoded = [e for e in encoded if any(label != -100 for label in e[1])]
    if not encoded:
        raise InvalidRequestError("no training example fits max_tokens with its answer")
    return encoded


def _epoch_batches(encoded, epoch: int, settings: TrainSettings) -> list[list[int]]:
    """The epoch's batches as example indexes: shuffled, then grouped by similar length
    inside windows of 16 batches (less padding, still mixed), at most ``batch_size``
    examples and ``batch_tokens`` tokens each (memory grows with the tokens of a batch)."""
    order = list(range(len(encoded)))
    rng = random.Random(settings.seed + epoch)
    rng.shuffle(order)
    window = settings.batch_size * 16
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        current: list[int] = []
        for index in sorted(order[start:start + window], key=lambda i: len(encoded[i][0])):
            width = len(encoded[index][0])
            if current and (len(current) == settings.batch_size
                            or width * (len(current) + 1) > settings.batch_tokens):
                batches.append(current)
                current = []
            current.append(index)
        if current:
            batches.append(current)
    rng.shuffle(batches)
    return batches


def _batch(encoded, chosen: list[int], pad: int, torch, device: str) -> dict[str, Any]:
    """Right-padded ids and labels. No attention mask: in a causal model no real token
    attends to the padding after it, and without a mask PyTorch takes its fused attention."""
    rows = [encoded[i] for i in chosen]
    width = max(len(ids) for ids, _ in rows)
    ids = [i + [pad] * (width - len(i)) for i, _ in rows]
    labels = [lab + [-100] * (width - len(lab)) for _, lab in rows]
    return {"input_ids": torch.tensor(ids, device=device),
            "labels": torch.tensor(labels, device=device)}


def _loss(model, batch: dict[str, Any], torch, autocast: Any) -> Any:
    """Next-token loss on the answer tokens only; the output layer (a third of a small
    model's weights with its large vocabulary) runs on those positions alone."""
    inner = model.get_base_model()
    with autocast:
        hidden = inner.get_decoder()(input_ids=batch["input_ids"]).last_hidden_state
        targets = batch["labels"][:, 1:]
        keep = targets != -100
        logits = inner.get_output_embeddings()(hidden[:, :-1][keep])
    return torch.nn.functional.cross_entropy(logits.float(), targets[keep])


def _autocast(torch, device: str) -> Any:
    """bfloat16 autocast where the hardware computes it natively (about twice as fast on a
    CPU with AVX512-BF16, half the memory); float32 elsewhere."""
    import contextlib

    if device == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if device == "cpu" and (_cpu_has("avx512_bf16") or _cpu_has("amx_bf16")):
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _cpu_has(flag: str) -> bool:
    try:
        return flag in Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False


def _warmup_then_linear(total: int) -> Callable[[int], float]:
    warmup = max(1, total // 20)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.05, (total - step) / max(1, total - warmup))
    return factor


def _save(torch, folder: Path, identity: dict[str, Any], model, optimizer, schedule,
          step: int, losses: list[float]) -> None:
    tmp = folder.with_name(folder.name + ".new")
    _remove(tmp)
    tmp.mkdir(parents=True)
    model.save_pretrained(str(tmp))
    torch.save({"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict()},
               tmp / "optimizer.pt")
    (tmp / "state.json").write_text(json.dumps({**identity, "step": step, "losses": losses}))
    _remove(folder)
    tmp.rename(folder)


def _resume(torch, peft, folder: Path, identity: dict[str, Any], model, optimizer,
            schedule) -> tuple[int, list[float]]:
    try:
        state = json.loads((folder / "state.json").read_text())
    except (OSError, ValueError):
        return 0, []
    if {k: state.get(k) for k in identity} != identity:
        _remove(folder)  # another base, other data or other settings: start afresh
        return 0, []
    peft.set_peft_model_state_dict(model, _adapter_weights(folder, torch))
    saved = torch.load(folder / "optimizer.pt", weights_only=True)
    optimizer.load_state_dict(saved["optimizer"])
    schedule.load_state_dict(saved["schedule"])
    return int(state["step"]), list(state["losses"])


def _adapter_weights(folder: Path, torch) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


def _export(model, base: Path, adapter: Path, settings: TrainSettings) -> None:
    config = model.base_model.model.config
    facts = export.BaseFacts(
        architecture=_gguf_architecture(base), blocks=config.num_hidden_layers,
        heads=config.num_attention_heads,
        kv_heads=getattr(config, "num_key_value_heads", None) or config.num_attention_heads)
    state = {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()
             if ".lora_" in k}
    tmp = adapter.with_suffix(".tmp")
    try:
        export.write_adapter(tmp, export.pairs(state), facts, settings.alpha)
        os.replace(tmp, adapter)
    finally:
        tmp.unlink(missing_ok=True)


def _gguf_architecture(base: Path) -> str:
    from autonom.models.gguf_file import read_gguf

    return read_gguf(base).architecture


def _remove(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
