# Compares the metrics.jsonl of two bench/method_parity.sh runs: every number
# of every evaluation must be equal (Hybrid: loss_ce is now loss_balanced_ce).
import json,sys
a,b=sys.argv[1],sys.argv[2]
ms="ce la bs focal ldam_drw supcon_la bcl bcl_rcl rcl rescom hybrid_sc hybrid_psc".split()
for m in ms:
    try:
        A=[json.loads(l) for l in open(f"{a}/run_{m}/metrics.jsonl")]
        B=[json.loads(l) for l in open(f"{b}/run_{m}/metrics.jsonl")]
    except Exception as e: print(m,"ERR",e); continue
    ok=True; worst=0
    for x,y in zip(A,B):
        for k,v in x.items():
            k2='loss_balanced_ce' if (k=='loss_ce' and m.startswith('hybrid')) else k
            w=y.get(k2)
            if isinstance(v,(int,float)) and v!=w: ok=False; print(m,k,v,w)
    print(m, "IDENTICAL" if ok and len(A)==len(B) else "DIFF", "top1", A[-1]['top1'], B[-1]['top1'])
