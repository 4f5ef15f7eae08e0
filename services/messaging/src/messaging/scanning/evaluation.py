"""The labelled corpus and its evaluation: per-class precision and recall (MSG-2).

The corpus (``messaging/scanning/data/corpus.jsonl``, shipped: the learned model trains on it;
the holdouts stay under ``tests/data/scanner/``) holds one message a line:
``{"id", "label", "lang", "body", "attachments": [{"filename", "kind"}]}`` with label
``ham``, ``spam``, ``phishing``, ``scam``, ``malware`` or ``prohibited``. Attachments are generated
here from their ``kind``, never committed: the EICAR test file from its standard string
(plain, zipped, zipped inside a zip), a minimal PE header, a download-and-run script, an
Office file with a macro project, and harmless PDF, PNG, DOCX and ZIP files for ham.
Shared by ``bench/scanner.py`` and the tests.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from messaging.scanning.api import Attachment, Scanner, Verdict

CLASSES = ("ham", "spam", "phishing", "scam", "malware", "prohibited")
PRIORITY = ("malware", "phishing", "scam", "prohibited", "spam")
"""The class of a verdict: its most serious detector."""
LINK_CODES = frozenset({"lookalike_domain", "homoglyph_domain", "brand_in_domain",
                        "brand_in_subdomain", "platform_impersonation", "obscured_link"})
"""Phishing reasons about links: with one, a message is phishing even when a scam rule fired;
without, a request in the conversation itself (a login handed over) is the scam (issue 28)."""

EICAR = (r"X5O!P%@AP[4\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!" + "$H+H*")
"""The EICAR anti-virus test file (68 bytes), from its published standard string."""


def eicar() -> bytes:
    """The EICAR test file."""
    return EICAR.encode("ascii")


def zipped(members: dict[str, bytes]) -> bytes:
    """A ZIP archive of the given members."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def pe_header() -> bytes:
    """A minimal (non-functional) Windows PE image: MZ header pointing at a PE signature."""
    head = bytearray(b"MZ" + b"\x90" * 0x3A + (0x40).to_bytes(4, "little"))
    return bytes(head) + b"PE\x00\x00" + b"\x4c\x01" + b"\x00" * 250


def generate(kind: str) -> bytes:
    """The content of a generated attachment."""
    match kind:
        case "eicar":
            return eicar()
        case "eicar_zip":
            return zipped({"document.com": eicar()})
        case "eicar_nested_zip":
            return zipped({"inner.zip": zipped({"eicar.com": eicar()}), "readme.txt": b"zie"})
        case "pe":
            return pe_header()
        case "pe_zip":
            return zipped({"viewer.exe": pe_header(), "notes.txt": b"open viewer"})
        case "dropper":
            return (b"var s = new ActiveXObject(\"WScript.Shell\");\r\n"
                    b"s.Run(\"powershell -nop -w hidden -enc SQBFAFgA\");\r\n")
        case "macro":
            ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1_VBA_PROJECT Attribute VB_Name AutoOpen"
            return zipped({"[Content_Types].xml": b"<Types/>", "word/vbaProject.bin": ole})
        case "pdf":
            return (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
                    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
        case "png":
            return b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17
        case "docx":
            return zipped({"[Content_Types].xml": b"<Types/>",
                           "word/document.xml": b"<w:document>Offerte schilderwerk</w:document>"})
        case "zip_docs":
            return zipped({"cv.pdf": generate("pdf"), "foto.png": generate("png")})
        case _:
            raise ValueError(f"unknown attachment kind {kind!r}")


@dataclass(frozen=True, slots=True)
class Sample:
    """One labelled message, attachments generated."""

    id: str
    label: str
    lang: str
    body: str
    attachments: tuple[Attachment, ...]


def load(path: Path) -> list[Sample]:
    """The corpus at ``path``."""
    out: list[Sample] = []
    for line in path.read_text("utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if row["label"] not in CLASSES:
            raise ValueError(f"{row['id']}: unknown label")
        atts = tuple(Attachment(a["filename"], generate(a["kind"]))
                     for a in row.get("attachments", ()))
        out.append(Sample(row["id"], row["label"], row["lang"], row["body"], atts))
    return out


def predicted(verdict: Verdict) -> str:
    """The class a verdict assigns: ``ham`` when delivered, else its most serious detector."""
    if verdict.outcome == "delivered":
        return "ham"
    detectors = {r.detector for r in verdict.reasons}
    if "scam" in detectors and not any(r.code in LINK_CODES for r in verdict.reasons):
        detectors.discard("phishing")
    return next((d for d in PRIORITY if d in detectors), "spam")


@dataclass(frozen=True, slots=True)
class Report:
    """Per-class precision and recall, and the false-positive rate on ham."""

    counts: dict[str, int]
    precision: dict[str, float]
    recall: dict[str, float]
    ham_false_positive_rate: float
    errors: tuple[tuple[str, str, str], ...]
    """``(id, label, predicted)`` of every misclassified message."""


def evaluate(scanner: Scanner, samples: Sequence[Sample]) -> Report:
    """Scan every sample and score the predictions against the labels."""
    pairs = [(s, predicted(scanner.scan(s.body, s.attachments))) for s in samples]
    return score(pairs)


def score(pairs: Iterable[tuple[Sample, str]]) -> Report:
    """Precision and recall from ``(sample, predicted class)`` pairs."""
    tp: Counter[str] = Counter()
    pred: Counter[str] = Counter()
    actual: Counter[str] = Counter()
    errors: list[tuple[str, str, str]] = []
    for s, p in pairs:
        actual[s.label] += 1
        pred[p] += 1
        if p == s.label:
            tp[s.label] += 1
        else:
            errors.append((s.id, s.label, p))
    precision = {c: (tp[c] / pred[c] if pred[c] else 1.0) for c in CLASSES}
    recall = {c: (tp[c] / actual[c] if actual[c] else 1.0) for c in CLASSES}
    fp = 1.0 - recall["ham"]
    return Report(dict(actual), precision, recall, fp, tuple(errors))
