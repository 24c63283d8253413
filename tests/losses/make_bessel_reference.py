#!/usr/bin/env python3
"""Writes tests/losses/data/bessel_reference.txt: log I_nu(x) and
I_{nu+1}(x) / I_nu(x) at 50 significant digits, computed with mpmath's
besseli (arbitrary precision, independent of ltcl), for the orders ProCo
uses (p/2 - 1, p = 32 .. 2048), a few small ones, and x from 1e-8 to 1e6
(METHODS.md section 9 names 402.5 for p = 1024 and x ~ 1000-5000 for
p = 128, where the official recurrence fails).

  python3 tests/losses/make_bessel_reference.py   # any python3 with mpmath
"""
import os
import mpmath as mp

mp.mp.dps = 50
ORDERS = ["0", "0.5", "3", "15", "31", "49", "63", "127", "255", "511", "1023"]
XS = ["1e-8", "0.001", "0.1", "1", "5", "10", "50", "100", "402.5", "1000",
      "5000", "10000", "100000", "1000000"]
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "bessel_reference.txt")
with open(out, "w") as f:
    f.write("# nu x log(I_nu(x)) I_{nu+1}(x)/I_nu(x)  (mpmath %s, %d digits)\n"
            % (mp.__version__, mp.mp.dps))
    for nu in ORDERS:
        for x in XS:
            a = mp.besseli(mp.mpf(nu), mp.mpf(x))
            b = mp.besseli(mp.mpf(nu) + 1, mp.mpf(x))
            f.write("%s %s %s %s\n" % (nu, x, mp.nstr(mp.log(a), 25), mp.nstr(b / a, 25)))
print("wrote", out)
