"""The names of torch's tensor machinery, as the globals of its pickles spell them.

Torch-free, so that listing and verifying v1 checkpoints can judge a pickle without
importing torch; ``_tensorpickle`` maps the same names to their checked implementations.
"""

from __future__ import annotations

__all__ = ["DTYPE_NAMES", "REBUILDS", "STORAGE_DTYPES", "weights_globals"]

#: ``torch._utils`` rebuild functions, and the small torch types a state_dict pickle names.
REBUILDS = (
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch.device",
    "torch.Size",
)

#: ``torch.<Name>Storage`` globals of persistent ids -> the name of their element dtype.
STORAGE_DTYPES = {
    "FloatStorage": "float32",
    "DoubleStorage": "float64",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
    "UntypedStorage": "uint8",
}

#: Every dtype a pickle may name (``torch.float32``): torch pickles a dtype by its canonical
#: name. A test checks this covers every dtype the running torch can save.
DTYPE_NAMES = (
    "bool",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "int8",
    "int16",
    "int32",
    "int64",
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "complex32",
    "complex64",
    "complex128",
    "float8_e4m3fn",
    "float8_e4m3fnuz",
    "float8_e5m2",
    "float8_e5m2fnuz",
    "float8_e8m0fnu",
    "float4_e2m1fn_x2",
    *(f"{kind}{bits}" for kind in ("int", "uint") for bits in range(1, 8)),
    "bits1x8",
    "bits2x4",
    "bits4x2",
    "bits8",
    "bits16",
    "qint8",
    "quint8",
    "qint32",
    "quint4x2",
    "quint2x4",
)


def weights_globals() -> frozenset[str]:
    """Every global a plain state_dict pickle (a v1 weights file) may name."""
    return frozenset(
        {
            *REBUILDS,
            *(f"torch.{name}" for name in STORAGE_DTYPES),
            "torch.storage.UntypedStorage",
            *(f"torch.{name}" for name in DTYPE_NAMES),
            "collections.OrderedDict",
        }
    )
