#!/usr/bin/env python3
"""spf_suite.py - run an openspf YAML test suite (RFC 7208 / RFC 4408)
against spate's SPF evaluator.

  spf_suite.py RUNNER SUITE.yml [--min N]

The YAML stream is turned into JSON here (the C runner reads JSON with
jansson): per scenario its tests and its zone data, with the reference
driver's rules applied to the zone (pyspf test/testspf.py getrdata):
SPF-type records are also served as TXT unless the name lists TXT itself,
"TXT: NONE" only suppresses that, multi-string records are joined without
separator. The runner answers queries from the zone (its DNSLookup rules:
TIMEOUT entries, "error." names, CNAME chains) and prints every test that
does not pass with the reason. Exit status: 0 when at least N tests pass
(default: all).
"""
import json
import subprocess
import sys
import tempfile

import yaml


def rdata(entries):
    out, spf, gen = [], [], True
    for e in entries:
        if e == "TIMEOUT":
            out.append("TIMEOUT")
            continue
        for t, v in e.items():
            if t == "TXT":
                gen = False
            if isinstance(v, list) and t in ("TXT", "SPF"):
                v = "".join(v)
            if t == "SPF" and v != "NONE":
                spf.append(["TXT", v])
            if v != "NONE":
                out.append([t, v])
    if gen:
        out.extend(spf)
    return out


def convert(path):
    suites = []
    with open(path, "rb") as fh:
        for doc in yaml.safe_load_all(fh):
            zone = {k.lower(): rdata(v) for k, v in (doc.get("zonedata") or {}).items()}
            tests = {}
            for name, t in doc["tests"].items():
                res = t["result"]
                tests[name] = {
                    "host": t["host"], "helo": t.get("helo", ""),
                    "mailfrom": t.get("mailfrom", ""),
                    "result": res if isinstance(res, list) else [res],
                    "explanation": t.get("explanation"),
                    "spec": str(t.get("spec", "")),
                }
            suites.append({"tests": tests, "zone": zone})
    return {"suites": suites}


def main():
    runner, suite = sys.argv[1], sys.argv[2]
    minimum = int(sys.argv[sys.argv.index("--min") + 1]) if "--min" in sys.argv else None
    data = convert(suite)
    total = sum(len(s["tests"]) for s in data["suites"])
    with tempfile.NamedTemporaryFile("w", suffix=".json") as fh:
        json.dump(data, fh)
        fh.flush()
        proc = subprocess.run([runner, fh.name], capture_output=True, text=True)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    if proc.returncode not in (0, 1):
        print(f"{suite}: runner crashed ({proc.returncode})")
        return 2
    passed = int(proc.stdout.strip().splitlines()[-1].split()[1].split("/")[0])
    need = total if minimum is None else minimum
    print(f"{suite}: {passed}/{total} passed (need {need})")
    return 0 if passed >= need else 1


if __name__ == "__main__":
    sys.exit(main())
