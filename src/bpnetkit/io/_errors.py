"""One home for turning a decoder's own exception into an error that names the file.

File readers call third-party decoders (zlib, safetensors, h5py, numpy reshapes). Their
exceptions say what went wrong inside the decoder but not which file (or which item of it)
was damaged. :func:`decoding` wraps such a call and re-raises the named exceptions as
:class:`~bpnetkit.errors.InputError` with the file, the item and what to do.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from bpnetkit.errors import BpnetkitError, InputError

#: exceptions that decoders raise for damaged or inconsistent data
DECODE_ERRORS: tuple[type[BaseException], ...] = (zlib.error, OSError, ValueError, KeyError,
                                                  IndexError, EOFError, UnicodeDecodeError)


def _safetensor_error() -> tuple[type[BaseException], ...]:
    try:
        from safetensors import SafetensorError
    except ImportError:  # pragma: no cover - safetensors is a dependency
        return ()
    return (SafetensorError,)


@contextmanager
def decoding(path: str | os.PathLike, what: str, item: str | None = None,
             fix: str = "The file is damaged or incomplete; re-create or re-download it.",
             errors: tuple[type[BaseException], ...] | None = None) -> Iterator[None]:
    """Re-raise decoder failures inside the block as :class:`InputError` naming the file.

    Parameters
    ----------
    path : str or PathLike
        The file being read.
    what : str
        What the file is, e.g. ``"bigWig"`` or ``"model weights"``.
    item : str or None
        The part being decoded (a data block, a layer, a dataset), for the message.
    fix : str
        What the user can do.
    errors : tuple of exception types or None
        Which exceptions to convert (default: :data:`DECODE_ERRORS` plus safetensors'
        ``SafetensorError``). Our own errors (:class:`BpnetkitError`) pass through unchanged.

    Raises
    ------
    InputError
        Chained to nothing (``from None``), with the decoder's message.
    """
    catch = errors if errors is not None else DECODE_ERRORS + _safetensor_error()
    try:
        yield
    except BpnetkitError:
        raise
    except catch as e:
        where = f"{item} of " if item else ""
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"cannot read {where}{what} '{path}': {msg} "
                         f"({type(e).__name__}). {fix}") from None
