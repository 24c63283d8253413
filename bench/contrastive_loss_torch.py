"""The contrastive core (METHODS.md section 3) written as straightforward
PyTorch, forward + backward at B=256, V=2, D=128, C=100 with prototypes and
every switch on -- the Python side of bench/loss_compare.sh.

Usage: /usr/bin/python3 bench/contrastive_loss_torch.py [iterations]
Prints "python_ms_per_iter <ms>" (wall), "python_cpu_ms_per_iter" (process CPU) and "python_max_rss_kib <KiB>".
Threads: LTCL_BENCH_THREADS (default 1), as the C++ benchmark.
"""
import os
import resource
import sys
import time

import torch


def contrastive_loss(z, y, protos, counts, tau, b, s, m_max):
    """All switches on: class averaging, prototypes, balance, scale, margin.
    Numerically stable (row max over k != i subtracted)."""
    B, V, D = z.shape
    anchors = torch.cat(torch.unbind(z, 1), 0)
    ya = y.repeat(V)
    keys = torch.cat([anchors, protos], 0)
    yk = torch.cat([ya, torch.arange(protos.shape[0])])
    n, m = anchors.shape[0], keys.shape[0]
    logits = s * s * anchors @ keys.T / tau
    not_self = torch.ones(n, m, dtype=torch.bool)
    not_self[torch.arange(n), torch.arange(n)] = False
    same = ya[:, None] == yk[None, :]
    pos = (same & not_self).float()
    cf = counts.float()
    logits = logits + b * torch.log(cf / cf.sum())[yk][None, :]
    q = cf ** -0.25
    logits = logits - pos * (m_max * q / q.max() / tau)[ya][:, None]
    cnt = torch.bincount(yk, minlength=counts.numel()).float()[yk]
    log_w = -torch.log((cnt[None, :] - same.float()).clamp(min=1))
    masked = (logits + log_w).masked_fill(~not_self, float("-inf"))
    row_max = masked.max(1, keepdim=True).values.detach()
    log_den = torch.log(torch.exp(masked - row_max).sum(1, keepdim=True)) + row_max
    per = -(pos * (logits - log_den)).sum(1) / pos.sum(1).clamp(min=1)
    return per.mean()


def main():
    iters = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    torch.set_num_threads(int(os.environ.get("LTCL_BENCH_THREADS", "1")))
    torch.manual_seed(0)
    B, V, D, C = 256, 2, 128, 100
    raw = torch.randn(B, V, D, requires_grad=True)
    raw_p = torch.randn(C, D, requires_grad=True)
    y = torch.randint(C, (B,))
    counts = torch.floor(500 * 0.01 ** (torch.arange(C, dtype=torch.float64) / (C - 1))).long()

    def step():
        z = raw / raw.norm(dim=2, keepdim=True)
        p = raw_p / raw_p.norm(dim=1, keepdim=True)
        contrastive_loss(z, y, p, counts, 0.1, 1.0, 1.5, 0.1).backward()
        raw.grad = None
        raw_p.grad = None

    for _ in range(5):
        step()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(iters):
        step()
    ms = (time.perf_counter() - t0) * 1000 / iters
    cpu_ms = (time.process_time() - c0) * 1000 / iters
    print(f"python_ms_per_iter {ms:.3f}")
    print(f"python_cpu_ms_per_iter {cpu_ms:.3f}")
    print(f"python_max_rss_kib {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")


if __name__ == "__main__":
    main()
