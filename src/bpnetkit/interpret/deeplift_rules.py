"""DeepLIFT rescale rules folded into autograd, applied to any model by a torch function mode.

Inside :class:`DeepLiftMode` a model runs on a *paired batch*: the first ``g`` rows are
input sequences, followed by ``k`` references of the first input, ``k`` of the second, etc.
Every torch call made by the model passes through the mode:

- calls with no input-dependent tensor (weights, constants, control tracks) run unchanged;
- affine operations (convolutions, linear layers, sums, slices, concatenation, ...) run
  unchanged, since their DeepLIFT multipliers are their ordinary gradients;
- nonlinearities with a rule run through a custom autograd ``Function`` whose backward
  multiplies by the rescale multiplier ``(f(x) - f(r)) / (x - r)`` of each reference row with
  its input row (the local gradient at the input where ``|x - r| < eps``, as captum and
  tangermeme do); ``logsumexp`` gets the exact composition of the rules for ``exp`` and
  ``log``, and :func:`bpnetkit.models.wrappers.softmax_weighted` is rescaled as one
  elementwise op;
- anything else that touches an input-dependent tensor raises :class:`UnsupportedOpError`
  naming the operation, instead of returning silently wrong scores.

Input-dependence is tracked through ``requires_grad``: parameters are frozen during the call
and only the reference rows of the input require gradients, so no Python hook runs and no
weight gradient is computed.
"""

from __future__ import annotations

import copy

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from bpnetkit.errors import BpnetkitError, InputError
from bpnetkit.interpret.channels_last import conv1d_as_conv2d

EPS = 1e-6

# ops whose DeepLIFT multiplier is their gradient (affine in their input-dependent argument)
_AFFINE = {
    "add", "__add__", "__radd__", "__iadd__", "add_", "sub", "__sub__", "__rsub__", "__isub__",
    "sub_", "neg", "__neg__", "negative", "__pos__", "positive",
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "linear",
    "__getitem__", "reshape", "view", "view_as", "reshape_as", "flatten", "unflatten",
    "squeeze", "unsqueeze", "permute", "transpose", "t", "T", "mT", "contiguous", "movedim",
    "swapaxes", "cat", "concat", "concatenate", "stack", "hstack", "vstack", "split", "chunk",
    "narrow", "select", "flip", "fliplr", "roll", "repeat", "expand", "expand_as",
    "repeat_interleave", "tile", "unbind", "index_select", "gather", "take_along_dim",
    "mean", "sum", "nansum", "cumsum", "pad", "avg_pool1d", "avg_pool2d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "clone", "to", "type", "float", "double",
    "half", "bfloat16", "type_as", "trace", "diagonal", "unfold", "as_strided",
    "constant_pad_nd", "diff",
}
# affine when at most one operand is input-dependent (and it is not a divisor)
_PRODUCTS = {"mul", "__mul__", "__rmul__", "__imul__", "mul_", "multiply", "matmul",
             "__matmul__", "__rmatmul__", "mm", "bmm", "einsum", "tensordot", "outer", "dot",
             "mv", "inner", "kron"}
_DIVISIONS = {"div", "__truediv__", "__itruediv__", "div_", "divide", "true_divide"}
# ops whose result never carries the input's gradient (queries, comparisons, metadata)
_NEUTRAL = {
    "__get__", "__set__", "size", "dim", "numel", "shape", "ndim", "dtype", "device",
    "is_floating_point", "is_contiguous", "stride", "data_ptr", "element_size", "__len__",
    "__format__", "__repr__", "__str__", "__bool__", "__hash__", "__eq__", "__ne__", "__lt__",
    "__le__", "__gt__", "__ge__", "eq", "ne", "lt", "le", "gt", "ge", "isnan", "isinf",
    "isfinite", "argmax", "argmin", "argsort", "item", "tolist", "numpy", "cpu", "cuda",
    "requires_grad_", "storage_offset", "is_complex", "nelement", "get_device", "__iter__",
    "__contains__", "all", "any", "nonzero", "sign", "new_zeros", "new_ones", "new_empty",
    "new_full", "new_tensor", "zeros_like", "ones_like", "empty_like", "full_like",
    "__array__", "__reduce_ex__", "__deepcopy__", "equal", "allclose", "isclose",
}


class UnsupportedOpError(InputError):
    """A model op with no DeepLIFT rule touched an input-dependent tensor."""


_TENSOR_VALUED_ATTRS = {"T", "mT", "H", "mH", "data", "real", "imag", "grad"}


def _name(func) -> tuple[str, bool]:
    """Name of a torch function, and whether it is a harmless attribute read."""
    name = getattr(func, "__name__", None) or repr(func)
    if name == "__get__":
        owner = getattr(func, "__self__", None)
        name = getattr(owner, "__name__", name)
        return name, name not in _TENSOR_VALUED_ATTRS
    return name, name in _NEUTRAL


# --------------------------------------------------------------------------------------------
# elementwise rescale rules: (function, derivative as a function of (x, f(x)))
def _d_relu(x, y):
    return (x > 0).to(x.dtype)


def _d_exp(x, y):
    return y


def _d_log(x, y):
    return 1 / x


def _d_log1p(x, y):
    return 1 / (1 + x)


def _d_sigmoid(x, y):
    return y * (1 - y)


def _d_tanh(x, y):
    return 1 - y * y


def _d_softplus(x, y):
    return torch.sigmoid(x)


def _d_elu(x, y):
    return torch.where(x > 0, torch.ones_like(x), y + 1)


def _d_expm1(x, y):
    return y + 1


def _d_autograd(func):
    def d(x, y, args=(), kwargs=None):
        with torch.enable_grad():
            xx = x.detach().requires_grad_()
            yy = func(xx, *args, **(kwargs or {}))
            (g,) = torch.autograd.grad(yy.sum(), xx)
        return g
    return d


_ELEMENTWISE = {
    "relu": (torch.relu, _d_relu), "relu_": (torch.relu, _d_relu),
    "exp": (torch.exp, _d_exp), "log": (torch.log, _d_log), "log1p": (torch.log1p, _d_log1p),
    "expm1": (torch.expm1, _d_expm1),
    "sigmoid": (torch.sigmoid, _d_sigmoid), "tanh": (torch.tanh, _d_tanh),
    "softplus": (torch.nn.functional.softplus, None), "elu": (torch.nn.functional.elu, None),
    "gelu": (torch.nn.functional.gelu, None), "silu": (torch.nn.functional.silu, None),
    "leaky_relu": (torch.nn.functional.leaky_relu, None),
    "softmax_weighted": (None, None),
}


class _Pairing:
    """Row layout of a paired batch: ``g`` inputs, then ``k`` references of each in turn."""

    def __init__(self, n_inputs: int, refs_per_input: int) -> None:
        self.n_inputs = n_inputs
        self.k = refs_per_input
        self.n_rows = n_inputs * (1 + refs_per_input)

    def split(self, t: torch.Tensor, op: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(inputs (g, 1, ...), references (g, k, ...))`` views of a batch tensor."""
        if t.ndim == 0 or t.shape[0] != self.n_rows:
            raise UnsupportedOpError(
                f"DeepLIFT rule for '{op}': expected the batch axis first with {self.n_rows} "
                f"rows, got shape {tuple(t.shape)}. Models must keep the batch axis first.")
        g = self.n_inputs
        return t[:g].unsqueeze(1), t[g:].unflatten(0, (g, self.k))


def _rescale_multiplier(x_in, r_in, x_out, r_out, deriv_x, out=None):
    """Multiplier per reference row: secant where the input moved, else the input's gradient.

    All arguments broadcast (inputs ``(g, 1, ...)``, references ``(g, k, ...)``).
    """
    dx = torch.sub(r_in, x_in)
    small = dx.abs() < EPS
    dx.masked_fill_(small, 1.0)
    m = torch.sub(r_out, x_out, out=out)
    m.div_(dx)
    del dx
    return torch.where(small, deriv_x, m, out=m)


class _RuleFunction(torch.autograd.Function):
    """Returns values computed outside autograd; backward multiplies by saved multipliers."""

    @staticmethod
    def forward(ctx, h, y, m, reduced=()):  # noqa: D102
        ctx.save_for_backward(m)
        ctx.reduced = reduced
        return y

    @staticmethod
    def backward(ctx, g):  # noqa: D102
        (m,) = ctx.saved_tensors
        for d in ctx.reduced:  # axes a reduction removed (keepdim=False)
            g = g.unsqueeze(d)
        return g * m, None, None, None


def _new_multipliers(h: torch.Tensor, pairing: _Pairing) -> tuple[torch.Tensor, torch.Tensor]:
    """Uninitialised multipliers shaped (and laid out) like ``h``; input rows zeroed."""
    m = torch.empty_like(h)
    m[:pairing.n_inputs] = 0
    return m, m[pairing.n_inputs:].unflatten(0, (pairing.n_inputs, pairing.k))


def _flat_rows(t: torch.Tensor) -> torch.Tensor | None:
    """A ``(rows, S)`` view of ``t`` whose rows are dense blocks (any dim order), or None."""
    if t.ndim < 2:
        return None
    order = sorted(range(1, t.ndim), key=lambda d: -t.stride(d))
    p = t.permute(0, *order)
    if not p.is_contiguous():
        return None
    return p.reshape(t.shape[0], -1)


def _relu_kernel():
    from bpnetkit.interpret import _relu_kernel

    return _relu_kernel


def _elementwise_rule(op: str, func, args, kwargs, pairing: _Pairing):
    h = args[0]
    rest = args[1:]
    kwargs = {k: v for k, v in (kwargs or {}).items() if k != "inplace"}
    pairing.split(h, op)  # checks the batch layout
    with torch.no_grad():
        if op in ("relu", "relu_") and h.device.type == "cpu" and \
                h.dtype in (torch.float32, torch.float64) and _flat_rows(h) is not None:
            # one pass computes relu(h) and the multipliers
            m, y = torch.empty_like(h), torch.empty_like(h)
            _relu_kernel().relu_multipliers(_flat_rows(h).numpy(), pairing.n_inputs, pairing.k,
                                            EPS, _flat_rows(m).numpy(), _flat_rows(y).numpy())
        else:
            w = None
            if op == "softmax_weighted":
                w = torch.softmax(h, dim=-1)
                y = h * w
            elif op in ("relu", "relu_"):
                y = torch.relu(h)
            else:
                y = _ELEMENTWISE[op][0](h, *rest, **kwargs)
            m = _generic_multipliers(op, h, y, w, rest, kwargs, pairing)
    return _RuleFunction.apply(h, y, m)


def _generic_multipliers(op, h, y, w, rest, kwargs, pairing):
    with torch.no_grad():
        base, deriv = _ELEMENTWISE[op]
        hx, hr = pairing.split(h, op)
        yx, yr = pairing.split(y, op)
        if op == "softmax_weighted":
            dx = w[:pairing.n_inputs].unsqueeze(1)
        elif deriv is None:
            dx = _d_autograd(base)(hx, yx, rest, kwargs)
        else:
            dx = deriv(hx, yx)
        m, m_refs = _new_multipliers(h, pairing)
        _rescale_multiplier(hx, hr, yx, yr, dx, out=m_refs)
    return m


def _logsumexp_rule(args, kwargs, pairing: _Pairing):
    """``log(sum(exp(h)))`` as the rescale rule of ``exp`` then that of ``log``."""
    h = args[0]
    dim = args[1] if len(args) > 1 else kwargs.get("dim")
    keepdim = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
    if dim is None:
        raise UnsupportedOpError("DeepLIFT rule for 'logsumexp' needs an explicit dim.")
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    dims = tuple(d % h.ndim for d in dims)
    if 0 in dims:
        raise UnsupportedOpError("DeepLIFT rule for 'logsumexp': reducing over the batch axis "
                                 "is not supported.")
    pdims = tuple(d + 1 for d in dims)  # axes in the (g, k, ...) views
    with torch.no_grad():
        y = torch.logsumexp(h, dim=dims, keepdim=keepdim)
        hx, hr = pairing.split(h, "logsumexp")
        c = torch.maximum(hx.amax(dim=pdims, keepdim=True), hr.amax(dim=pdims, keepdim=True))
        ex, er = torch.exp(hx - c), torch.exp(hr - c)
        sx, sr = ex.sum(dim=pdims, keepdim=True), er.sum(dim=pdims, keepdim=True)
        # the rule of log (in units shifted by c; the shift cancels in the product)
        log_ratio = _rescale_multiplier(sx, sr, torch.log(sx), torch.log(sr), 1 / sx)
        exp_ratio = _rescale_multiplier(hx, hr, ex, er, ex)
        m, m_refs = _new_multipliers(h, pairing)
        torch.mul(log_ratio, exp_ratio, out=m_refs)
    return _RuleFunction.apply(h, y, m, () if keepdim else tuple(sorted(dims)))


class DeepLiftMode(TorchFunctionMode):
    """Run a model on a paired batch with DeepLIFT rules (see the module docstring).

    Parameters
    ----------
    n_inputs : int
        Rows of the batch that are inputs (the rest are references).
    refs_per_input : int
        References per input; reference rows follow the inputs, those of input 0 first.
    channels_last : bool
        Run ``conv1d`` as channels-last ``conv2d`` (faster on CPU).
    """

    def __init__(self, n_inputs: int, refs_per_input: int, channels_last: bool = False) -> None:
        super().__init__()
        self.pairing = _Pairing(n_inputs, refs_per_input)
        self.channels_last = channels_last

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: D105
        kwargs = kwargs or {}
        op, neutral = _name(func)
        if neutral:
            return func(*args, **kwargs)
        leaves, _ = tree_flatten((args, kwargs))
        tracked = [t for t in leaves if isinstance(t, torch.Tensor) and t.requires_grad]
        if not tracked:
            if op in ("conv1d",) and self.channels_last:
                return conv1d_as_conv2d(*args, **kwargs)
            return func(*args, **kwargs)
        if op in _AFFINE:
            if op == "conv1d" and self.channels_last:
                return conv1d_as_conv2d(*args, **kwargs)
            return func(*args, **kwargs)
        if op in _ELEMENTWISE:
            if not (args and isinstance(args[0], torch.Tensor) and args[0].requires_grad):
                raise UnsupportedOpError(f"DeepLIFT: cannot apply '{op}' with an input-dependent "
                                         f"argument other than its first.")
            # in-place variants (relu_, nn.ReLU(inplace=True)) return a new tensor instead
            return _elementwise_rule(op, func, args, kwargs, self.pairing)
        if op == "logsumexp":
            return _logsumexp_rule(args, kwargs, self.pairing)
        if op in _PRODUCTS:
            if len(tracked) > 1:
                raise UnsupportedOpError(
                    f"DeepLIFT: '{op}' multiplies two input-dependent tensors; there is no "
                    f"rescale rule for products. Restructure the model or attribute another "
                    f"output.")
            return func(*args, **kwargs)
        if op in _DIVISIONS:
            den = args[1] if len(args) > 1 else kwargs.get("other")
            if isinstance(den, torch.Tensor) and den.requires_grad:
                raise UnsupportedOpError(f"DeepLIFT: '{op}' divides by an input-dependent tensor; "
                                         f"no rescale rule exists for it.")
            return func(*args, **kwargs)
        if op in ("batch_norm", "dropout", "dropout1d", "dropout2d", "alpha_dropout",
                  "feature_alpha_dropout", "instance_norm_eval"):
            training = kwargs.get("training", args[5] if op == "batch_norm" and len(args) > 5
                                  else (args[2] if op != "batch_norm" and len(args) > 2
                                        else False))
            if training:
                raise UnsupportedOpError(f"DeepLIFT: '{op}' in training mode is not affine; put "
                                         f"the model in eval mode.")
            return func(*args, **kwargs)
        if op == "detach":
            raise UnsupportedOpError(
                "DeepLIFT: the model detaches an input-dependent tensor ('detach'), which "
                "would make its attributions silently wrong. Use "
                "bpnetkit.models.wrappers.softmax_weighted for detached softmax weights, or "
                "remove the detach.")
        raise UnsupportedOpError(
            f"DeepLIFT/SHAP has no rule for the operation '{op}' applied to an input-dependent "
            f"tensor. Supported nonlinearities: {', '.join(sorted(set(_ELEMENTWISE) - {'relu_'}))}"
            f", logsumexp; everything else must be affine (convolutions, linear layers, sums, "
            f"slices, concatenation).")


# --------------------------------------------------------------------------------------------
# BPNet towers: the whole dilated residual tower as one rule with a hand-written backward
def _cl4(t: torch.Tensor) -> torch.Tensor:
    """``(N, C, L)`` -> ``(N, C, 1, L)`` in the channels-last layout (a view when possible)."""
    return t.unsqueeze(2).contiguous(memory_format=torch.channels_last)


def _rows(t4: torch.Tensor) -> torch.Tensor:
    """``(N, S)`` view of a channels-last ``(N, C, 1, L)`` tensor (``S = L * C``)."""
    if not t4.is_contiguous(memory_format=torch.channels_last):  # kernels write through it
        raise BpnetkitError("deep_lift_shap (BPNet tower rule): a convolution returned a "
                            "tensor that is not dense channels-last; pass "
                            "channels_last=False to use the per-operation rules.")
    return t4.permute(0, 2, 3, 1).reshape(t4.shape[0], -1)


def _conv4(x4: torch.Tensor, conv, dilation: int, padding: int = 0, weight=None, bias=None
           ) -> torch.Tensor:
    w = conv.weight.unsqueeze(2) if weight is None else weight
    y = torch.nn.functional.conv2d(x4, w, bias, 1, (0, padding), (1, dilation))
    return y.contiguous(memory_format=torch.channels_last)


def _flipped(conv) -> torch.Tensor:
    """Weights of the convolution computing ``conv``'s input gradient (valid -> full)."""
    return conv.weight.transpose(0, 1).flip(-1).contiguous()


# From this dilation on, a tower layer with at least TAP_GEMM_CHANNELS filters runs as three
# batched GEMMs (one per tap) instead of oneDNN's dilated convolution: measured on AVX-512
# at 512 filters, oneDNN reaches ~65-75 % of the GEMMs' speed at dilation 256 (forward and
# backward), about the same at <= 128; at 64 filters the small batched GEMMs are slower.
TAP_GEMM_DILATION = 128
TAP_GEMM_CHANNELS = 256


class _TowerWeights:
    """A tower's weights in the layouts its rule computes with, made once per call.

    Channels-last 4-D weights for oneDNN (forward and flipped for the backward pass), so no
    convolution reorders them per batch; per-tap matrices for the layers computed as GEMMs.
    """

    def __init__(self, model) -> None:
        cl = torch.channels_last
        with torch.no_grad(), torch._C.DisableTorchFunction():
            self.stem = model.iconv.weight.unsqueeze(2).contiguous(memory_format=cl)
            self.stem_back = _flipped(model.iconv).unsqueeze(2).contiguous(memory_format=cl)
            self.fwd, self.back = [], []
            for conv in model.rconvs:
                w = conv.weight
                if int(conv.dilation[0]) >= TAP_GEMM_DILATION and w.shape[2] == 3 and \
                        min(w.shape[0], w.shape[1]) >= TAP_GEMM_CHANNELS:
                    # forward: x (L, C_in) @ w_j^T; backward: g (L, C_out) @ w_j
                    self.fwd.append([w[:, :, j].t().contiguous() for j in range(w.shape[2])])
                    self.back.append([w[:, :, j].contiguous() for j in range(w.shape[2])])
                else:
                    self.fwd.append(w.unsqueeze(2).contiguous(memory_format=cl))
                    self.back.append(_flipped(conv).unsqueeze(2).contiguous(memory_format=cl))


def _seq(t4: torch.Tensor) -> torch.Tensor:
    """``(N, L, C)`` view of a dense channels-last ``(N, C, 1, L)`` tensor."""
    return t4.permute(0, 2, 3, 1).reshape(t4.shape[0], t4.shape[3], t4.shape[1])


def _as_cl4(t: torch.Tensor) -> torch.Tensor:
    """``(N, C, 1, L)`` channels-last view of a dense ``(N, L, C)`` tensor."""
    return t.unsqueeze(1).permute(0, 3, 1, 2)


def _taps_forward(h4: torch.Tensor, taps: list[torch.Tensor], bias: torch.Tensor, d: int
                  ) -> torch.Tensor:
    """Valid dilated convolution of channels-last ``h4`` as one batched GEMM per tap."""
    x = _seq(h4)
    N, L, C = x.shape
    Lo = L - d * (len(taps) - 1)
    y = torch.baddbmm(bias, x[:, :Lo], taps[0].expand(N, *taps[0].shape))
    for j in range(1, len(taps)):
        y.baddbmm_(x[:, j * d:j * d + Lo], taps[j].expand(N, *taps[j].shape))
    return _as_cl4(y)


def _taps_backward(gm4: torch.Tensor, G4: torch.Tensor, taps: list[torch.Tensor], d: int
                   ) -> torch.Tensor:
    """Input gradient of a residual layer: ``pad_d(G) + conv^T(gm)`` by per-tap GEMMs."""
    g, G = _seq(gm4), _seq(G4)
    N, Lo, C = g.shape
    K = len(taps)
    L = Lo + d * (K - 1)
    out = torch.empty((N, L, taps[0].shape[1]), dtype=g.dtype)
    c0, c1 = d, d + Lo  # where the residual lands (the forward pass crops d per side)
    out[:, :c0].zero_()
    out[:, c1:].zero_()
    out[:, c0:c1].copy_(G)
    for j in range(K):
        out[:, j * d:j * d + Lo].baddbmm_(g, taps[j].expand(N, *taps[j].shape))
    return _as_cl4(out)


class _TowerRule(torch.autograd.Function):
    """A BPNet tower on a paired batch: forward with ReLU multipliers, backward by hand.

    The backward pass differentiates only the reference rows (the inputs' rows get zero
    gradient, as their multipliers are zero) and keeps every gradient channels-last:
    ``G_{l-1} = pad_d(G_l) + conv_l^T(m_l * G_l)``, then ``conv_stem^T(m_0 * G_0)``.
    """

    @staticmethod
    def forward(ctx, X, model, pairing, weights):  # noqa: D102
        g, k = pairing.n_inputs, pairing.k
        kern = _relu_kernel()
        with torch._C.DisableTorchFunction():
            z = _conv4(_cl4(X), model.iconv, 1, weight=weights.stem, bias=model.iconv.bias)
            zr = _rows(z)
            m0 = torch.empty_like(z)
            kern.relu_multipliers(zr.numpy(), g, k, EPS, _rows(m0).numpy(), zr.numpy())
            ms = [m0[g:]]
            h = z
            for conv, w in zip(model.rconvs, weights.fwd, strict=True):
                d = int(conv.dilation[0])
                if isinstance(w, list):
                    z = _taps_forward(h, w, conv.bias, d)
                else:
                    z = _conv4(h, conv, d, weight=w, bias=conv.bias)
                m = torch.empty((g * k, *z.shape[1:]), dtype=z.dtype,
                                memory_format=torch.channels_last)
                kern.residual_relu_multipliers(_rows(z).numpy(), _rows(h).numpy(),
                                               d * h.shape[1], g, k, EPS, _rows(m).numpy())
                ms.append(m)
                h = z
        ctx.ms = ms
        ctx.model = model
        ctx.weights = weights
        ctx.g = g
        ctx.shape = X.shape
        return h.squeeze(2)

    @staticmethod
    def backward(ctx, G):  # noqa: D102
        model, ms, g, weights = ctx.model, ctx.ms, ctx.g, ctx.weights
        ctx.ms = None
        with torch.no_grad(), torch._C.DisableTorchFunction():
            G4 = _cl4(G[g:])
            for conv, m, w in zip(reversed(model.rconvs), reversed(ms[1:]),
                                  reversed(weights.back), strict=True):
                d = int(conv.dilation[0])
                gm = m.mul_(G4)
                if isinstance(w, list):
                    G4 = _taps_backward(gm, G4, w, d)
                    continue
                Gp = _conv4(gm, conv, d, padding=2 * d, weight=w)
                Gp[..., d:Gp.shape[3] - d].add_(G4)  # (not +=: no __setitem__ copy)
                G4 = Gp
            gm = ms[0].mul_(G4)
            K = model.iconv.kernel_size[0]
            GX = _conv4(gm, model.iconv, 1, padding=K - 1, weight=weights.stem_back)
            out = G.new_zeros(ctx.shape)
            out[g:] = GX.squeeze(2)
        return out, None, None, None


def _plain_module(mod) -> bool:
    return not (mod._forward_hooks or mod._forward_pre_hooks or mod._backward_hooks
                or getattr(mod, "_backward_pre_hooks", None))


class _DeadHead(torch.nn.Module):
    """Stands in for a profile head whose output the wrapped model discards: zeros, no work."""

    def __init__(self, conv: torch.nn.Conv1d) -> None:
        super().__init__()
        self.out_channels = conv.out_channels
        self.width = conv.kernel_size[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        shape = (x.shape[0], self.out_channels, x.shape[2] - self.width + 1)
        return torch.zeros((), dtype=x.dtype, device=x.device).expand(shape)


def _tower_view(m, pairing: _Pairing, weights: dict, dead_heads: bool):
    from bpnetkit.interpret.fused_tower import tower_eligible

    if not tower_eligible(m, (torch.float32, torch.float64)):
        return None
    mods = [m.iconv, *m.rconvs, m.irelu, *m.rrelus]
    if not all(_plain_module(x) for x in mods) or \
            not all(type(r) is torch.nn.ReLU for r in (m.irelu, *m.rrelus)):
        return None
    # (the heads keep their own convolutions: the profile target's softmax-weighted rule
    # amplifies any change of rounding in the logits, and tangermeme rounds like them)
    view = copy.copy(m)
    if id(m) not in weights:
        weights[id(m)] = _TowerWeights(m)
    w = weights[id(m)]

    def embed(X):
        pairing.split(X, "BPNet tower")
        return _TowerRule.apply(X, m, pairing, w)

    view.__dict__["embed"] = embed
    fconv = m._modules.get("fconv")
    if dead_heads and type(fconv) is torch.nn.Conv1d and _plain_module(fconv) and \
            fconv.padding == (0,) and fconv.stride == (1,) and fconv.dilation == (1,):
        view.__dict__["_modules"] = {**m._modules, "fconv": _DeadHead(fconv)}
    return view


def _profile_is_discarded(model) -> bool:
    """Whether ``model`` is ``CountWrapper(BPNet or ChromBPNet)`` with no hooks anywhere on the
    path, so the profile heads' outputs never reach its output (the counts)."""
    from bpnetkit.models import BPNet, ChromBPNet, CountWrapper

    if type(model) is not CountWrapper or not _plain_module(model):
        return False
    inner = model.model
    if type(inner) is BPNet:
        parts = [inner]
    elif type(inner) is ChromBPNet:
        if type(inner.bias) is not BPNet or type(inner.accessibility) is not BPNet:
            return False
        parts = [inner, inner.bias, inner.accessibility]
    else:
        return False
    return all(_plain_module(x) for x in parts)


def tower_rule_view(model, n_inputs: int, refs_per_input: int, weights: dict | None = None):
    """``model`` with eligible BPNet towers computed by one DeepLIFT rule (CPU, float32/64).

    Every valid-padding, post-residual BPNet inside ``model`` whose tower modules carry no
    hooks computes its tower on the paired batch with a hand-written, channels-last backward
    pass (:class:`_TowerRule`); the result equals applying the ReLU rule at every tower
    nonlinearity (what :class:`DeepLiftMode` does) up to float rounding. Everything else
    runs through :class:`DeepLiftMode` as usual. ``model`` itself when nothing is eligible,
    when global module hooks are registered, or when numba is unavailable.

    When ``model`` is ``CountWrapper(BPNet)`` or ``CountWrapper(ChromBPNet)`` (those exact
    classes, no hooks), the profile heads of the viewed BPNets return zeros without
    computing: the wrapper discards the profile, so the counts and their attributions are
    unchanged.

    ``weights`` is a cache of the towers' re-laid-out weights; pass the same dict to every
    call of one attribution run (the parameters must not change in between).
    """
    from torch.nn.modules import module as _module

    from bpnetkit.interpret.fused_tower import shadow_bpnets

    if _module._global_forward_hooks or _module._global_forward_pre_hooks or \
            _module._global_backward_hooks:
        return model
    try:
        _relu_kernel()
    except ImportError:  # pragma: no cover - numba is a dependency
        return model
    pairing = _Pairing(n_inputs, refs_per_input)
    cache = {} if weights is None else weights
    dead = _profile_is_discarded(model)
    return shadow_bpnets(model, lambda m: _tower_view(m, pairing, cache, dead))
