"""The training loop of one fold: one SGD step of an SSL method (+ FixCLR), and evaluation.

Per step: the global batch of (seed, step) is sliced for this rank, augmented per sample
(labeled: weak; unlabeled: weak and strong), forwarded in one pass, and scored as

    L = CE(labeled) + L_unlabeled(method) + lambda_t * L_fixclr        (regularizer: fixclr)

(a method may replace CE(labeled) and add to L_unlabeled from a strong labeled view, and add an
unweighted extra term: ``SSLMethod.labeled_losses`` and ``extra_loss``).

FixCLR's embeddings are the labeled images' (weak view; true labels) and the unlabeled images'
(``fixclr.views``; pseudo-labels, valid where the method's mask says so unless
``fixclr.use_mask: false``). Every logged figure is reduced over ranks, so it is the global one.

A step never waits for the device: its figures are summed on the device and brought to the host
(and reduced over ranks) only by ``step_figures``/``check_finite``, at evaluation and checkpoint
steps. A non-finite loss is recorded on the device (its first step and figures), and the fold
stops at the next such check naming that first step; no checkpoint or metrics line is written
after it. Forward passes run under the autocast of ``precision`` (``fixclr.precision``).
"""

from __future__ import annotations

import copy
import math
from typing import NamedTuple

import torch
from torch import nn

from fixclr.augment import Augmenter
from fixclr.data.loader import FoldData, ImageSet, StepSampler
from fixclr.data.stream import batch_source
from fixclr.distributed import all_reduce_min, all_reduce_sum, convert_batchnorm, rank, world_size
from fixclr.errors import UserError
from fixclr.losses import fixclr_loss
from fixclr.metrics import balanced, holdout_mask, top1
from fixclr.methods import METHODS
from fixclr.models import at_least_float32, build_model
from fixclr.precision import autocast, cuda_has_bf16, grad_scaler, maybe_compile, select_precision, set_tf32

NO_BAD_STEP = 2**62  # the device-side record of the first non-finite step while there is none


class StepLosses(NamedTuple):
    """The losses of one step (metrics.jsonl's names): the total and its three terms, unweighted."""

    loss: torch.Tensor
    loss_labeled: torch.Tensor
    loss_unlabeled: torch.Tensor
    loss_fixclr: torch.Tensor


class PseudoLabelCounts(NamedTuple):
    """Counts over one step's unlabeled batch: images, trusted (masked) pseudo-labels, and correct
    pseudo-labels among the trusted ones and among all (zeros for a method without unlabeled data)."""

    unlabeled: torch.Tensor
    masked: torch.Tensor
    masked_correct: torch.Tensor
    correct: torch.Tensor


class StepFigures(NamedTuple):
    """What ``Trainer.train_step`` returns: its losses and pseudo-label counts, detached 0-d tensors
    left on the device (reading one is a host sync)."""

    losses: StepLosses
    counts: PseudoLabelCounts

    def stacked(self) -> torch.Tensor:
        """The figures as one float64 vector, in the order of ``FIGURE_NAMES``."""
        return torch.stack([*self.losses, *self.counts]).double()


FIGURE_NAMES = StepLosses._fields + PseudoLabelCounts._fields  # the keys of ``Trainer.step_figures``


class NonFiniteLossError(UserError, FloatingPointError):
    """The training loss became NaN or infinite."""


def cosine_lr_factor(step: int, total_steps: int) -> float:
    """FixMatch's cosine decay: ``cos(7 pi step / (16 total))``."""
    return math.cos(7.0 * math.pi * step / (16.0 * total_steps))


def parameter_groups(model: nn.Module, weight_decay: float, decay_norm_bias: bool) -> list[dict]:
    """SGD parameter groups: one with ``weight_decay`` on every parameter when ``decay_norm_bias``,
    else weight decay on conv/linear weights (parameters of 2 or more dimensions) only, none on
    normalisation parameters and biases."""
    if decay_norm_bias:
        return [{"params": list(model.parameters()), "weight_decay": weight_decay}]
    parameters = list(model.parameters())
    return [{"params": [p for p in parameters if p.dim() > 1], "weight_decay": weight_decay},
            {"params": [p for p in parameters if p.dim() <= 1], "weight_decay": 0.0}]


class Trainer:
    """Model, EMA, method state, optimizer and schedule of one fold; ``train_step`` and ``evaluate``."""

    def __init__(self, cfg: dict, data: FoldData, device: torch.device):
        self.cfg, self.data, self.device = cfg, data, device
        self.precision = select_precision(cfg["precision"], device.type, device.type == "cuda" and cuda_has_bf16(device))
        if device.type == "cuda":
            set_tf32(cfg["tf32"])
        num_classes = len(data.classes)
        if cfg["backbone"] == "cnn" and data.image_size < 2 ** cfg["cnn_stages"]:
            raise UserError(f"cnn_stages {cfg['cnn_stages']} halve the image {cfg['cnn_stages']} times: {data.image_size}x"
                            f"{data.image_size} images need cnn_stages <= {data.image_size.bit_length() - 1}")
        torch.manual_seed(cfg["seed"])
        model = build_model(cfg, num_classes)
        if world_size() > 1:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model) if device.type == "cuda" else convert_batchnorm(model)
        self.dtype = getattr(torch, cfg["dtype"])
        self.model = model.to(device, self.dtype)
        self.train_model = self.model
        if world_size() > 1:
            self.train_model = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[device] if device.type == "cuda" else None, broadcast_buffers=False)
        if cfg["compile"]:
            self.train_model = maybe_compile(self.train_model, device)
        self.ema = copy.deepcopy(self.model).requires_grad_(False) if cfg["ema_decay"] > 0 else None
        self.method = METHODS.get(cfg["method"])(cfg, num_classes, len(data.unlabeled)).to(device)
        self.optimizer = torch.optim.SGD(parameter_groups(self.model, cfg["weight_decay"], cfg["weight_decay_norm_bias"]),
                                         lr=cfg["lr"], momentum=cfg["momentum"], nesterov=cfg["nesterov"],
                                         fused=True if self.precision == "fp16" and device.type == "cuda" else None)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: cosine_lr_factor(s, cfg["steps"]))
        mu = cfg["mu"] if self.method.uses_unlabeled else 0
        self.sampler = StepSampler(cfg["seed"], data.labeled_sizes, len(data.unlabeled), cfg["batch_size"], mu,
                                   rank(), world_size(), unlabeled_sizes=data.unlabeled_sizes if cfg["unlabeled_balanced"] else None)
        self.batches = batch_source(cfg, data, self.sampler, device)  # uint8 batches from memory or the shards
        size = data.image_size
        self.weak = Augmenter("weak", flip=cfg["flip"], image_size=size, padding=cfg["crop_padding"])
        self.strong = Augmenter("strong", flip=cfg["flip"], image_size=size, padding=cfg["crop_padding"])
        self.plain = Augmenter("none", flip=False, image_size=size)  # evaluation; all normalise with ImageNet's statistics
        self.autocast = autocast(self.precision, device)
        self.scaler = grad_scaler(self.precision, device)  # fp16 only; the fused SGD keeps its inf check on the device
        self.step = 0
        self.figure_sums = torch.zeros(len(FIGURE_NAMES), dtype=torch.float64, device=device)  # since step_figures
        self.first_bad_step = torch.tensor(NO_BAD_STEP, device=device)
        self.bad_figures = torch.zeros(len(StepLosses._fields), dtype=torch.float64, device=device)  # the losses at first_bad_step

    # ----- state (everything exact resume needs besides the global RNGs) -----
    def state_dict(self) -> dict:
        return {
            "step": self.step,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else {},
            "method": self.method.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.step = state["step"]
        self.model.load_state_dict(state["model"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.method.load_state_dict(state["method"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])

    # ----- training -----
    def warmup_factor(self, step: int, fraction: float) -> float:
        """Linear ramp from 0 to 1 over the first ``fraction`` of the steps (1 when ``fraction`` is 0)."""
        warmup_steps = fraction * self.cfg["steps"]
        return min(1.0, step / warmup_steps) if warmup_steps > 0 else 1.0

    def fixclr_weight(self, step: int) -> float:
        """lambda, linearly warmed up over the first ``fixclr.warmup_fraction`` of the steps."""
        settings = self.cfg["fixclr"]
        return settings["lambda"] * self.warmup_factor(step, settings["warmup_fraction"])

    def unlabeled_weight(self, step: int) -> float:
        """Weight of the unlabeled loss, linearly warmed up over ``unlabeled_warmup_fraction`` of the steps."""
        return self.warmup_factor(step, self.cfg["unlabeled_warmup_fraction"])

    def images_per_step(self) -> int:
        """Images forwarded per step over all ranks."""
        return self.sampler.batch_size * (1 + self.method.uses_labeled_strong) + 2 * self.sampler.unlabeled_batch

    def train_step(self) -> StepFigures:
        """One optimisation step at ``self.step``; its figures (on the device, not synchronised) are
        added to ``figure_sums`` and returned."""
        step, data = self.step, self.data
        batch, labeled, unlabeled = self.batches.step(step)  # this rank's slice and its uint8 images
        targets = data.labeled.labels[batch.labeled_index]
        views = [self.weak(labeled, batch.seeds["labeled"])]
        if self.method.uses_unlabeled:
            views += [self.weak(unlabeled, batch.seeds["weak"]), self.strong(unlabeled, batch.seeds["strong"])]
        if self.method.uses_labeled_strong:  # last, so the slices above keep their place; same seeds, other kind
            views.append(self.strong(labeled, batch.seeds["labeled"]))
        self.model.train()
        with self.autocast:
            logits, z = self.train_model(torch.cat(views).to(self.dtype))
        logits = at_least_float32(logits)
        n_lab, n_unl = len(targets), len(batch.unlabeled_index)
        zero = logits.new_zeros(())
        logits_labeled_strong = logits[n_lab + 2 * n_unl:] if self.method.uses_labeled_strong else None
        loss_labeled, labeled_term = self.method.labeled_losses(logits[:n_lab], logits_labeled_strong, targets, step)
        loss_unlabeled, loss_fixclr, extra = zero, zero, None
        counts = PseudoLabelCounts(zero, zero, zero, zero)
        embedded = (z[:n_lab], targets, torch.ones_like(targets, dtype=torch.bool)) if z is not None else None
        if self.method.uses_unlabeled:
            logits_weak, logits_strong = logits[n_lab:n_lab + n_unl], logits[n_lab + n_unl:n_lab + 2 * n_unl]
            pseudo = self.method.pseudo_label(logits_weak.detach(), logits_strong.detach(), batch.unlabeled_index, step)
            loss_unlabeled = self.method.unlabeled_loss(logits_strong, pseudo)
            if labeled_term is not None:
                loss_unlabeled = loss_unlabeled + labeled_term
            extra = self.method.extra_loss(logits_strong, pseudo)
            correct = pseudo.labels == data.unlabeled.labels[batch.unlabeled_index]
            counts = PseudoLabelCounts(unlabeled=zero + n_unl, masked=pseudo.mask.sum(),
                                       masked_correct=(correct & pseudo.mask).sum(), correct=correct.sum())
            if z is not None:
                embedded = self._with_unlabeled(embedded, z[n_lab:n_lab + n_unl], z[n_lab + n_unl:n_lab + 2 * n_unl], pseudo)
        if embedded is not None:
            settings = self.cfg["fixclr"]
            loss_fixclr = fixclr_loss(*embedded, settings["temperature"], attract=settings["attract"],
                                      negatives=settings["negatives"])
        loss = loss_labeled + self.unlabeled_weight(step) * loss_unlabeled + self.fixclr_weight(step) * loss_fixclr
        if extra is not None:  # outside the unlabeled warm-up weight (FreeMatch's fairness, as in USB)
            loss = loss + extra
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self._update_ema()
        self.step += 1
        losses = StepLosses(*(value.detach() / world_size() for value in (loss, loss_labeled, loss_unlabeled, loss_fixclr)))
        figures = StepFigures(losses, PseudoLabelCounts(*(count.detach() for count in counts)))
        self._record(step, figures)
        return figures

    @torch.no_grad()
    def _record(self, step: int, figures: StepFigures) -> None:
        """Add a step's figures to ``figure_sums``; remember the first step with a non-finite loss (on the device)."""
        stacked = figures.stacked()
        self.figure_sums += stacked
        newly_bad = ~torch.isfinite(stacked[0]) & (self.first_bad_step == NO_BAD_STEP)
        self.bad_figures = torch.where(newly_bad, stacked[:len(StepLosses._fields)], self.bad_figures)
        self.first_bad_step = torch.where(newly_bad, step, self.first_bad_step)

    def check_finite(self) -> None:
        """Raise NonFiniteLossError naming the first step (on any rank) whose loss was not finite."""
        first_bad = all_reduce_min(self.first_bad_step)
        if first_bad.item() == NO_BAD_STEP:
            return
        bad = StepLosses(*all_reduce_sum(torch.where(self.first_bad_step == first_bad, self.bad_figures, 0.0)).tolist())
        raise NonFiniteLossError(
            f"non-finite training loss at step {first_bad.item()}: loss={bad.loss}, labeled={bad.loss_labeled}, "
            f"unlabeled={bad.loss_unlabeled}, fixclr={bad.loss_fixclr} (lower lr or check the data)")

    def step_figures(self) -> dict[str, float]:
        """Sums over ranks and steps of the step figures since the last call (after ``check_finite``)."""
        self.check_finite()
        sums = all_reduce_sum(self.figure_sums).tolist()
        self.figure_sums.zero_()
        return dict(zip(FIGURE_NAMES, sums))

    def _with_unlabeled(self, embedded: tuple, z_weak: torch.Tensor, z_strong: torch.Tensor, pseudo) -> tuple:
        """FixCLR inputs extended with the unlabeled view ``fixclr.views``, its pseudo-labels and validity."""
        z_labeled, targets, valid = embedded
        settings = self.cfg["fixclr"]
        z_unlabeled = z_weak if settings["views"] == "weak" else z_strong
        unlabeled_valid = pseudo.mask if settings["use_mask"] else torch.ones_like(pseudo.mask)
        return (torch.cat([z_labeled, z_unlabeled]), torch.cat([targets, pseudo.labels]),
                torch.cat([valid, unlabeled_valid]))

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.ema is None:
            return
        decay = self.cfg["ema_decay"]
        for ema_p, p in zip(self.ema.parameters(), self.model.parameters()):
            ema_p.lerp_(p.detach(), 1.0 - decay)
        for ema_b, b in zip(self.ema.buffers(), self.model.buffers()):
            ema_b.copy_(b)

    # ----- evaluation -----
    @torch.no_grad()
    def confusions(self, part: ImageSet, subset: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Confusion matrices (rows: true class, columns: predicted; int64, summed over ranks) of the
        evaluated model (EMA if enabled) on ``part``, and on its ``subset`` (bool mask) if given."""
        model = self.ema if self.ema is not None else self.model
        model.eval()
        classes = len(self.data.classes)
        labels_here = part.labels[rank()::world_size()]
        masks = [torch.ones_like(labels_here, dtype=torch.bool)] + ([subset[rank()::world_size()]] if subset is not None else [])
        counts = torch.zeros(len(masks), classes * classes, dtype=torch.int64, device=self.device)
        start = 0
        for batch, labels in self.batches.eval_chunks(part, self.cfg["eval_batch_size"]):  # this rank's share, in order
            chunk = slice(start, start + len(labels))
            start += len(labels)
            with self.autocast:
                logits, _ = model(self.plain(batch, torch.zeros(len(batch), dtype=torch.int64)).to(self.dtype))
            cells = labels * classes + logits.argmax(1)
            for row, mask in enumerate(masks):
                counts[row] += torch.bincount(cells[mask[chunk]], minlength=classes * classes)
        return list(all_reduce_sum(counts).view(len(masks), classes, classes).cpu())

    def accuracy(self, part: ImageSet) -> float:
        """Top-1 accuracy in percent of the evaluated model (EMA if enabled) on ``part``, sharded over ranks."""
        return top1(self.confusions(part)[0])

    def target_holdout(self) -> torch.Tensor:
        """The target domain's held-out part (fixclr.metrics.holdout_mask), the same in every fold on it."""
        if getattr(self, "_target_holdout", None) is None:
            key = f"{self.data.dataset}/{self.data.target_domain}"
            self._target_holdout = torch.from_numpy(holdout_mask(self.data.target.labels.cpu().numpy(), key)).to(self.device)
        return self._target_holdout

    def evaluate(self) -> dict:
        """Top-1 and balanced accuracy (percent) on the target domain (all its images), on its held-out
        part (``target_val_*``, oracle selection only) and per source-domain validation part; and the
        target confusion matrix (rows: true class), from which per-class accuracy follows."""
        val = {domain: self.confusions(part)[0] for domain, part in self.data.val.items()}
        target, target_val = self.confusions(self.data.target, self.target_holdout())
        val_acc = {domain: top1(c) for domain, c in val.items()}
        val_balanced = {domain: balanced(c) for domain, c in val.items()}
        return {"target_acc": top1(target), "val_acc": val_acc, "val_acc_mean": sum(val_acc.values()) / len(val_acc),
                "target_balanced_acc": balanced(target), "target_val_acc": top1(target_val),
                "target_val_balanced_acc": balanced(target_val), "val_balanced_acc": val_balanced,
                "val_balanced_acc_mean": sum(val_balanced.values()) / len(val_balanced),
                "target_confusion": target.tolist()}
