"""Sequence design: greedy edits and gradient-based (relaxed) design.

- :mod:`bpnetkit.design.targets`: :func:`make_target` builds a design target (one value per
  sequence) from a (profile, counts) model: total log counts, the predicted track in an output
  window, the strand ratio or the BPNet profile score.
- :mod:`bpnetkit.design.greedy`: :func:`greedy_design` keeps the best single edit (a base or
  a motif placement) per round.
- :mod:`bpnetkit.design.gradient`: :func:`gradient_design` optimises a relaxed sequence with
  an edit penalty (Gumbel-softmax, straight-through).
- :mod:`bpnetkit.design.base`: goals (``"max"``, ``"min"`` or a number), :class:`DesignResult`.
- :mod:`bpnetkit.steps.design`: the ``design`` command.

Both algorithms accept an input mask (positions that may change) and return a
:class:`DesignResult`.
"""

from bpnetkit.design.base import DesignResult, goal_loss
from bpnetkit.design.gradient import gradient_design
from bpnetkit.design.greedy import greedy_design
from bpnetkit.design.targets import make_target

__all__ = ["DesignResult", "goal_loss", "gradient_design", "greedy_design", "make_target"]
