"""Batched augmenter: per-sample seeding, batch independence, weak geometry, ranges, errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fixclr.augment import Augmenter, seeded_uniforms

torch.set_num_threads(1)
SIZE = 32
MEAN, STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)


def _images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, SIZE, SIZE), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def _unnormalise(x: torch.Tensor) -> torch.Tensor:
    return x * torch.tensor(STD).view(1, 3, 1, 1) + torch.tensor(MEAN).view(1, 3, 1, 1)


def _lowbias32(x: int) -> int:
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    return x ^ (x >> 16)


def test_seeded_uniforms_match_plain_python_hash():
    seeds = [0, 1, -1, 2**40 + 7, -(2**62), 123456789]
    salt, streams = 0x85EBCA6B, 3
    got = seeded_uniforms(torch.tensor(seeds), salt, streams)
    for row, seed in enumerate(seeds):
        key = _lowbias32((seed & 0xFFFFFFFF) ^ _lowbias32(((seed >> 32) & 0xFFFFFFFF) ^ salt))
        for stream in range(streams):
            counter = ((stream + 1) * 0x9E3779B9) & 0xFFFFFFFF
            assert got[row, stream].item() == (_lowbias32(key ^ counter) >> 8) / 2**24


def test_seeded_uniforms_are_uniform_and_streams_uncorrelated():
    u = seeded_uniforms(torch.arange(20000), 7, 4)
    assert 0.0 <= u.min() and u.max() < 1.0
    assert u.mean(dim=0).sub(0.5).abs().max() < 0.01
    assert torch.corrcoef(u.T).sub(torch.eye(4)).abs().max() < 0.03


@pytest.mark.parametrize("kind", ["weak", "strong"])
def test_same_seed_same_output_whatever_the_batch(kind):
    augment = Augmenter(kind, flip=True, image_size=SIZE, mean=MEAN, std=STD)
    images, seeds = _images(48), torch.arange(1000, 1048)
    whole = augment(images, seeds)
    perm = torch.randperm(48, generator=torch.Generator().manual_seed(1))
    assert torch.equal(augment(images[perm], seeds[perm]), whole[perm])
    halves = torch.cat([augment(images[:17], seeds[:17]), augment(images[17:], seeds[17:])])
    assert torch.equal(halves, whole)
    assert torch.equal(augment(images[5:6], seeds[5:6]), whole[5:6])


def test_different_seeds_give_different_views():
    images = _images(1).expand(64, -1, -1, -1).contiguous()
    for kind, min_distinct in (("weak", 40), ("strong", 64)):
        out = Augmenter(kind, flip=True, image_size=SIZE, mean=MEAN, std=STD)(images, torch.arange(64))
        assert len({tuple(view.flatten()[::7].tolist()) for view in out}) >= min_distinct, kind
    weak = Augmenter("weak", True, SIZE, MEAN, STD)(images[:8], torch.arange(8))
    strong = Augmenter("strong", True, SIZE, MEAN, STD)(images[:8], torch.arange(8))
    assert not torch.equal(weak, strong)


@pytest.mark.parametrize("kind", ["none", "weak", "strong"])
def test_shape_dtype_and_range(kind):
    images = _images(64)
    out = Augmenter(kind, flip=True, image_size=SIZE, mean=MEAN, std=STD)(images, torch.arange(64))
    assert out.shape == images.shape and out.dtype == torch.float32
    pixels = _unnormalise(out)
    assert pixels.min() >= -1e-6 and pixels.max() <= 1 + 1e-6


def test_none_is_normalisation_only():
    images = _images(4)
    out = Augmenter("none", flip=True, image_size=SIZE, mean=MEAN, std=STD)(images, torch.arange(4))
    torch.testing.assert_close(_unnormalise(out), images.float() / 255, atol=1e-6, rtol=0)


def _weak_candidates(image: torch.Tensor, flips: tuple[bool, ...]) -> list[torch.Tensor]:
    """Every reflect-padded crop of ``image`` shifted by at most 12.5 %, optionally flipped first."""
    pad = SIZE // 8
    candidates = []
    for flipped in flips:
        source = image.flip(-1) if flipped else image
        padded = F.pad(source[None].float(), (pad, pad, pad, pad), mode="reflect")[0]
        for top in range(2 * pad + 1):
            for left in range(2 * pad + 1):
                candidates.append(padded[:, top : top + SIZE, left : left + SIZE])
    return candidates


@pytest.mark.parametrize("flip", [False, True])
def test_weak_is_a_flip_and_a_pad_and_crop(flip):
    images, seeds = _images(40, seed=3), torch.arange(40)
    out = Augmenter("weak", flip=flip, image_size=SIZE, mean=(0, 0, 0), std=(1, 1, 1))(images, seeds)
    out = (out * 255).round()
    flipped_count = 0
    for image, view in zip(images, out):
        unflipped = any(torch.equal(view, c) for c in _weak_candidates(image, (False,)))
        assert unflipped or (flip and any(torch.equal(view, c) for c in _weak_candidates(image, (True,))))
        flipped_count += not unflipped
    if flip:
        assert 8 <= flipped_count <= 32  # about half of 40
    else:
        assert flipped_count == 0


def test_strong_views_contain_a_cutout_square_of_gray():
    images = _images(64, seed=4)
    out = _unnormalise(Augmenter("strong", True, SIZE, MEAN, STD)(images, torch.arange(64)))
    gray = (out - 0.5).abs().amax(dim=1) < 1e-5  # (N, H, W): pixels gray in all channels
    assert (gray.flatten(1).sum(1) >= 4).float().mean() > 0.7  # most samples: side >= 2 px
    assert gray.flatten(1).float().mean(1).max() <= 0.5  # at most a half-side square plus gray fills


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="kind='medium'"):
        Augmenter("medium", True, SIZE)
    augment = Augmenter("weak", True, SIZE)
    with pytest.raises(ValueError, match="images: expected uint8"):
        augment(_images(2).float(), torch.arange(2))
    with pytest.raises(ValueError, match="images: expected uint8 of shape \\(N, 3, 32, 32\\)"):
        augment(_images(2)[:, :, :16], torch.arange(2))
    with pytest.raises(ValueError, match="seeds: expected int64"):
        augment(_images(2), torch.arange(3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on the CPU test machines)")
def test_cuda_matches_cpu():
    images, seeds = _images(64), torch.arange(64)
    weak = Augmenter("weak", True, SIZE, MEAN, STD)
    torch.testing.assert_close(weak(images.cuda(), seeds.cuda()).cpu(), weak(images, seeds), atol=1e-6, rtol=0)
    strong = Augmenter("strong", True, SIZE, MEAN, STD)
    per_sample_error = (strong(images.cuda(), seeds.cuda()).cpu() - strong(images, seeds)).abs().flatten(1).amax(1)
    # Same random choices; bilinear warps or a quantisation level may differ in the last bits.
    assert (per_sample_error < 0.05).float().mean() >= 0.95
