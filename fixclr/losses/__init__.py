"""Loss functions (pure): the FixCLR regularizer and its ablation variants.

The FixMatch cross-entropy lives with the methods (``fixclr.methods.base``).
"""

from fixclr.losses.contrastive import NEGATIVE_KINDS, fixclr_loss

__all__ = ["NEGATIVE_KINDS", "fixclr_loss"]
