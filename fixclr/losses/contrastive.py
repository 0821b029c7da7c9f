r"""The FixCLR regularizer and its two ablation variants, DDP-exact.

All three losses work on the *pooled* batch: the embeddings of every rank are gathered
(``all_gather_with_grad``: the gradient flows back to each rank's own part) together with their
labels and validity (``all_gather_nograd``). Let :math:`z_1..z_M` be the pooled L2-normalised
embeddings, :math:`\hat y_j` their labels (true labels for labeled samples, pseudo-labels for
unlabeled ones), :math:`V` the valid samples (labeled, or unlabeled with a trusted pseudo-label;
invalid samples are neither anchors nor negatives) and :math:`s_{ij} = z_i \cdot z_j / t`.

``negatives="class"``, ``attract=False`` (FixCLR, repel-only over different classes)::

    N(i) = { j in V : j != i, yhat_j != yhat_i }
    L    = 1/|I| sum_{i in I} log sum_{j in N(i)} exp(s_ij),      I = { i in V : N(i) non-empty }

Same-class pairs are neither pulled nor pushed; an anchor without negatives is left out.

``negatives="instance"``, ``attract=False`` (repel-only, no class information):
the same formula with ``N(i) = { j in V : j != i }``.

``negatives="class"``, ``attract=True`` (supervised contrastive, Khosla et al. 2020, L_out)::

    P(i) = { j in V : j != i, yhat_j == yhat_i },   A(i) = { j in V : j != i }
    L    = 1/|I| sum_{i in I} -1/|P(i)| sum_{p in P(i)} log( exp(s_ip) / sum_{a in A(i)} exp(s_ia) ),
           I = { i in V : P(i) non-empty }

``negatives="instance"`` with ``attract=True`` is refused (``ValueError``): in a batch holding one
view per image no other sample is the same instance, so there is nothing to attract.

If no anchor exists anywhere the loss is a zero that still depends on ``z``, so every rank runs
the same backward and DDP never waits for a missing gradient.

**DDP.** Rank r owns pooled rows ``[r*N, (r+1)*N)`` and computes only those anchors, against the
whole pooled batch. It returns ``sum_{local anchors} * world_size / |I|`` with ``|I|`` counted on
the pooled labels, so no extra communication. The all-gather's backward sums every rank's
gradient into the owner's rows, and DDP averages parameter gradients over ranks, so the averaged
gradient equals the one-process gradient of ``L`` on the concatenated batch.
"""

from __future__ import annotations

import torch

from fixclr.distributed import all_gather_nograd, all_gather_with_grad, rank, world_size

NEGATIVE_KINDS = ("class", "instance")


def fixclr_loss(
    z: torch.Tensor,
    labels: torch.Tensor,
    valid: torch.Tensor,
    temperature: float,
    attract: bool = False,
    negatives: str = "class",
) -> torch.Tensor:
    """FixCLR loss of the local batch ``z`` (N, D) against the batch pooled over all ranks.

    ``labels`` (N,) int64 >= 0 are true labels or pseudo-labels; ``valid`` (N,) bool selects the samples
    taking part. See the module docstring for the exact definitions of the variants. No host
    synchronisation: safe to call every step on a GPU.
    """
    _check_inputs(z, labels, valid, temperature, attract, negatives)
    z = z.to(torch.promote_types(z.dtype, torch.float32))  # at least fp32, even under bf16 autocast
    pooled_z = all_gather_with_grad(z)
    pooled_labels = all_gather_nograd(labels)
    pooled_valid = all_gather_nograd(valid)

    local_rows = torch.arange(z.shape[0], device=z.device) + rank() * z.shape[0]
    sim = z @ pooled_z.T / temperature  # (N, M): local anchors against the pooled batch
    not_self = torch.ones_like(sim, dtype=torch.bool)
    not_self[torch.arange(z.shape[0], device=z.device), local_rows] = False
    others = not_self & valid[:, None] & pooled_valid[None, :]  # A(i)
    same_class = labels[:, None] == pooled_labels[None, :]

    if attract:
        positives = others & same_class
        anchors = positives.any(dim=1)
        log_denominator = _masked_logsumexp(sim, others, anchors)
        positive_count = positives.sum(dim=1).clamp(min=1)
        mean_positive_sim = (sim * positives).sum(dim=1) / positive_count
        per_anchor = log_denominator - mean_positive_sim
    else:
        negative_mask = others & ~same_class if negatives == "class" else others
        anchors = negative_mask.any(dim=1)
        per_anchor = _masked_logsumexp(sim, negative_mask, anchors)

    global_anchors = _pooled_anchor_count(pooled_labels, pooled_valid, attract, negatives)
    local_sum = torch.where(anchors, per_anchor, torch.zeros_like(per_anchor)).sum()
    # No anchor anywhere: local_sum is a zero that still depends on z (no host sync, no branch).
    return local_sum * world_size() / global_anchors.clamp(min=1)


def _masked_logsumexp(sim: torch.Tensor, mask: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Row-wise logsumexp of ``sim`` over ``mask``; rows not in ``rows`` give a finite dummy.

    Non-selected rows are filled with zeros instead of ``-inf`` so neither their value nor their
    gradient is NaN (a later ``where`` discards them).
    """
    logits = sim.masked_fill(~mask, float("-inf")).masked_fill(~rows[:, None], 0.0)
    return torch.logsumexp(logits, dim=1)


def _pooled_anchor_count(
    labels: torch.Tensor, valid: torch.Tensor, attract: bool, negatives: str
) -> torch.Tensor:
    """Number of anchors in the pooled batch (a 0-d tensor), from per-class counts of valid samples."""
    total = valid.sum()
    if negatives == "instance":
        has_partner = total > 1
    else:
        # bin 0 collects the invalid samples; integer bincount is deterministic on CUDA
        bins = torch.where(valid, labels + 1, 0)
        own_class = torch.bincount(bins)[bins]
        has_partner = own_class > 1 if attract else own_class < total
    return (valid & has_partner).sum()


def _check_inputs(
    z: torch.Tensor,
    labels: torch.Tensor,
    valid: torch.Tensor,
    temperature: float,
    attract: bool,
    negatives: str,
) -> None:
    """Raise a ValueError naming the offending argument."""
    if negatives not in NEGATIVE_KINDS:
        raise ValueError(f"negatives={negatives!r}: expected one of {NEGATIVE_KINDS}")
    if attract and negatives == "instance":
        raise ValueError(
            "attract=True with negatives='instance' has no positives in a one-view batch; "
            "use negatives='class' for the supervised-contrastive variant"
        )
    if not temperature > 0:
        raise ValueError(f"temperature={temperature!r}: must be > 0")
    if z.dim() != 2:
        raise ValueError(f"z: expected shape (N, D), got {tuple(z.shape)}")
    n = z.shape[0]
    if labels.shape != (n,) or labels.dtype != torch.int64:
        raise ValueError(f"labels: expected int64 of shape ({n},), got {labels.dtype} {tuple(labels.shape)}")
    if valid.shape != (n,) or valid.dtype != torch.bool:
        raise ValueError(f"valid: expected bool of shape ({n},), got {valid.dtype} {tuple(valid.shape)}")
