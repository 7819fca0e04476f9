"""A first draft of an operation's claims from one page's text (``opsledger draft PAGE``).

The draft is a proposal for a person to review, line by line, never data: every figure it proposes
is a phrase that stands in the text, with the clause around it as the quotation, where it stands
(paragraph and offset, as :func:`opsledger.derive.reconcile.locate` counts them), the interval the
phrase rules give it, and guesses (the metric, from the word after the figure and
``schemas/metric_words.toml``; the scope; the source's date, from the first date the page shows).
Nothing is proposed that cannot be pointed to in the text: a value the rules cannot read is listed
with the reason, not made up.

The result has the shape of a research bundle's ``sources`` and ``claims`` (``curation/research/``),
so that after review it becomes a change set with ``curation/bundle_to_changeset.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from opsledger.declarations import metric_unit, metric_words, tables
from opsledger.derive.phrase_words import LETTER, PhraseError, _alt, _quantity_patterns, language
from opsledger.derive.phrases import derive_date, derive_number
from opsledger.derive.reconcile import locate
from opsledger.errors import UsageError

#: how many words after a figure may name what it counts ("12 people were arrested" is too far)
NOUN_WINDOW = 3
#: paragraphs at the top of a page searched for its date (a byline, a dateline)
DATE_PARAGRAPHS = 6


@dataclass
class Figure:
    """One figure a page states, as proposed."""

    stated: str
    quotation: str
    paragraph: int
    offset: int
    metric_guess: str | None
    metric_word: str | None
    qualifier: str | None = None
    low: float | None = None
    high: float | None = None
    problem: str | None = None

    def claim(self) -> dict[str, Any]:
        """The figure as a bundle claim, with its evidence and guesses spelled out for the reviewer."""
        return {"about": self.metric_guess, "stated": self.stated, "quotation": self.quotation,
                "scope": "worldwide", "country": None, "area": None, "as_of": None, "as_of_precision": None,
                "note": None,
                "draft": {"paragraph": self.paragraph, "offset": self.offset,
                          "interval": None if self.problem else {"qualifier": self.qualifier, "low": self.low,
                                                                "high": self.high},
                          "metric_from_word": self.metric_word, "problem": self.problem,
                          "review": "check the metric, the scope and what the figure is part of against the sentence"}}


@dataclass
class Draft:
    language: str
    figures: list[Figure] = field(default_factory=list)
    published: dict[str, Any] | None = None

    def bundle(self, source_id: str | None = None) -> dict[str, Any]:
        src = {"source_id": source_id, "language": self.language, "published": None, "published_precision": None,
               "draft": {"published": self.published,
                         "review": "publisher, title, kind and address are not read from the text: fill them in"}}
        if self.published:
            src["published"], src["published_precision"] = self.published["date"], self.published["precision"]
        return {"sources": [src], "claims": [dict(f.claim(), source_id=source_id) for f in self.figures]}


def _sentence(text: str, start: int, end: int, limit: int) -> str:
    """The clause around text[start:end]: its sentence, cut to ``limit`` characters around the phrase
    with the cuts marked "...", on one line."""
    left = max(text.rfind(". ", 0, start), text.rfind("\n", 0, start), text.rfind("! ", 0, start),
               text.rfind("? ", 0, start))
    s = left + 1 if left >= 0 else 0
    m = re.compile(r"[.!?](?=\s|$)|\n").search(text, end)
    e = m.end() if m else len(text)
    sentence = " ".join(text[s:e].split())
    if len(sentence) <= limit:
        return sentence
    phrase = " ".join(text[start:end].split())
    at = sentence.find(phrase)
    room = max(limit - len(phrase) - 6, 0)
    a = max(0, at - room // 2)
    b = min(len(sentence), a + len(phrase) + room)
    return ("..." if a > 0 else "") + sentence[a:b].strip() + ("..." if b < len(sentence) else "")


def _hedge_before(text: str, start: int, lang: str) -> int:
    """Where the figure's phrase starts: at a hedge of the language directly before the number."""
    hedges = language(lang).get("hedge", {})
    if not hedges:
        return start
    m = re.search(rf"(?<!{LETTER})(?:{_alt(hedges)})\s+$", text[max(0, start - 40):start], re.I)
    return start - len(m.group(0)) if m else start


def _noun(text: str, end: int, lang: str) -> tuple[int, str | None, str | None]:
    """The end of the phrase (after the word that names what is counted, within NOUN_WINDOW words) and
    the metric that word suggests; else the end of the next word, and no guess."""
    stems = metric_words(lang)
    words = list(re.finditer(r"[^\W\d_][\w'’-]*", text[end:end + 80]))[:NOUN_WINDOW]
    for w in words:
        low = w.group(0).lower()
        for stem, metric in stems:
            if low.startswith(stem):
                return end + w.end(), metric, w.group(0)
    if words and text[end:end + words[0].start()].strip() == "":
        return end + words[0].end(), None, None
    return end, None, None


def _verb_before(text: str, start: int, lang: str) -> tuple[str | None, str | None]:
    """The metric a word just before the figure suggests ("arrested 46 people", "festgenommen wurden 12")."""
    words = list(re.finditer(r"[^\W\d_][\w'’-]*", text[max(0, start - 40):start]))[-2:]
    for w in reversed(words):
        low = w.group(0).lower()
        for stem, metric in metric_words(lang):
            if low.startswith(stem):
                return metric, w.group(0)
    return None, None


def _is_date_part(text: str, start: int, end: int, lang: str) -> bool:
    """A year, or the day of a date ("17 May", "May 17"): not a figure."""
    token = text[start:end]
    if re.fullmatch(r"(1[89]|20)\d\d", token):
        return True
    months = language(lang).get("month", {})
    if months and re.fullmatch(r"\d{1,2}", token):
        after = text[end:end + 14].lower()
        before = text[max(0, start - 12):start].lower()
        alt = _alt(months)
        if re.match(rf"\.?\s*(?:de\s+)?(?:{alt})(?!{LETTER})", after) or re.search(rf"(?:{alt})\.?\s+$", before):
            return True
    return False


def _published(text: str, lang: str) -> dict[str, Any] | None:
    """The first calendar day the top of the page shows, with where it stands."""
    months = language(lang).get("month", {})
    alt = _alt(months)
    top = "\n".join(text.splitlines()[:DATE_PARAGRAPHS * 3])
    pats = [rf"\b\d{{1,2}}\.?\s+(?:de\s+)?(?:{alt})\.?,?\s+(?:de\s+)?\d{{4}}\b", rf"\b(?:{alt})\.?\s+\d{{1,2}},?\s+\d{{4}}\b",
            r"\b\d{4}-\d{2}-\d{2}\b", r"\b\d{1,2}[./]\d{1,2}[./]\d{4}\b"]
    found = []
    for p in pats:
        found += [(hit.start(), hit.group(0)) for hit in re.finditer(p, top, re.I)]
    for start, stated in sorted(found):
        try:  # a date in figures is read only in the order its language declares (numeric_date)
            iv = derive_date(re.sub(r"\s+(?:de)\s+", " ", stated), lang)
        except PhraseError:
            continue
        if iv.date_low is None:
            continue
        loc = locate(text, stated, start)
        return {"date": iv.date_low.isoformat(), "precision": iv.qualifier, "stated": stated, "evidence": "page",
                "paragraph": loc[0] if loc else None, "offset": start}
    return None


def draft(text: str, lang: str = "en") -> Draft:
    """Propose every figure of ``text`` (a page in language ``lang``) and the page's date."""
    if not isinstance(text, str) or not text.strip():
        raise UsageError("draft: the page has no text")
    try:
        language(lang)
    except PhraseError as exc:
        raise UsageError(f"draft: {exc}") from None
    limit = tables()["claims"].field("quotation").max_length or 200
    pat, _second = _quantity_patterns(lang)
    out = Draft(lang, published=_published(text, lang))
    for m in pat.finditer(text):
        start, qend = m.start(), m.end()
        if start > 0 and (text[start - 1].isalnum() or text[start - 1] in ".,"):
            continue  # the middle of a word, a number or a code
        if _is_date_part(text, start, m.end("num"), lang):
            continue
        start = _hedge_before(text, start, lang)
        end, metric, word = _noun(text, qend, lang)
        if metric is None:
            metric, word = _verb_before(text, start, lang)
        stated = text[start:end].strip()
        loc = locate(text, stated, start) or (None, start)
        fig = Figure(stated=stated, quotation=_sentence(text, start, end, limit), paragraph=loc[0] or 0, offset=start,
                     metric_guess=metric, metric_word=word)
        try:
            iv = derive_number(stated, metric_unit(metric) if metric else "count", lang)
            fig.qualifier, fig.low, fig.high = iv.qualifier, iv.low, iv.high
        except (PhraseError, ValueError) as exc:
            fig.problem = str(exc)
        out.figures.append(fig)
    return out


def draft_file(page, lang: str = "en", source_id: str | None = None, out=None) -> str:
    """Draft from a page's text file (UTF-8); the proposal as YAML (a bundle's ``sources`` and
    ``claims``). With ``out``, also write it there atomically, never over an existing file."""
    from pathlib import Path

    import yaml

    from opsledger.data.io import read_text_file
    from opsledger.data.txn import write_text_atomic
    from opsledger.errors import PathError

    if not isinstance(page, (str, Path)) or not str(page):
        raise UsageError("draft: PAGE must be the path of a text file")
    got = read_text_file(Path(page), "draft: PAGE")
    if got is None:
        raise PathError(f"draft: PAGE: {page} does not exist")
    d = draft(got[0], lang)
    head = (f"# Draft of {Path(page).name} by `opsledger draft` ({len(d.figures)} figures): a proposal, not data.\n"
            "# Review every line against the page: the metric, the scope (where), the as-of (when) and what each\n"
            "# figure is part of. Delete the `draft` keys and what does not belong, then convert the bundle.\n")
    text = head + yaml.safe_dump(d.bundle(source_id), allow_unicode=True, sort_keys=False, width=110)
    if out is not None:
        out = Path(out)
        if out.exists():
            raise PathError(f"draft: {out} exists already; not overwriting it; nothing written")
        write_text_atomic(out, text)
    return text


__all__ = ["Draft", "Figure", "draft", "draft_file"]
