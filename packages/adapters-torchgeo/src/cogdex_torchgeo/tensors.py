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

_NUMPY: dict[torch.dtype, np.dtype] = {
    torch.float32: np.dtype(np.float32),
    torch.float64: np.dtype(np.float64),
    torch.int16: np.dtype(np.int16),
    torch.int32: np.dtype(np.int32),
    torch.int64: np.dtype(np.int64),
}
"""Sample dtypes that `to_tensor` casts to in one numpy pass."""


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
    """A tensor of `dtype` from pixels in the file's type, equal to RasterDataset's
    widening then cast. Where the widening is exact and the cast rounds the same value
    (numbers to float32/float64, integers to an integer type holding them all), one numpy
    cast gives the same bits at a fraction of the cost of three copies."""
    target = _NUMPY.get(dtype)
    if target is not None and (
        (target.kind == "f" and array.dtype.kind in "uif")
        or (array.dtype.kind in "iu" and np.can_cast(array.dtype, target, "safe"))
    ):
        with np.errstate(over="ignore"):  # float64 past float32's range: inf, as torch, silently
            return torch.from_numpy(array.astype(target))
    return array_to_tensor(array).to(dtype)
