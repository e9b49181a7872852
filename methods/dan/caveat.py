"""The one-line caveat that travels with DAN weights below the paper: how they were trained, and
their 300W full error next to the paper's, read from the weights' ``dan.json``."""
from __future__ import annotations

#: DAN's 300W full inter-ocular mean error in the paper, % (Table 2; faceeval/data/published_results.csv).
PAPER_FULL_INTER_OCULAR = 3.59


def weights_caveat(meta: dict) -> str:
    """The caveat of weights described by ``meta`` (a ``dan.json``), or ``""`` when they are not
    known to fall short: trained on fewer faces than 300W's training set, or measured above the
    paper on 300W full (``meta["test_results"]``, written by ``dan-release --record-test``).

    >>> meta = {"provenance": {"data": {"faces": 2012, "expected": 3148}, "training_minutes_in_all": 280.0,
    ...         "hardware": "Intel(R) Xeon(R) Processor, 2 cores"},
    ...         "test_results": {"300w/full": {"inter-ocular": 4.1036}}}
    >>> weights_caveat(meta)
    "DAN weights trained by faceeval on 2,012 of 3,148 300W training faces (280 min on a 2-core CPU), not the paper's: 300W full 4.10 % vs 3.59 % in the paper (inter-ocular)"
    >>> weights_caveat({"test_results": {"300w/full": {"inter-ocular": 3.5}}})
    ''
    """
    prov = meta.get("provenance") or {}
    data = prov.get("data") or {}
    faces, expected = data.get("faces"), data.get("expected")
    full = ((meta.get("test_results") or {}).get("300w/full") or {}).get("inter-ocular")
    fewer = isinstance(faces, int) and isinstance(expected, int) and faces < expected
    worse = full is not None and float(full) > PAPER_FULL_INTER_OCULAR + 0.005
    if not (fewer or worse):
        return ""
    how = []
    minutes = prov.get("training_minutes_in_all", prov.get("training_minutes_at_checkpoint"))
    if minutes:
        how.append(f"{float(minutes):.0f} min")
    hardware = str(prov.get("hardware") or "")
    if hardware:
        cores = hardware.rsplit(",", 1)[-1].strip().split(" ")[0] if "cores" in hardware else ""
        kind = "GPU" if "GPU" in hardware or "cuda" in hardware.lower() else "CPU"
        how.append(f"on a {cores}-core {kind}" if cores.isdigit() else f"on a {kind}")
    text = "DAN weights trained by faceeval"
    if fewer:
        text += f" on {faces:,} of {expected:,} 300W training faces"
    if how:
        text += f" ({' '.join(how)})"
    text += ", not the paper's"
    if full is not None:
        text += f": 300W full {float(full):.2f} % vs {PAPER_FULL_INTER_OCULAR:.2f} % in the paper (inter-ocular)"
    return text
