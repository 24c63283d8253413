"""ltcl's losses as torch.nn.Modules (keyword arguments, METHODS.md defaults).

Each module calls one of ltcl's C++ operators (torch.ops.ltcl.*: autograd
through ltcl's own backward where it has one, float32 / float64, any device
the operator's ATen calls run on). Modules whose formula needs the training
set's class counts n_c take them at construction and keep them as the
buffer ``class_counts`` (int64 [C]; it moves with ``.to(device)`` and is in
``state_dict()``); pi_c = n_c / sum_j n_j.

Arguments are checked before the operator runs where that is cheap (shapes,
dtypes, option ranges): ValueError / TypeError naming the argument and its
shape. What only the operator checks (label values, for one) raises
RuntimeError carrying ltcl's message.

    counts = [5000, 2997, ..., 50]                  # n_c of the training set
    la = ltcl.losses.LogitAdjustedLoss(counts)      # CE(x + log pi)
    con = ltcl.losses.BCLRCL(counts)                # BCL + the RCL switches
    loss = 2.0 * la(logits, y) + 0.6 * con(z, y, prototypes)
"""
import math
from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "ContrastiveLoss", "SupCon", "BCL", "RCL", "BCLRCL", "LogitAdjustedLoss",
    "BalancedSoftmaxLoss", "LDAMLoss", "drw_weights", "FocalLoss", "PSCLoss",
    "ProCoLoss", "PaCoLoss", "rcl_margins", "ResComLoss", "ClassBalancedQueue",
    "LabeledQueue", "class_balanced_weights", "VmfEstimator",
]

#: Class counts n_c: a list, a NumPy array or a tensor of whole numbers > 0.
Counts = Union[Sequence[int], np.ndarray, Tensor]

_ops = torch.ops.ltcl


def _shape(t) -> str:
    if t is None:
        return "None"
    if isinstance(t, Tensor):
        return "%s[%s]" % (str(t.dtype).replace("torch.", ""),
                           ", ".join(str(s) for s in t.shape))
    return type(t).__name__


def _counts_tensor(name: str, class_counts: Counts) -> Tensor:
    """class_counts as int64 [C], every entry an integer > 0."""
    if isinstance(class_counts, Tensor):
        t = class_counts.detach().cpu()
    else:
        try:
            t = torch.as_tensor(class_counts)
        except (TypeError, ValueError, RuntimeError) as e:
            raise TypeError("%s - class_counts must be a sequence of counts "
                            "[C]: {got %s}" % (name, type(class_counts).__name__)
                            ) from e
    if t.dim() != 1 or t.numel() == 0:
        raise ValueError("%s - class_counts must be [C] with C >= 1: {got %s}"
                         % (name, _shape(t)))
    if t.is_floating_point():
        if not bool(torch.all(t == torch.round(t))):
            raise ValueError("%s - class_counts must be whole numbers: {got %s}"
                             % (name, t.tolist()[:8]))
    elif t.dtype == torch.bool or t.is_complex():
        raise TypeError("%s - class_counts must be integers: {got %s}"
                        % (name, _shape(t)))
    t = t.to(torch.int64)
    if int(t.min()) <= 0:
        c = int(torch.argmin(t))
        raise ValueError(
            "%s - every class count must be > 0 (a class with no training "
            "samples has no prior): {got %d in class %d of class_counts %s}"
            % (name, int(t[c]), c, _shape(t)))
    return t


def _positive(name: str, what: str, value: float) -> float:
    value = float(value)
    if not (value > 0) or not math.isfinite(value):
        raise ValueError("%s - %s must be > 0: {got %r}" % (name, what, value))
    return value


def _check_logits(name: str, logits: Tensor, labels: Tensor,
                  num_classes: Optional[int]) -> None:
    if not isinstance(logits, Tensor) or logits.dim() != 2 or \
            not logits.is_floating_point():
        raise ValueError("%s - logits must be a floating tensor [N, C]: "
                         "{got %s}" % (name, _shape(logits)))
    _check_labels(name, labels, logits.shape[0], "logits.size(0)")
    if num_classes is not None and logits.shape[1] != num_classes:
        raise ValueError("%s - logits must be [N, C] with C = len(class_counts)"
                         " = %d: {got logits %s}"
                         % (name, num_classes, _shape(logits)))


def _check_labels(name: str, labels: Tensor, n: int, what: str) -> None:
    if not isinstance(labels, Tensor) or labels.dim() != 1 or \
            labels.is_floating_point() or labels.dtype == torch.bool or \
            labels.shape[0] != n:
        raise ValueError("%s - labels must be an integer tensor [N] with N = "
                         "%s = %d: {got labels %s}"
                         % (name, what, n, _shape(labels)))


class _Loss(nn.Module):
    """Base: an optional ``class_counts`` buffer and extra_repr of options."""

    _options: Sequence[str] = ()

    def __init__(self, class_counts: Optional[Counts] = None,
                 required: bool = True) -> None:
        super().__init__()
        name = type(self).__name__
        if class_counts is None:
            if required:
                raise ValueError("%s - class_counts is required (the number "
                                 "of training samples of each class, [C])"
                                 % name)
            self.register_buffer("class_counts", None)
        else:
            self.register_buffer("class_counts",
                                 _counts_tensor(name, class_counts))

    @property
    def num_classes(self) -> Optional[int]:
        """C = len(class_counts), or None without counts."""
        return None if self.class_counts is None else self.class_counts.numel()

    def extra_repr(self) -> str:
        parts = ["%s=%r" % (k, getattr(self, k)) for k in self._options]
        if self.class_counts is not None:
            parts.insert(0, "num_classes=%d" % self.class_counts.numel())
        return ", ".join(parts)


# ---------------------------------------------------------------------------
# The contrastive core (METHODS.md section 3)
# ---------------------------------------------------------------------------


class ContrastiveLoss(_Loss):
    r"""ltcl's one supervised contrastive core with every switch
    (METHODS.md section 3); SupCon, BCL, RCL and BCLRCL are presets of it.

    Anchors are the N = V*B view embeddings z (L2-normalised rows), the key
    set K the N views plus, with ``class_complement``, the C class
    prototypes (keys, never anchors; prototype c has label c). For anchor i
    and key k != i, with P(i) the keys of i's class (k != i)::

        l_ik = s^2 (z_i . z_k) / tau + b log pi_{y_k} - [k in P(i)] m_{y_i}
        L_i  = -1/|P(i)| sum_{p in P(i)} log( exp(l_ip) / D_i )
        D_i  = sum_{k in K, k != i} w_ik exp(l_ik)
        loss = (1/N) sum_i L_i     (anchors without positives add 0)

    Switches:
        class_averaging (BCL): w_ik = 1 / (#{k' in K: y_k' = y_k} - [y_k = y_i]),
            else w = 1 (each class adds one averaged term to D_i).
        class_complement (BCL): the prototypes [C, D] join K; forward then
            needs ``prototypes``.
        balance b (RCL 1): Balanced Softmax inside the contrastive loss.
        feature_scale s (RCL 2): anchors and keys multiplied by s.
        margin_max (RCL 3): m_c = margin_max * (n_c^(-1/4) / max_j n_j^(-1/4))
            / tau on positive pairs.

    Args:
        class_counts: n_c of the training set, [C]. Needed when balance != 0,
            margin_max > 0 or class_complement is on; else optional (then
            only used to check the labels' range).
        temperature: tau > 0 (0.1 on CIFAR, 0.07 on ImageNet-LT).
        class_averaging, class_complement, balance, feature_scale,
        margin_max: the switches above (defaults: all off, s = 1).

    Shapes (forward):
        features: [B, V, D] floating, V views of B samples, rows L2-normalised.
        labels: [B] integer in [0, C).
        prototypes: [C, D] (class_complement only), normalised rows, e.g.
            ``F.normalize(head_fc(classifier.weight), dim=1)``.
        Returns the mean loss (a scalar of features' dtype).

    Papers: Khosla et al., NeurIPS 2020 (SupCon); Zhu et al., CVPR 2022
    (BCL); arXiv 2312.01753 (RCL).
    """

    _options = ("temperature", "class_averaging", "class_complement",
                "balance", "feature_scale", "margin_max")

    def __init__(self, class_counts: Optional[Counts] = None, *,
                 temperature: float = 0.1, class_averaging: bool = False,
                 class_complement: bool = False, balance: float = 0.0,
                 feature_scale: float = 1.0, margin_max: float = 0.0) -> None:
        name = type(self).__name__
        balance = float(balance)
        margin_max = float(margin_max)
        needs = balance != 0 or margin_max > 0 or class_complement
        if needs and class_counts is None:
            on = [s for s, v in (("balance", balance != 0),
                                 ("margin_max", margin_max > 0),
                                 ("class_complement", class_complement)) if v]
            raise ValueError("%s - class_counts is required with %s "
                             "(n_c of each class, [C])" % (name, ", ".join(on)))
        super().__init__(class_counts, required=False)
        self.temperature = _positive(name, "temperature", temperature)
        self.feature_scale = _positive(name, "feature_scale", feature_scale)
        if not (margin_max >= 0) or not math.isfinite(margin_max):
            raise ValueError("%s - margin_max must be >= 0: {got %r}"
                             % (name, margin_max))
        if not math.isfinite(balance):
            raise ValueError("%s - balance must be finite: {got %r}"
                             % (name, balance))
        self.balance = balance
        self.margin_max = margin_max
        self.class_averaging = bool(class_averaging)
        self.class_complement = bool(class_complement)

    def forward(self, features: Tensor, labels: Tensor,
                prototypes: Optional[Tensor] = None) -> Tensor:
        name = type(self).__name__
        if not isinstance(features, Tensor) or features.dim() != 3 or \
                not features.is_floating_point() or features.shape[0] < 1 or \
                features.shape[1] < 1:
            raise ValueError(
                "%s - features must be a floating tensor [B, V, D] (V views "
                "of B samples; one view: features.unsqueeze(1)): {got %s}"
                % (name, _shape(features)))
        _check_labels(name, labels, features.shape[0], "features.size(0)")
        if self.class_complement:
            if prototypes is None:
                raise ValueError("%s - class_complement is on: forward needs "
                                 "prototypes [C, D] (C = %s, D = %d)"
                                 % (name, self.num_classes, features.shape[2]))
            c, d = self.num_classes, features.shape[2]
            if not isinstance(prototypes, Tensor) or prototypes.dim() != 2 or \
                    tuple(prototypes.shape) != (c, d):
                raise ValueError(
                    "%s - prototypes must be [C, D] with C = len(class_counts)"
                    " = %d and D = features.size(2) = %d: {got prototypes %s, "
                    "features %s}" % (name, c, d, _shape(prototypes),
                                      _shape(features)))
        elif prototypes is not None:
            raise ValueError("%s - prototypes given but class_complement is "
                             "off: {got prototypes %s}; use BCL / "
                             "class_complement=True"
                             % (name, _shape(prototypes)))
        counts = self.class_counts
        if counts is None:
            counts = torch.zeros(0, dtype=torch.int64, device=features.device)
        return _ops.contrastive_loss(
            features, labels, prototypes, counts, self.temperature,
            self.class_averaging, self.balance, self.feature_scale,
            self.margin_max)


class SupCon(ContrastiveLoss):
    r"""Supervised contrastive loss (Khosla et al., NeurIPS 2020): the core
    with every switch off::

        L_i = -1/|P(i)| sum_{p in P(i)} log( exp(z_i.z_p/tau)
                                            / sum_{k != i} exp(z_i.z_k/tau) )

    ``SupCon(temperature=0.1)``; class_counts optional. forward(features
    [B, V, D], labels [B]) -> mean loss. Every keyword of ContrastiveLoss is
    accepted (a switch turned on makes it that method).
    """

    def __init__(self, class_counts: Optional[Counts] = None, *,
                 temperature: float = 0.1, **switches) -> None:
        super().__init__(class_counts, temperature=temperature, **switches)


class BCL(ContrastiveLoss):
    r"""Balanced contrastive learning (Zhu et al., CVPR 2022): SupCon with
    class averaging and class complement::

        l_ik = (z_i . k) / tau over K = the 2B views + the C prototypes,
        D_i  = sum_{k in K, k != i} exp(l_ik) / (#{k' in K: y_k' = y_k}
                                                  - [y_k = y_i])

    ``BCL(class_counts, temperature=0.1)``; forward(features [B, V, D],
    labels [B], prototypes [C, D]). The prototypes are the normalised
    ``head_fc(classifier.weight)`` (METHODS.md section 4); the classifier
    is trained with logit-adjusted CE (LogitAdjustedLoss): BCL's total is
    alpha * LA-CE + beta * BCL, alpha 2, beta 0.6 on CIFAR.
    """

    def __init__(self, class_counts: Counts, *, temperature: float = 0.1,
                 class_averaging: bool = True, class_complement: bool = True,
                 **switches) -> None:
        super().__init__(class_counts, temperature=temperature,
                         class_averaging=class_averaging,
                         class_complement=class_complement, **switches)


class RCL(ContrastiveLoss):
    r"""Rebalanced contrastive loss (arXiv 2312.01753), standalone: SupCon
    plus RCL's three switches::

        l_ik = s^2 (z_i . z_k) / tau + b log pi_{y_k} - [k in P(i)] m_{y_i}
        m_c  = margin_max * (n_c^(-1/4) / max_j n_j^(-1/4)) / tau

    1. ``balance`` b (feature-space balancedness; 1 = Balanced Softmax),
    2. ``feature_scale`` s (intra-class compactness),
    3. ``margin_max`` (larger margins for tail classes).

    ``RCL(class_counts, temperature=0.1, balance=1.0, feature_scale=1.5,
    margin_max=0.1)`` (s and m_max: ltcl's ablation, docs/results.md; set a
    switch to its neutral value, 0 / 1 / 0, to turn it off).
    forward(features [B, V, D], labels [B]).
    """

    def __init__(self, class_counts: Counts, *, temperature: float = 0.1,
                 balance: float = 1.0, feature_scale: float = 1.5,
                 margin_max: float = 0.1, **switches) -> None:
        super().__init__(class_counts, temperature=temperature,
                         balance=balance, feature_scale=feature_scale,
                         margin_max=margin_max, **switches)


class BCLRCL(ContrastiveLoss):
    r"""BCL + RCL: every switch on (class averaging, class complement,
    balance 1, feature scale 1.5, margin_max 0.1; see ContrastiveLoss)::

        l_ik = s^2 (z_i . k) / tau + b log pi_{y_k} - [k in P(i)] m_{y_i}
        D_i  = sum_{k in K, k != i} w_ik exp(l_ik)   (K: views + prototypes)

    ``BCLRCL(class_counts, temperature=0.1, balance=1.0, feature_scale=1.5,
    margin_max=0.1)``; forward(features [B, V, D], labels [B], prototypes
    [C, D]).
    """

    def __init__(self, class_counts: Counts, *, temperature: float = 0.1,
                 balance: float = 1.0, feature_scale: float = 1.5,
                 margin_max: float = 0.1, class_averaging: bool = True,
                 class_complement: bool = True) -> None:
        super().__init__(class_counts, temperature=temperature,
                         class_averaging=class_averaging,
                         class_complement=class_complement, balance=balance,
                         feature_scale=feature_scale, margin_max=margin_max)


def rcl_margins(class_counts: Counts, margin_max: float = 0.1) -> Tensor:
    """RCL's m_c before the 1/tau: margin_max * n_c^(-1/4) / max_j
    n_j^(-1/4), float64 [C]."""
    n = _counts_tensor("rcl_margins", class_counts).double()
    if not (float(margin_max) >= 0):
        raise ValueError("rcl_margins - margin_max must be >= 0: {got %r}"
                         % (margin_max,))
    m = n.pow(-0.25)
    return m * (float(margin_max) / m.max())


# ---------------------------------------------------------------------------
# Classification losses (METHODS.md section 2)
# ---------------------------------------------------------------------------


class LogitAdjustedLoss(_Loss):
    r"""Logit-adjusted cross entropy (Menon et al., ICLR 2021)::

        loss = mean_i -log softmax(x_i + tau log pi)[y_i]

    ``LogitAdjustedLoss(class_counts, tau=1.0)``; forward(logits [N, C],
    labels [N]). Test time uses the raw logits.
    """

    _options = ("tau",)

    def __init__(self, class_counts: Counts, *, tau: float = 1.0) -> None:
        super().__init__(class_counts)
        tau = float(tau)
        if not math.isfinite(tau):
            raise ValueError("LogitAdjustedLoss - tau must be finite: {got %r}"
                             % tau)
        self.tau = tau

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        _check_logits(type(self).__name__, logits, labels, self.num_classes)
        return _ops.logit_adjusted_cross_entropy(
            logits, labels, self.class_counts, self.tau)


class BalancedSoftmaxLoss(_Loss):
    r"""Balanced Softmax (Ren et al., NeurIPS 2020)::

        loss = mean_i -log softmax(x_i + log n)[y_i]

    (equal to LogitAdjustedLoss with tau = 1). ``BalancedSoftmaxLoss(
    class_counts)``; forward(logits [N, C], labels [N]).
    """

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        _check_logits(type(self).__name__, logits, labels, self.num_classes)
        return _ops.balanced_softmax_cross_entropy(
            logits, labels, self.class_counts)


def drw_weights(class_counts: Counts, beta: float = 0.9999) -> Tensor:
    r"""Deferred re-weighting's class weights (Cui et al., CVPR 2019, as
    LDAM-DRW uses them), float32 [C]::

        w_c = (1 - beta) / (1 - beta^n_c),   rescaled so that sum_c w_c = C

    Switch them on late (epoch 160 of 200): ``ldam.weight = drw_weights(
    counts)``.
    """
    n = _counts_tensor("drw_weights", class_counts).double()
    beta = float(beta)
    if not (0 <= beta < 1):
        raise ValueError("drw_weights - beta must be in [0, 1): {got %r}"
                         % beta)
    if beta == 0:
        w = torch.ones_like(n)
    else:
        w = (1.0 - beta) / -torch.expm1(n * math.log(beta))
    return (w * (n.numel() / w.sum())).float()


class LDAMLoss(_Loss):
    r"""LDAM (Cao et al., NeurIPS 2019), optionally with DRW weights::

        Delta_c = max_margin * n_c^(-1/4) / max_j n_j^(-1/4)
        loss    = CE(s * (x - Delta_y onehot(y)), weight)

    (a weighted mean over the batch when ``weight`` is set, as CE does).

    ``LDAMLoss(class_counts, max_margin=0.5, scale=30.0, weight=None)``;
    forward(logits [N, C], labels [N]). DRW: set ``loss.weight =
    drw_weights(class_counts)`` at the DRW epoch (``None`` turns it off);
    the weight is a buffer (moves with .to, saved in state_dict).
    """

    _options = ("max_margin", "scale")

    def __init__(self, class_counts: Counts, *, max_margin: float = 0.5,
                 scale: float = 30.0, weight: Optional[Tensor] = None) -> None:
        super().__init__(class_counts)
        self.max_margin = _positive("LDAMLoss", "max_margin", max_margin)
        self.scale = _positive("LDAMLoss", "scale", scale)
        self.register_buffer("weight", None)
        self.weight = weight

    def __setattr__(self, key, value):
        if key == "weight" and value is not None:
            if not isinstance(value, Tensor) or value.dim() != 1 or \
                    value.numel() != self.num_classes or \
                    not value.is_floating_point():
                raise ValueError("LDAMLoss - weight must be a floating tensor "
                                 "[C] with C = len(class_counts) = %d: {got %s}"
                                 % (self.num_classes, _shape(value)))
        super().__setattr__(key, value)

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        _check_logits("LDAMLoss", logits, labels, self.num_classes)
        return _ops.ldam_loss(logits, labels, self.class_counts,
                              self.max_margin, self.scale, self.weight)


class FocalLoss(_Loss):
    r"""Focal loss (Lin et al., ICCV 2017)::

        loss = mean_i -(1 - p_iy)^gamma log p_iy,  p_i = softmax(x_i)

    ``FocalLoss(gamma=2.0)``; forward(logits [N, C], labels [N]). No class
    counts.
    """

    _options = ("gamma",)

    def __init__(self, *, gamma: float = 2.0) -> None:
        super().__init__(None, required=False)
        gamma = float(gamma)
        if not (gamma >= 0) or not math.isfinite(gamma):
            raise ValueError("FocalLoss - gamma must be >= 0: {got %r}" % gamma)
        self.gamma = gamma

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        _check_logits("FocalLoss", logits, labels, None)
        return _ops.focal_loss(logits, labels, self.gamma)


# ---------------------------------------------------------------------------
# Prototype and distribution losses (METHODS.md sections 6, 9, 10)
# ---------------------------------------------------------------------------


class PSCLoss(_Loss):
    r"""Prototypical supervised contrastive loss of Hybrid-PSC (Wang et
    al., CVPR 2021): one learnable prototype p_c per class, normalised::

        loss = mean_i -log( exp(z_i . p_{y_i} / tau) / sum_c exp(z_i . p_c / tau) )

    ``PSCLoss(temperature=0.1)`` (1.0 on CIFAR-10); forward(features [B, D]
    normalised, labels [B], prototypes [C, D] (normalised inside)). Cost
    O(B*C). No class counts.
    """

    _options = ("temperature",)

    def __init__(self, *, temperature: float = 0.1) -> None:
        super().__init__(None, required=False)
        self.temperature = _positive("PSCLoss", "temperature", temperature)

    def forward(self, features: Tensor, labels: Tensor,
                prototypes: Tensor) -> Tensor:
        if not isinstance(features, Tensor) or features.dim() != 2 or \
                not features.is_floating_point():
            raise ValueError("PSCLoss - features must be a floating tensor "
                             "[B, D]: {got %s}" % _shape(features))
        _check_labels("PSCLoss", labels, features.shape[0], "features.size(0)")
        if not isinstance(prototypes, Tensor) or prototypes.dim() != 2 or \
                prototypes.shape[1] != features.shape[1]:
            raise ValueError("PSCLoss - prototypes must be [C, D] with D = "
                             "features.size(1) = %d: {got prototypes %s}"
                             % (features.shape[1], _shape(prototypes)))
        return _ops.psc_loss(features, labels, prototypes, self.temperature)


class ProCoLoss(_Loss):
    r"""ProCo's closed-form contrastive loss (Du et al., TPAMI 2024): each
    class a von Mises-Fisher distribution vMF(mu_c, kappa_c) on the unit
    sphere of R^p, nu = p/2 - 1, computed in float64::

        kt_ic    = || kappa_c mu_c + z_i / tau ||
        logit_ic = nu log kappa_c - log I_nu(kappa_c) - nu log kt_ic
                   + log I_nu(kt_ic)
        loss     = mean_i -log softmax(logit_i + log pi)[y_i]

    with d logit / d kt = I_{nu+1}(kt) / I_nu(kt) (clamped to <= 1) and no
    gradient into mu or kappa.

    ``ProCoLoss(class_counts, tau=0.1)`` (0.07 on ImageNet-LT);
    forward(z [N, p] unit rows, labels [N], mu [C, p] unit rows, kappa [C]
    > 0) -> float64 scalar. mu, kappa are the vMF estimates (the running
    class means of z over the previous and the current epoch; METHODS.md
    section 9). ProCo's total: LA-CE(view-0 logits) + 0.5 * (ProCo(z1) +
    ProCo(z2)).
    """

    _options = ("tau",)

    def __init__(self, class_counts: Counts, *, tau: float = 0.1) -> None:
        super().__init__(class_counts)
        self.tau = _positive("ProCoLoss", "tau", tau)

    def forward(self, z: Tensor, labels: Tensor, mu: Tensor,
                kappa: Tensor) -> Tensor:
        if not isinstance(z, Tensor) or z.dim() != 2 or \
                not z.is_floating_point():
            raise ValueError("ProCoLoss - z must be a floating tensor [N, p]: "
                             "{got %s}" % _shape(z))
        _check_labels("ProCoLoss", labels, z.shape[0], "z.size(0)")
        c, p = self.num_classes, z.shape[1]
        if not isinstance(mu, Tensor) or tuple(mu.shape) != (c, p):
            raise ValueError("ProCoLoss - mu must be [C, p] with C = "
                             "len(class_counts) = %d, p = z.size(1) = %d: "
                             "{got mu %s}" % (c, p, _shape(mu)))
        if not isinstance(kappa, Tensor) or tuple(kappa.shape) != (c,):
            raise ValueError("ProCoLoss - kappa must be [C] with C = %d: "
                             "{got kappa %s}" % (c, _shape(kappa)))
        return _ops.proco_loss(z, labels, mu, kappa, self.class_counts,
                               self.tau)


class PaCoLoss(_Loss):
    r"""The parametric contrastive loss of PaCo / GPaCo (Cui et al., ICCV
    2021 / TPAMI 2023). Per anchor i::

        l_i  = [ g_i1 .. g_iC ; a_i . f_j / tau for j in the contrast set,
                 j != self(i) ]  minus the row maximum (detached)
        D_i  = sum over l_i of exp(l)
        w    = 1 on the true class's centre, alpha on every same-class
               contrast entry j != self(i), 0 elsewhere
        loss = mean_i [ -sum(w (l_i - log D_i)) / sum(w) ]

    ``PaCoLoss(alpha=0.05, tau=0.2)`` (CIFAR: alpha 0.01, tau 0.05).
    forward(centre_logits g [N, C] (the linear layer on the backbone
    feature, + log pi in training: the caller's), anchors a [N, D]
    normalised, labels [N], contrast f [M, D] = None, contrast_labels [M] =
    None, self_index [N] = None). Without ``contrast`` the anchors are their
    own contrast set (self_index = arange(N)); ``self_index`` gives each
    anchor's own row in f, -1 where it is absent (default: -1 for all).
    No class counts (add ``log pi`` to g yourself).
    """

    _options = ("alpha", "tau")

    def __init__(self, *, alpha: float = 0.05, tau: float = 0.2) -> None:
        super().__init__(None, required=False)
        alpha = float(alpha)
        if not (alpha >= 0) or not math.isfinite(alpha):
            raise ValueError("PaCoLoss - alpha must be >= 0: {got %r}" % alpha)
        self.alpha = alpha
        self.tau = _positive("PaCoLoss", "tau", tau)

    def forward(self, centre_logits: Tensor, anchors: Tensor, labels: Tensor,
                contrast: Optional[Tensor] = None,
                contrast_labels: Optional[Tensor] = None,
                self_index: Optional[Tensor] = None) -> Tensor:
        g, a = centre_logits, anchors
        if not isinstance(g, Tensor) or g.dim() != 2 or \
                not g.is_floating_point():
            raise ValueError("PaCoLoss - centre_logits must be a floating "
                             "tensor [N, C]: {got %s}" % _shape(g))
        if not isinstance(a, Tensor) or a.dim() != 2 or \
                a.shape[0] != g.shape[0]:
            raise ValueError("PaCoLoss - anchors must be [N, D] with N = "
                             "centre_logits.size(0) = %d: {got anchors %s}"
                             % (g.shape[0], _shape(a)))
        _check_labels("PaCoLoss", labels, g.shape[0], "centre_logits.size(0)")
        n = g.shape[0]
        if contrast is None:
            if contrast_labels is not None:
                raise ValueError("PaCoLoss - contrast_labels given without "
                                 "contrast: {got %s}" % _shape(contrast_labels))
            contrast, contrast_labels = a, labels
            if self_index is None:
                self_index = torch.arange(n, device=labels.device)
        else:
            if not isinstance(contrast, Tensor) or contrast.dim() != 2 or \
                    contrast.shape[1] != a.shape[1]:
                raise ValueError("PaCoLoss - contrast must be [M, D] with D = "
                                 "anchors.size(1) = %d: {got contrast %s}"
                                 % (a.shape[1], _shape(contrast)))
            if contrast_labels is None:
                raise ValueError("PaCoLoss - contrast [M, D] needs "
                                 "contrast_labels [M]")
            _check_labels("PaCoLoss", contrast_labels, contrast.shape[0],
                          "contrast.size(0)")
            if self_index is None:
                self_index = torch.full((n,), -1, dtype=torch.int64,
                                        device=labels.device)
        if not isinstance(self_index, Tensor) or \
                tuple(self_index.shape) != (n,) or \
                self_index.is_floating_point():
            raise ValueError("PaCoLoss - self_index must be an integer tensor "
                             "[N] with N = %d: {got %s}"
                             % (n, _shape(self_index)))
        return _ops.paco_loss(g, a, labels, contrast, contrast_labels,
                              self_index, self.alpha, self.tau)


# ---------------------------------------------------------------------------
# ResCom (METHODS.md section 5) and the queues of ResCom / PaCo / GPaCo
# ---------------------------------------------------------------------------


def class_balanced_weights(class_counts: Counts, beta: float = 0.999999) -> Tensor:
    r"""Cui et al.'s class-balanced weights (ResCom's anchor weights)::

        E_c = (1 - beta^n_c) / (1 - beta),   w_c = mean_j(E_j) / E_c

    Returns float32 [C]."""
    counts = _counts_tensor("class_balanced_weights", class_counts)
    beta = float(beta)
    if not (0 <= beta < 1):
        raise ValueError("class_balanced_weights - beta must be in [0, 1): "
                         "{got %r}" % beta)
    return _ops.class_balanced_weights(counts.tolist(), beta)


class ClassBalancedQueue(nn.Module):
    r"""ResCom's class-balanced memory: Q keys per class, FIFO per class,
    held in buffers (``state_dict`` saves it; ``.to`` moves it)::

        keys [C, Q, D], ptr [C] (next slot of each class), count [C] (<= Q)

    ``enqueue(z [B, D], labels [B])`` writes each sample into its class's
    next slot in batch order (detached); of more than Q samples of one class
    in a batch the last Q survive, as one at a time would leave them.
    ``valid_mask()`` [C, Q] is True on the filled slots."""

    def __init__(self, num_classes: int, dim: int, per_class: int = 10) -> None:
        super().__init__()
        for name, v in (("num_classes", num_classes), ("dim", dim),
                        ("per_class", per_class)):
            if int(v) < 1:
                raise ValueError("ClassBalancedQueue - %s must be >= 1: "
                                 "{got %r}" % (name, v))
        self.num_classes, self.dim, self.per_class = \
            int(num_classes), int(dim), int(per_class)
        self.register_buffer("keys", torch.zeros(self.num_classes,
                                                 self.per_class, self.dim))
        self.register_buffer("ptr", torch.zeros(self.num_classes, dtype=torch.int64))
        self.register_buffer("count", torch.zeros(self.num_classes, dtype=torch.int64))

    @torch.no_grad()
    def enqueue(self, z: Tensor, labels: Tensor) -> None:
        if not isinstance(z, Tensor) or z.dim() != 2 or z.shape[1] != self.dim:
            raise ValueError("ClassBalancedQueue.enqueue - z must be [B, %d]: "
                             "{got %s}" % (self.dim, _shape(z)))
        _check_labels("ClassBalancedQueue.enqueue", labels, z.shape[0], "z.size(0)")
        if labels.numel() == 0:
            return
        y = labels.to(self.keys.device, torch.int64)
        if int(y.min()) < 0 or int(y.max()) >= self.num_classes:
            raise ValueError("ClassBalancedQueue.enqueue - labels must be in "
                             "[0, %d): {got %d .. %d}"
                             % (self.num_classes, int(y.min()), int(y.max())))
        z = z.detach().to(self.keys.device, self.keys.dtype)
        q = self.per_class
        n_c = torch.bincount(y, minlength=self.num_classes)
        # Rank of each sample among its class's samples in the batch.
        order = torch.sort(y, stable=True).indices
        ys = y[order]
        start = torch.cumsum(n_c, 0) - n_c
        rank = torch.arange(y.numel(), device=y.device) - start[ys]
        keep = rank >= n_c[ys] - q
        cls, rank, src = ys[keep], rank[keep], order[keep]
        slot = (self.ptr[cls] + rank) % q
        self.keys[cls, slot] = z[src]
        self.ptr.copy_((self.ptr + n_c) % q)
        self.count.copy_(torch.clamp(self.count + n_c, max=q))

    def valid_mask(self) -> Tensor:
        slots = torch.arange(self.per_class, device=self.count.device)
        return slots.unsqueeze(0) < self.count.unsqueeze(1)

    def extra_repr(self) -> str:
        return "num_classes=%d, per_class=%d, dim=%d" % (
            self.num_classes, self.per_class, self.dim)


class ResComLoss(_Loss):
    r"""ResCom's class-balanced contrastive loss with hard mining against a
    class-balanced queue (Zhong et al., 2022; METHODS.md section 5). Per
    view anchor i (N = V*B anchors) the logits, all divided by tau::

        [ z_i . z_k for the batch's view embeddings k != i,
          the k_pos LEAST similar valid queue keys of class y_i (positives),
          the k_neg MOST similar valid queue keys of other classes ]
        positives P(i) = batch keys with y_k = y_i (k != i) + the mined ones
        L_i  = -1/|P(i)| sum_{p in P(i)} log softmax(logits_i)_p
        loss = (1/N) sum_i w_{y_i} L_i,   w: class_balanced_weights(beta)

    Anchors without positives add 0. The queue keys are constants.
    ``ResComLoss(class_counts, temperature=0.2, k_pos=1, k_neg=400,
    per_class=10, beta=0.999999, weighted=True)`` holds its queue
    (``self.queue``, a :class:`ClassBalancedQueue` created at the first
    call, or given) and, as the reference code, does NOT enqueue itself:
    after the optimizer step call ``loss.queue.enqueue(z[:, 0].detach(),
    labels)`` (the first views). forward(features [B, V, D] normalised,
    labels [B]). ResCom's total: Siamese Balanced Softmax on both views'
    logits (:class:`BalancedSoftmaxLoss` on the 2B rows) + 0.5 * this.
    """

    _options = ("temperature", "k_pos", "k_neg", "per_class", "beta", "weighted")

    def __init__(self, class_counts: Counts, *, temperature: float = 0.2,
                 k_pos: int = 1, k_neg: int = 400, per_class: int = 10,
                 beta: float = 0.999999, weighted: bool = True,
                 queue: Optional[ClassBalancedQueue] = None) -> None:
        super().__init__(class_counts)
        self.temperature = _positive("ResComLoss", "temperature", temperature)
        for name, v in (("k_pos", k_pos), ("k_neg", k_neg)):
            if int(v) < 0:
                raise ValueError("ResComLoss - %s must be >= 0: {got %r}" % (name, v))
        self.k_pos, self.k_neg, self.per_class = int(k_pos), int(k_neg), int(per_class)
        self.beta, self.weighted = float(beta), bool(weighted)
        if weighted:
            self.register_buffer("class_weights",
                                 class_balanced_weights(self.class_counts, beta))
        else:
            self.register_buffer("class_weights", None)
        self.queue = queue

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        if not isinstance(features, Tensor) or features.dim() != 3 or \
                not features.is_floating_point():
            raise ValueError("ResComLoss - features must be a floating tensor "
                             "[B, V, D]: {got %s}" % _shape(features))
        _check_labels("ResComLoss", labels, features.shape[0], "features.size(0)")
        if self.queue is None:
            self.queue = ClassBalancedQueue(self.num_classes, features.shape[2],
                                            self.per_class).to(features.device)
        if self.queue.dim != features.shape[2] or \
                self.queue.num_classes != self.num_classes:
            raise ValueError("ResComLoss - the queue is [%d, %d, %d] (C, Q, D) "
                             "but features are %s with %d classes"
                             % (self.queue.num_classes, self.queue.per_class,
                                self.queue.dim, _shape(features), self.num_classes))
        return _ops.rescom_loss(features, labels, self.queue.keys,
                                self.queue.valid_mask(), self.class_weights,
                                self.temperature, self.k_pos, self.k_neg)


class LabeledQueue(nn.Module):
    r"""PaCo / GPaCo's FIFO of the last K labelled keys (MoCo's queue with
    labels), in buffers: keys [K, D], labels [K], position [1]. Its initial
    content is the official code's draw: keys standard normal normalised
    over dim 0 (so each is short, |k| ~ sqrt(D / K)), labels uniform in
    [0, C) (torch's generator, ``seed`` when given). ``enqueue(keys [B, D],
    labels [B])`` replaces the oldest B entries (after the optimizer step;
    the loss reads the queue as it was). Use with :class:`PaCoLoss`::

        contrast = torch.cat([q, k, queue.keys]); fy = torch.cat([y, y, queue.labels])
    """

    def __init__(self, size: int, dim: int, num_classes: int,
                 seed: Optional[int] = None) -> None:
        super().__init__()
        for name, v in (("size", size), ("dim", dim), ("num_classes", num_classes)):
            if int(v) < 1:
                raise ValueError("LabeledQueue - %s must be >= 1: {got %r}" % (name, v))
        self.size, self.dim, self.num_classes = int(size), int(dim), int(num_classes)
        g = torch.Generator()
        if seed is not None:
            g.manual_seed(int(seed))
        else:
            g.seed()
        keys = torch.randn(self.size, self.dim, generator=g)
        self.register_buffer("keys", keys / keys.norm(dim=0, keepdim=True).clamp_min(1e-12))
        self.register_buffer("labels", torch.randint(0, self.num_classes, (self.size,), generator=g))
        self.register_buffer("position", torch.zeros(1, dtype=torch.int64))

    @torch.no_grad()
    def enqueue(self, keys: Tensor, labels: Tensor) -> None:
        if not isinstance(keys, Tensor) or keys.dim() != 2 or keys.shape[1] != self.dim:
            raise ValueError("LabeledQueue.enqueue - keys must be [B, %d]: {got %s}"
                             % (self.dim, _shape(keys)))
        _check_labels("LabeledQueue.enqueue", labels, keys.shape[0], "keys.size(0)")
        b = keys.shape[0]
        if b == 0:
            return
        if int(labels.min()) < 0 or int(labels.max()) >= self.num_classes:
            raise ValueError("LabeledQueue.enqueue - labels must be in [0, %d): "
                             "{got %d .. %d}" % (self.num_classes,
                                                 int(labels.min()), int(labels.max())))
        k = keys.detach().to(self.keys.device, self.keys.dtype)
        y = labels.to(self.labels.device, torch.int64)
        start = int(self.position)
        if b > self.size:
            start = (start + b - self.size) % self.size
            k, y, b = k[-self.size:], y[-self.size:], self.size
        slots = (torch.arange(b, device=self.keys.device) + start) % self.size
        self.keys[slots] = k
        self.labels[slots] = y
        self.position.fill_((start + b) % self.size)

    def extra_repr(self) -> str:
        return "size=%d, dim=%d, num_classes=%d" % (self.size, self.dim, self.num_classes)


class VmfEstimator(nn.Module):
    r"""ProCo's per-class von Mises-Fisher estimates (METHODS.md section 9;
    ltcl's C++ ``models::VmfEstimator``), in buffers so ``state_dict`` saves
    them. Two estimators, "old" and "current", each Ave [C, p], Amount [C]:

    - ``start_epoch()`` (at each epoch's first step): old <- current;
      current reset to Ave_c = 0.9 normalise(n_c), n_c standard normal
      (``generator`` when given), Amount 0;
    - ``update(z, labels)`` (once per contrastive view, the batch gathered
      from every process, detached): for each class c with m_c samples,
      w_c = m_c / (m_c + Amount_c), Ave_c <- (1 - w_c) Ave_c + w_c mean_c,
      Amount_c += m_c, in both estimators;
    - the estimate the loss reads is old's: R_c = ||Ave_c||, ``mu()`` =
      Ave_c / R_c, ``kappa()`` = p R_c / (1 - R_c^2), set to 1e5 above 1e5
      or when negative (the official code's form).

    ProCo per step (``est``, ``loss = ProCoLoss(counts)``)::

        for z in (z1, z2):
            est.update(z.detach(), y)
            con = con + loss(z, y, est.mu(), est.kappa())
    """

    def __init__(self, num_classes: int, dim: int,
                 generator: Optional[torch.Generator] = None) -> None:
        super().__init__()
        if int(num_classes) < 1 or int(dim) < 2:
            raise ValueError("VmfEstimator - needs >= 1 class and dim >= 2: "
                             "{got %r classes, dim %r}" % (num_classes, dim))
        self.num_classes, self.dim = int(num_classes), int(dim)
        self.generator = generator
        ave = self._reset_ave()
        self.register_buffer("old_ave", ave.clone())
        self.register_buffer("cur_ave", ave.clone())
        self.register_buffer("old_amount", torch.zeros(self.num_classes))
        self.register_buffer("cur_amount", torch.zeros(self.num_classes))

    def _reset_ave(self) -> Tensor:
        n = torch.randn(self.num_classes, self.dim, dtype=torch.float64,
                        generator=self.generator)
        return (0.9 * n / n.norm(dim=1, keepdim=True)).float()

    @torch.no_grad()
    def start_epoch(self) -> None:
        self.old_ave.copy_(self.cur_ave)
        self.old_amount.copy_(self.cur_amount)
        self.cur_ave.copy_(self._reset_ave().to(self.cur_ave.device))
        self.cur_amount.zero_()

    @torch.no_grad()
    def update(self, z: Tensor, labels: Tensor) -> None:
        if not isinstance(z, Tensor) or z.dim() != 2 or z.shape[1] != self.dim:
            raise ValueError("VmfEstimator.update - z must be [B, %d]: {got %s}"
                             % (self.dim, _shape(z)))
        _check_labels("VmfEstimator.update", labels, z.shape[0], "z.size(0)")
        if labels.numel() == 0:
            return
        y = labels.to(self.old_ave.device, torch.int64)
        if int(y.min()) < 0 or int(y.max()) >= self.num_classes:
            raise ValueError("VmfEstimator.update - labels must be in [0, %d): "
                             "{got %d .. %d}" % (self.num_classes, int(y.min()), int(y.max())))
        zz = z.detach().to(self.old_ave.device, self.old_ave.dtype)
        sums = torch.zeros_like(self.old_ave).index_add_(0, y, zz)
        m = torch.zeros_like(self.old_amount).index_add_(
            0, y, torch.ones(y.numel(), dtype=self.old_amount.dtype, device=y.device))
        present = m > 0
        mean = sums / m.clamp(min=1).unsqueeze(1)
        for ave, amount in ((self.old_ave, self.old_amount),
                            (self.cur_ave, self.cur_amount)):
            w = torch.where(present, m / (m + amount).clamp(min=1e-30), torch.zeros_like(m))
            ave.copy_((1 - w).unsqueeze(1) * ave + w.unsqueeze(1) * mean)
            amount.add_(m)

    def mu(self) -> Tensor:
        return self.old_ave / self.old_ave.norm(dim=1, keepdim=True)

    def kappa(self) -> Tensor:
        r = self.old_ave.norm(dim=1)
        k = self.dim * r / (1 - r * r)
        return torch.where((k > 1e5) | (k < 0), torch.full_like(k, 1e5), k)

    def extra_repr(self) -> str:
        return "num_classes=%d, dim=%d" % (self.num_classes, self.dim)
