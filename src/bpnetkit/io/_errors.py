"""One home for turning a decoder's own exception into an error that names the file.

File readers call third-party decoders (zlib, safetensors, h5py, numpy reshapes). Their
exceptions say what went wrong inside the decoder but not which file (or which item of it)
was damaged. :func:`decoding` wraps such a call and re-raises the named exceptions as
:class:`~bpnetkit.errors.InputError` with the file, the item and what to do.

Writers have the opposite problem: a full disk or a file-size limit reaches them as a
serialiser's own exception. :func:`writing` turns those into ``OSError(errno, strerror,
path)``, which the command line reports in one line.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from bpnetkit.errors import BpnetkitError, InputError

#: exceptions that decoders raise for damaged or inconsistent data
DECODE_ERRORS: tuple[type[BaseException], ...] = (zlib.error, OSError, ValueError, KeyError,
                                                  IndexError, EOFError, UnicodeDecodeError)

#: what reading a (possibly gzip-compressed) text file raises for a damaged or binary file
TEXT_ERRORS: tuple[type[BaseException], ...] = (UnicodeDecodeError, OSError, EOFError,
                                                zlib.error)


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
        kind = type(e).__name__ if type(e).__module__ == "builtins" else \
            f"{type(e).__module__.split('.')[0].lstrip('_')}.{type(e).__name__}"
        raise InputError(f"cannot read {where}{what} '{path}': {msg} ({kind}). {fix}") \
            from None


_ERRNO_IN_TEXT = re.compile(r"(?:os error|errno =|\[Errno)\s*(\d+)")


@contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Give write failures inside the block the errno and the path of the file written.

    Serialisers report a refused write in their own way: safetensors raises a
    ``SafetensorError`` ("I/O error: File too large (os error 27)"), h5py an ``OSError``
    without ``errno`` ("file write failed: errno = 28"), and plain ``write()`` calls an
    ``OSError`` without a file name. Inside this block each becomes
    ``OSError(errno, strerror, path)``, which the command line turns into one line naming
    the path (see ``bpnetkit.cli.main.write_error_message``). Other exceptions pass through.
    """
    catch = (OSError, RuntimeError) + _safetensor_error()  # h5py: RuntimeError on close
    try:
        yield
    except catch as e:
        code = getattr(e, "errno", None)
        if code is None:
            m = _ERRNO_IN_TEXT.search(str(e))
            code = int(m.group(1)) if m else None
        if code is None or (isinstance(e, OSError) and e.filename is not None
                            and e.errno is not None):
            raise
        raise OSError(code, os.strerror(code), str(path)) from e
