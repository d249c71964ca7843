"""Length-grouped batches and dynamic padding: each batch is padded only to its own longest sentence."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def length_grouped_batches(
    lengths: Sequence[int], batch_size: int, rng: np.random.Generator, mega: int = 50
) -> list[list[int]]:
    """Shuffle, cut into mega-batches of ``mega`` batches, sort each by length, split, shuffle the batches.

    Sentences of similar length share a batch (little padding) while the epoch order stays random.
    The batch holding the longest sentence goes first, so memory trouble shows at step one.
    """
    order = rng.permutation(len(lengths))
    size = batch_size * mega
    batches: list[list[int]] = []
    for start in range(0, len(order), size):
        chunk = sorted(order[start : start + size].tolist(), key=lambda i: -lengths[i])
        batches.extend(chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size))
    if not batches:
        return []
    perm = rng.permutation(len(batches)).tolist()
    longest = max(range(len(batches)), key=lambda b: lengths[batches[b][0]])
    perm.remove(longest)
    return [batches[longest], *(batches[b] for b in perm)]


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Deterministic batches for inference, longest first."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[j : j + batch_size] for j in range(0, len(order), batch_size)]


def collate(ids: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Right-pad to the longest sequence of the batch; attention mask marks real tokens."""
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, x in enumerate(ids):
        input_ids[i, : len(x)] = torch.tensor(x, dtype=torch.long)
        mask[i, : len(x)] = 1
    return {"input_ids": input_ids.to(device), "attention_mask": mask.to(device)}
