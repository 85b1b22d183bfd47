#!/usr/bin/env python3
"""Compares kurafs' metrics file with the audit log (metrics test).

    prom_vs_audit.py PROM_FILE AUDIT_LOG

Prints one line per metric, "NAME metrics=X audit=Y", counting in the audit
log only the records written since the last daemon "start" record, and
exits 0. The test decides what must be equal.
"""
import json
import re
import sys

prom_path, log_path = sys.argv[1], sys.argv[2]
metrics = {}
for line in open(prom_path, encoding="utf-8"):
    if line.startswith("#") or not line.strip():
        continue
    name, value = line.rsplit(" ", 1)
    metrics[name] = float(value)

records = []
for line in open(log_path, encoding="utf-8"):
    r = json.loads(line)
    if r.get("event") == "start":
        records = []
    records.append(r)


def label(reason):
    return re.sub(r"[^a-z0-9]", "_", reason.lower())[:40]


audit = {
    "kura_opens_allowed_total": 0,
    "kura_bytes_served_total": 0,
    "kura_alerts_total": 0,
    "kura_handles_revoked_total": 0,
    "kura_audit_records_total": 0,
}
for r in records:
    ev, dec = r.get("event"), r.get("decision")
    if ev in ("start", "open", "close", "write-denied", "revocation", "alert"):
        audit["kura_audit_records_total"] += 1
    if ev == "open" and dec == "allow":
        audit["kura_opens_allowed_total"] += 1
    if (ev == "open" and dec == "deny") or ev == "write-denied":
        key = 'kura_refusals_total{reason="%s"}' % label(r.get("reason", "other"))
        audit[key] = audit.get(key, 0) + 1
    if ev == "close":
        audit["kura_bytes_served_total"] += r.get("bytes", 0)
    if ev == "alert":
        audit["kura_alerts_total"] += 1
    if ev == "revocation":
        audit["kura_handles_revoked_total"] += 1

names = sorted(set(audit) | {n for n in metrics if n.startswith("kura_refusals_total")})
for n in names:
    print("%s metrics=%d audit=%d" % (n, metrics.get(n, -1), audit.get(n, 0)))
