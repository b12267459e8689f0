"""Pixels -> tensors with TorchGeo's RasterDataset rules, so both give identical samples.

RasterDataset reads in the file's type (resampled values rounded to it), widens the types
torch lacks (uint16 -> int32, uint32 -> int64) and casts to its `dtype`: float32 for images,
int64 for masks. It resamples bilinearly when that dtype is floating point, else nearest.
"""

from __future__ import annotations

import numpy as np
import torch
from torchgeo.datasets.utils import array_to_tensor

from cogdex.sdk import Resampling


def sample_dtype(dtype: torch.dtype | None, is_image: bool) -> torch.dtype:
    """The dtype of `image`/`mask`: the override, else RasterDataset's default."""
    if dtype is None:
        return torch.float32 if is_image else torch.long
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype must be a torch.dtype such as torch.int32, not {dtype!r}")
    return dtype


def default_resampling(dtype: torch.dtype) -> Resampling:
    """Bilinear for floating-point samples, nearest for integer ones (RasterDataset's rule)."""
    return "bilinear" if dtype.is_floating_point else "nearest"


def to_tensor(array: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    """A tensor of `dtype` from pixels in the file's type, through RasterDataset's widening."""
    return array_to_tensor(array).to(dtype)
