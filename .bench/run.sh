#!/usr/bin/env bash
# Alternating benchmark of the base and new binaries: 5 runs each, both configurations.
set -u
cd "$(dirname "$0")"
out=results.txt
: > $out
for i in 1 2 3 4 5; do
  for cfg in "--clients 10 --params 1000000 --dropouts 2" "--clients 50 --params 100000 --dropouts 5"; do
    for bin in base new; do
      line=$(./segviz-$bin bench secagg $cfg 2>&1 | tail -1)
      echo "$i|$cfg|$bin|$line" >> $out
    done
  done
done
python3 - <<'PY'
import statistics, re
rows=[l.strip().split('|') for l in open('results.txt') if l.strip()]
for cfg in sorted(set(r[1] for r in rows)):
    for b in ['base','new']:
        v=[float(re.search(r'secagg_round_s=([0-9.]+)', r[3]).group(1)) for r in rows if r[1]==cfg and r[2]==b and 'secagg_round_s' in r[3]]
        print(cfg, b, 'runs', v, 'median', statistics.median(v) if v else None)
PY
