"""The privacy accountant's oracle: Google's dp_accounting (PyPI) on the settings given as JSON.

Usage: dp-oracle.py '{"settings": [{"z": 1.1, "q": 0.01, "steps": 1000, "delta": 1e-5}, ...], "orders": [1.5, 2, ...]}'
Prints one JSON object: for each setting its RDP epsilon (dp_accounting's RdpAccountant with its default orders), its
PLD epsilon (PLDAccountant), and the one-step RDP of the Poisson-subsampled Gaussian at each given order (dp_accounting's
own per-order function), plus the default order grid. scripts/dp-oracle-venv.sh installs dp_accounting.
"""
import json
import math
import sys

import dp_accounting
from dp_accounting.rdp import rdp_privacy_accountant as rdp_mod


def main():
    req = json.loads(sys.argv[1])
    out = {"settings": [], "default_orders": [float(o) for o in rdp_mod.DEFAULT_RDP_ORDERS]}
    for s in req["settings"]:
        event = dp_accounting.SelfComposedDpEvent(
            dp_accounting.PoissonSampledDpEvent(s["q"], dp_accounting.GaussianDpEvent(s["z"])), s["steps"])
        rdp = dp_accounting.rdp.RdpAccountant()
        rdp.compose(event)
        pld = dp_accounting.pld.PLDAccountant()
        pld.compose(event)
        per_order = rdp_mod._compute_rdp_poisson_subsampled_gaussian(s["q"], s["z"], req["orders"])
        out["settings"].append({
            "rdp_epsilon": float(rdp.get_epsilon(s["delta"])),
            "pld_epsilon": float(pld.get_epsilon(s["delta"])),
            # An order dp_accounting cannot evaluate (its series did not converge) is infinite: null in JSON.
            "rdp_per_order": [float(x) if math.isfinite(x) else None for x in per_order],
        })
    print(json.dumps(out))


if __name__ == "__main__":
    main()
