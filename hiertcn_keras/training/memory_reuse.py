"""Keep the memory a training step frees for the next step, instead of returning it to the system.

A compiled HierTCN step on a large catalogue allocates and frees the same large buffers every
step (the dense `[C, D]` gradient of the item table, the `[P, 2M + 1]` logits of the sampled
softmax, XLA's temporaries). With the default allocators each of them goes back to the
operating system when freed and comes back as fresh pages on the next step: on the full-size
Globo-shaped log (batch 64, 45k items) about 30,000 page faults per step, each a trip into the
kernel to map and zero 4 KiB, on the step's critical path. Two settings keep most of that
memory in the process (docs/scale.md, "Memory kept between steps"):

- TensorFlow's CPU allocator becomes its best-fit-with-coalescing (BFC) pool
  (`TF_CPU_ALLOCATOR_USE_BFC=true`, read once, when TensorFlow first allocates on the CPU);
- glibc's `malloc` stops trimming freed memory off the top of its heaps below 2 GiB
  (`M_TRIM_THRESHOLD`, the largest `mallopt` takes): what the other libraries (Eigen,
  XNNPACK) allocate per step.

(Also serving every request from the heaps, `M_MMAP_MAX = 0`, removed the last faults, but the
process then used about one of 2 cores: the step got slower than with the defaults.)
The price is that a process' resident memory stays near its peak (the peak itself is about
the same). An explicit `TF_CPU_ALLOCATOR_USE_BFC` in the environment wins, and
`HIERTCN_KEEP_FREED_MEMORY=0` turns both settings off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

ENV_SWITCH = "HIERTCN_KEEP_FREED_MEMORY"
TF_BFC_VARIABLE = "TF_CPU_ALLOCATOR_USE_BFC"
# mallopt(3) parameter (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
TRIM_THRESHOLD_BYTES = 2**31 - 1


def enabled(environ=None):
    """Whether the settings apply: unless `HIERTCN_KEEP_FREED_MEMORY` is `0`, `false` or `no`.

    Args:
        environ: mapping or `None`. Defaults to `os.environ`.

    Returns:
        bool.
    """
    environ = os.environ if environ is None else environ
    return environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def keep_freed_memory(environ=None, libc=None):
    """Apply both settings to this process (see the module docstring); safe to call twice.

    Call it before TensorFlow first allocates (`train` calls it first thing): TensorFlow reads
    its allocator setting only once. The `malloc` setting takes effect whenever it is called.

    Args:
        environ: mapping to set TensorFlow's variable in, or `None` for `os.environ`.
        libc: a `ctypes.CDLL` with `mallopt`, or `None` to load glibc's (other C libraries,
            and other systems, are left alone).

    Returns:
        dict: what was set, e.g. `{"TF_CPU_ALLOCATOR_USE_BFC": "true", "mallopt": True}`;
        empty when switched off.
    """
    environ = os.environ if environ is None else environ
    if not enabled(environ):
        return {}
    environ.setdefault(TF_BFC_VARIABLE, "true")
    done = {TF_BFC_VARIABLE: environ[TF_BFC_VARIABLE], "mallopt": False}
    libc = libc if libc is not None else load_glibc()
    if libc is not None:
        # mallopt returns 1 on success, 0 on error.
        done["mallopt"] = bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    return done


def load_glibc():
    """glibc as a `ctypes.CDLL`, or `None` (not Linux, or another C library such as musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # only glibc has it (and glibc's mallopt parameters)
    except (OSError, AttributeError):
        return None
    return libc


__all__ = ["ENV_SWITCH", "TF_BFC_VARIABLE", "enabled", "keep_freed_memory", "load_glibc"]
