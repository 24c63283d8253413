"""ltcl's evaluation numbers on tensors, as its C++ reports compute them.

    acc = ltcl.metrics.group_accuracy(logits, labels, train_counts)
    acc["top1"], acc["many"], acc["medium"], acc["few"]      # percent
    ltcl.metrics.ece(logits, labels)                         # fraction, 15 bins
    ltcl.metrics.embedding_metrics(z, labels, train_counts)  # RCL's claims

Definitions: src/eval/report.cpp (per-group accuracy), src/eval/
calibration.cpp (ECE) and src/eval/embedding_metrics.cpp (docs/metrics.md).
Everything is computed in float64 on the CPU.
"""
import math
from typing import Dict, List, Optional, Sequence

import torch
from torch import Tensor

from .data import shot_groups

__all__ = ["group_accuracy", "ece", "calibration", "embedding_metrics"]


def _shape(t) -> str:
    return "[%s]" % ", ".join(str(s) for s in t.shape) \
        if isinstance(t, Tensor) else type(t).__name__


def _labels(name: str, labels: Tensor, n: int, num_classes: int) -> Tensor:
    if not isinstance(labels, Tensor) or labels.dim() != 1 or \
            labels.shape[0] != n or labels.is_floating_point():
        raise ValueError("%s - labels must be an integer tensor [N] with N = "
                         "%d: {got %s}" % (name, n, _shape(labels)))
    y = labels.detach().cpu().long()
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError("%s - labels must be in [0, %d): {got min %d, max %d}"
                         % (name, num_classes, int(y.min()), int(y.max())))
    return y


def _logits(name: str, logits: Tensor) -> Tensor:
    if not isinstance(logits, Tensor) or logits.dim() != 2 or \
            not logits.is_floating_point():
        raise ValueError("%s - logits must be a floating tensor [N, C]: "
                         "{got %s}" % (name, _shape(logits)))
    return logits.detach().cpu().double()


def group_accuracy(logits: Tensor, labels: Tensor,
                   train_counts: Sequence[int], *, many_above: int = 100,
                   few_below: int = 20) -> Dict[str, object]:
    """Top-1 accuracy overall, per class and per shot group, in percent.

    logits [N, C] (or predictions [N], integer), labels [N]; train_counts
    [C] the training set's n_c (for the groups). Returns::

        top1        100 * mean over samples of [argmax x_i == y_i]
        mean_class  mean of the per-class accuracies (balanced accuracy)
        many / medium / few   mean of the group's per-class accuracies
        per_class   [C] list, NaN for a class without test samples
        many_classes / medium_classes / few_classes   class counts per group

    Classes without test samples are left out of the means; a group
    without any is NaN. Argmax ties go to the lowest class index.
    """
    name = "group_accuracy"
    counts = list(train_counts.tolist() if isinstance(train_counts, Tensor)
                  else train_counts)
    C = len(counts)
    if isinstance(logits, Tensor) and logits.dim() == 1 and \
            not logits.is_floating_point():
        pred = logits.detach().cpu().long()
    else:
        x = _logits(name, logits)
        if x.shape[1] != C:
            raise ValueError("%s - logits must be [N, C] with C = "
                             "len(train_counts) = %d: {got %s}"
                             % (name, C, _shape(logits)))
        pred = x.argmax(dim=1)
    y = _labels(name, labels, pred.shape[0], C)
    hit = (pred == y).double()
    total = torch.bincount(y, minlength=C).double()
    correct = torch.bincount(y, weights=hit, minlength=C)
    per_class = [100.0 * float(correct[c] / total[c]) if total[c] > 0
                 else float("nan") for c in range(C)]
    groups = shot_groups(counts, many_above=many_above, few_below=few_below)

    def mean(classes: List[int]) -> float:
        v = [per_class[c] for c in classes if not math.isnan(per_class[c])]
        return sum(v) / len(v) if v else float("nan")

    return {
        "top1": 100.0 * float(hit.mean()) if hit.numel() else float("nan"),
        "mean_class": mean(list(range(C))),
        "many": mean(groups.many), "medium": mean(groups.medium),
        "few": mean(groups.few), "per_class": per_class,
        "many_classes": len(groups.many),
        "medium_classes": len(groups.medium), "few_classes": len(groups.few),
    }


def _bin(p: float, num_bins: int) -> int:
    """Bin b holds p in (b / B, (b + 1) / B]; p <= 0 goes to bin 0."""
    if not (p > 0):
        return 0
    if p >= 1:
        return num_bins - 1
    b = min(max(math.ceil(p * num_bins) - 1, 0), num_bins - 1)
    while b > 0 and p <= b / num_bins:
        b -= 1
    while b + 1 < num_bins and p > (b + 1) / num_bins:
        b += 1
    return b


def calibration(logits: Tensor, labels: Tensor, *, num_bins: int = 15
                ) -> Dict[str, object]:
    """Reliability bins, ECE and MCE (Guo et al., ICML 2017), as ltcl's
    CalibrationMeter: p_i = max softmax(x_i) (float64), correct_i =
    [argmax x_i == y_i]; num_bins equal bins, bin b = (b/B, (b+1)/B]::

        ECE = sum_b n_b / N |acc_b - conf_b|,   MCE = max_{n_b > 0} |acc_b - conf_b|

    Returns {"ece", "mce" (fractions), "bins": [{"lower", "upper", "count",
    "confidence", "accuracy"}] (NaN in empty bins), "samples"}.
    """
    name = "calibration"
    x = _logits(name, logits)
    y = _labels(name, labels, x.shape[0], x.shape[1])
    if int(num_bins) < 1:
        raise ValueError("%s - num_bins must be at least 1: {got %r}"
                         % (name, num_bins))
    B = int(num_bins)
    conf = torch.softmax(x, dim=1).max(dim=1).values
    correct = (x.argmax(dim=1) == y)
    n = [0] * B
    s_conf = [0.0] * B
    s_hit = [0] * B
    for p, h in zip(conf.tolist(), correct.tolist()):
        b = _bin(p, B)
        n[b] += 1
        s_conf[b] += p
        s_hit[b] += int(h)
    N = x.shape[0]
    ece_v, mce_v, bins = 0.0, 0.0, []
    for b in range(B):
        row = {"lower": b / B, "upper": (b + 1) / B, "count": n[b],
               "confidence": float("nan"), "accuracy": float("nan")}
        if n[b]:
            row["confidence"] = s_conf[b] / n[b]
            row["accuracy"] = s_hit[b] / n[b]
            gap = abs(row["accuracy"] - row["confidence"])
            ece_v += n[b] / N * gap
            mce_v = max(mce_v, gap)
        bins.append(row)
    return {"ece": ece_v, "mce": mce_v, "bins": bins, "samples": N}


def ece(logits: Tensor, labels: Tensor, *, num_bins: int = 15) -> float:
    """Expected calibration error (a fraction in [0, 1]) with 15 equal bins
    (see calibration())."""
    return calibration(logits, labels, num_bins=num_bins)["ece"]


def _unit_rows(name: str, which: str, z: Tensor) -> Tensor:
    if not isinstance(z, Tensor) or z.dim() != 2 or z.shape[1] < 1 or \
            not z.is_floating_point():
        raise ValueError("%s - %s must be a floating tensor [N, D]: {got %s}"
                         % (name, which, _shape(z)))
    # ltcl's C++ reads float32 embeddings; the sums are float64.
    z = z.detach().cpu().float().double()
    if not bool(torch.isfinite(z).all()):
        i, d = [int(v) for v in (~torch.isfinite(z)).nonzero()[0]]
        raise ValueError("%s - non-finite value in %s: {row %d, column %d}"
                         % (name, which, i, d))
    norm = z.norm(dim=1, keepdim=True)
    if z.shape[0] and not bool((norm > 0).all()):
        raise ValueError("%s - row %d of %s has norm 0 (cannot be normalised)"
                         % (name, int((norm[:, 0] == 0).nonzero()[0]), which))
    return z / norm


def embedding_metrics(embeddings: Tensor, labels: Tensor,
                      train_counts: Sequence[int], *,
                      reference: Optional[Tensor] = None,
                      reference_labels: Optional[Tensor] = None,
                      many_above: int = 100, few_below: int = 20
                      ) -> Dict[str, object]:
    """RCL's embedding-space numbers (src/eval/embedding_metrics.cpp,
    docs/metrics.md). Rows are L2-normalised first; class centroids come
    from ``reference`` (default: the evaluated rows)::

        m_c = mean of the class's normalised reference rows, R_c = ||m_c||,
        mu_c = m_c / R_c   (classes with R_c >= 1e-12: C*)
        margin_i = cos(z_i, mu_y) - max_{c in C*, c != y} cos(z_i, mu_c)
        compactness_c = mean_i cos(z_i, mu_c),  extent_c = 1 - compactness_c
        nca_c = 100 * mean_i [nearest centroid == y]  (ties: lowest index)
        separation_c = 1 - max_{c' != c} cos(mu_c, mu_c')

    Returns a dict: per_class (list of dicts with index, group,
    train_count, samples, reference_samples, resultant_length, separation,
    nearest_class, compactness, extent, margin, positive_margin, nca; None
    where absent), overall / many / medium / few (means over the group's
    measured classes; None when it has none), nca_samples (percent of
    rows), separation_cv (population std / mean over C*), separation_ratio
    and compactness_ratio (few / many), centroid_classes.
    """
    name = "embedding_metrics"
    counts = list(train_counts.tolist() if isinstance(train_counts, Tensor)
                  else train_counts)
    C = len(counts)
    if C < 2:
        raise ValueError("%s - need at least 2 classes: {got %d}" % (name, C))
    z = _unit_rows(name, "embeddings", embeddings)
    y = _labels(name, labels, z.shape[0], C)
    if reference is None:
        r, ry = z, y
    else:
        r = _unit_rows(name, "reference", reference)
        if r.shape[1] != z.shape[1]:
            raise ValueError("%s - reference and embeddings dims differ: "
                             "{got %s and %s}" % (name, _shape(reference),
                                                  _shape(embeddings)))
        ry = _labels(name, reference_labels, r.shape[0], C)
    groups = shot_groups(counts, many_above=many_above, few_below=few_below)
    group_of = {}
    for g in ("many", "medium", "few"):
        for c in getattr(groups, g):
            group_of[c] = g
    ref_n = torch.bincount(ry, minlength=C)
    sums = torch.zeros(C, z.shape[1], dtype=torch.float64)
    sums.index_add_(0, ry, r)
    per = []
    mu = torch.zeros_like(sums)
    cstar = []
    for c in range(C):
        pc = {"index": c, "group": group_of[c], "train_count": counts[c],
              "samples": int((y == c).sum()),
              "reference_samples": int(ref_n[c]), "resultant_length": None,
              "separation": None, "nearest_class": None,
              "compactness": None, "extent": None, "margin": None,
              "positive_margin": None, "nca": None}
        if ref_n[c] > 0:
            m = sums[c] / float(ref_n[c])
            R = float(m.norm())
            pc["resultant_length"] = R
            if R >= 1e-12:
                mu[c] = m / R
                cstar.append(c)
        per.append(pc)
    if len(cstar) < 2:
        raise ValueError("%s - need at least two classes with a centroid "
                         "(reference rows): {got %d}" % (name, len(cstar)))
    cs = torch.tensor(cstar)
    M = mu[cs]                                        # [C*, D]
    cc = M @ M.T
    cc.fill_diagonal_(-math.inf)
    best, arg = cc.max(dim=1)
    for k, c in enumerate(cstar):
        per[c]["separation"] = 1.0 - float(best[k])
        per[c]["nearest_class"] = cstar[int(arg[k])]
    pos = torch.full((C,), -1, dtype=torch.long)
    pos[cs] = torch.arange(len(cstar))
    cos = z @ M.T                                     # [N, C*]
    keep = pos[y] >= 0
    hits_total = 0
    if bool(keep.any()):
        cos_k, y_k = cos[keep], y[keep]
        own_col = pos[y_k]
        own = cos_k.gather(1, own_col[:, None])[:, 0]
        rival = cos_k.scatter(1, own_col[:, None], -math.inf).max(dim=1).values
        nearest = cos_k.argmax(dim=1)  # first maximum: the lowest class index
        hit = nearest == own_col
        hits_total = int(hit.sum())
        for c in cstar:
            sel = y_k == c
            k = int(sel.sum())
            if k == 0:
                continue
            pc = per[c]
            pc["compactness"] = float(own[sel].sum()) / k
            pc["extent"] = 1.0 - pc["compactness"]
            d = own[sel] - rival[sel]
            pc["margin"] = float(d.sum()) / k
            pc["positive_margin"] = float((d > 0).sum()) / k
            pc["nca"] = 100.0 * float(hit[sel].sum()) / k
    fields = ("resultant_length", "separation", "compactness", "extent",
              "margin", "positive_margin", "nca")

    def mean_of(classes):
        rows = [per[c] for c in classes if per[c]["compactness"] is not None]
        if not rows:
            return None
        out = {"classes": len(rows)}
        for f in fields:
            out[f] = sum(p[f] for p in rows) / len(rows)
        return out

    out = {"num_classes": C, "dim": z.shape[1], "samples": z.shape[0],
           "reference_samples": r.shape[0],
           "separate_reference": reference is not None,
           "centroid_classes": len(cstar), "per_class": per,
           "overall": mean_of(range(C)), "many": mean_of(groups.many),
           "medium": mean_of(groups.medium), "few": mean_of(groups.few),
           "nca_samples": 100.0 * hits_total / z.shape[0] if z.shape[0]
           else 0.0}
    for f, key in (("separation", "separation_ratio"),
                   ("compactness", "compactness_ratio")):
        few, many = out["few"], out["many"]
        out[key] = few[f] / many[f] if few and many and many[f] > 0 else None
    seps = [per[c]["separation"] for c in cstar]
    mean = sum(seps) / len(seps)
    var = sum((s - mean) ** 2 for s in seps) / len(seps)
    out["separation_cv"] = math.sqrt(var) / mean if mean > 0 else None
    return out
