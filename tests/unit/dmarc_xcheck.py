#!/usr/bin/env python3
"""dmarc_xcheck.py - cross-check test_dmarc's RFC 7489 table against an
independent implementation, python3-authheaders (Debian: authheaders 0.15).

  dmarc_xcheck.py PATH/TO/test_dmarc

Runs `test_dmarc --dump` (one JSON object per case), evaluates each case
with authheaders.dmarc_per_from over the same fake DNS, and compares the
DMARC result word (pass, fail, none). Exits 77 (ctest: skipped) when
authheaders is not installed. Cases where authheaders departs from RFC 7489
are listed in DEPARTS with the reason and are not compared; cases it cannot
express (several TXT records at a name, several DKIM signatures, DNS
errors) are left out too.
"""
import json
import os
import subprocess
import sys

DEPARTS = {
    # authheaders applies sp= to the From domain's own record; RFC 7489
    # §6.3 keeps sp= for subdomains (the record found at the Org Domain).
    "sp_not_for_own_domain": "sp applied to the record's own domain",
    # authheaders does not check the tag-list (RFC 7489 §6.4 uses DKIM's,
    # where a repeated tag or a tag without "=" voids the record).
    "duplicate_tag": "duplicate tags accepted (last wins)",
    "tag_without_equals": "a tag without '=' crashes its parser",
    # §6.6.3 step 6: a record with no valid p= is p=none only when rua= is
    # valid, and otherwise no record; authheaders checks neither.
    "bad_p_no_rua": "an invalid p= is taken as a policy",
    "bad_p_with_rua": "an invalid p= is taken as a policy",
    "no_p_with_rua": "no p=: no DMARC, even with rua=",
    "bad_sp_with_rua": "an invalid sp= is taken as a policy",
    "bad_at_from_no_fallback": "falls back to the Org Domain after an unusable record",
    # publicsuffix2 has no implicit "*" rule: under a TLD missing from the
    # list it takes the TLD as the Organizational Domain (the PSL algorithm,
    # and libpsl, give example.test).
    "org_unlisted_tld": "no implicit '*' rule for unlisted TLDs",
    # §6.4's ABNF allows *WSP around "=" in "v=DMARC1"; authheaders wants
    # the record to begin with the exact bytes v=DMARC1.
    "spaces_in_record": "no whitespace allowed around v=DMARC1",
}

WORD = {"accept": "pass", "reject": "fail", "quarantine": "fail", "none": "fail",
        "norecord": "none"}


def import_authheaders():
    try:
        import authheaders  # noqa: F401
        return True
    except ImportError:
        if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3") \
                and not os.environ.get("DMARC_XCHECK_REEXEC"):
            os.environ["DMARC_XCHECK_REEXEC"] = "1"
            os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
        return False


class Res:
    def __init__(self, result, mailfrom=None, d=None):
        self.result, self.smtp_mailfrom, self.header_d = result, mailfrom, d


def evaluate(case):
    from authheaders import dmarc_per_from
    zone = {z[0]: z[2] for z in case["zone"] if z[1] == 0 and len(z) == 3}
    spf = dkim = None
    if case["spf_dom"]:
        spf = Res("pass" if case["spf"] == 1 else "fail", "x@" + case["spf_dom"])
    if case["dkim"]:
        d, r = case["dkim"][0]
        dkim = Res("pass" if r == 1 else "fail", d=d.lower())
    return dmarc_per_from(case["from"].lower(), spf, dkim,
                          dnsfunc=lambda name: zone.get(name))[0]


def comparable(case):
    if case["name"] in DEPARTS or case["want"] not in WORD:
        return False
    if len(case["dkim"]) > 1:
        return False
    return all(z[1] == 0 and len(z) == 3 for z in case["zone"])


def main():
    if not import_authheaders():
        print("python3-authheaders not installed: skipped")
        return 77
    out = subprocess.run([sys.argv[1], "--dump"], capture_output=True, text=True,
                         check=True).stdout
    cases = [json.loads(l) for l in out.splitlines() if l.strip()]
    bad, n = [], 0
    for case in cases:
        if not comparable(case):
            continue
        n += 1
        got = evaluate(case)
        if got != WORD[case["want"]]:
            bad.append(f"{case['name']}: authheaders {got}, ours {WORD[case['want']]}")
    for b in bad:
        print("DIFFER", b)
    print(f"dmarc_xcheck: {n - len(bad)} agree, {len(bad)} differ, "
          f"{len(cases) - n} not comparable")
    return 1 if bad or n < 20 else 0


if __name__ == "__main__":
    sys.exit(main())
