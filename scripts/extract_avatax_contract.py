"""Extract the subset of the AvaTax REST v2 contract the hub and its AvaTax sandbox use.

Source: the team's extract of Avalara's JavaScript SDK (npm ``avatax`` 26.9.0, Apache-2.0), passed as the
first argument (``../shared/vendor-specs/avatax/avatax-rest-v2-sdk-contract.json``). Writes
``vendor-specs/avatax/avatax-contract.json``: the endpoints below, every model reachable from their request
and response models (and the error models), every enum those models use. Run it again to refresh:

    python scripts/extract_avatax_contract.py ../shared/vendor-specs/avatax/avatax-rest-v2-sdk-contract.json
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ENDPOINTS = {
    ("POST", "/api/v2/transactions/create"),
    ("GET", "/api/v2/companies/{companyCode}/transactions/{transactionCode}/types/{documentType}"),
}
ROOT_MODELS = ("ErrorResult",)
OUT = Path(__file__).resolve().parents[1] / "vendor-specs" / "avatax" / "avatax-contract.json"


def _type_names(text: str) -> list[str]:
    return re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)


def main(source: str) -> None:
    full = json.loads(Path(source).read_text())
    endpoints = [e for e in full["endpoints"] if (e["method"], e["path"]) in ENDPOINTS]
    if len(endpoints) != len(ENDPOINTS):
        raise SystemExit("an endpoint is missing from the source")
    pending = list(ROOT_MODELS)
    for endpoint in endpoints:
        pending += _type_names(endpoint["returns"])
        pending += [t for arg in endpoint["args"].values() for t in _type_names(arg["type"])]
    models: dict[str, dict] = {}
    enums: dict[str, dict] = {}
    while pending:
        name = pending.pop()
        if name in full["enums"]:
            enums[name] = full["enums"][name]
        elif name in full["models"] and name not in models:
            models[name] = full["models"][name]
            pending += [t for field in models[name].values() for t in _type_names(field["type"])]
    out = {
        "_about": (
            "Subset of the AvaTax REST v2 contract used by the hub's AvaTax connector and the AvaTax sandbox, "
            "extracted by scripts/extract_avatax_contract.py from the machine-readable extract of Avalara's "
            "JavaScript SDK (npm avatax 26.9.0). Models: JSON field names, types, optionality. Enums: member "
            "names (AvaTax's JSON carries the NAME) with the SDK's numbers. See SOURCES.md."
        ),
        "source": full["source"],
        "endpoints": sorted(endpoints, key=lambda e: (e["path"], e["method"])),
        "models": dict(sorted(models.items())),
        "enums": dict(sorted(enums.items())),
    }
    OUT.write_text(json.dumps(out, indent=1, sort_keys=False) + "\n")
    print(f"{OUT}: {len(endpoints)} endpoints, {len(models)} models, {len(enums)} enums")


if __name__ == "__main__":
    main(sys.argv[1])
