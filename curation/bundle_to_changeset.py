#!/usr/bin/env python3
"""Turn research bundles (curation/research/<operation_id>.yaml) into change sets.

    bundle_to_changeset.py                 convert every bundle that has no change set yet (alphabetical order)
    bundle_to_changeset.py koala.yaml ...  convert only these bundles
    options: --research DIR  --out DIR  --data DIR  --first N  --dry-run

Change sets are numbered after the highest number in corrections/ and corrections/applied/, from 0200
at least (--first N overrides). Claims carry the figure model: quotation, scope/country/area and
as_of; outcomes get scope/country/area/subgroup, ids <op>.<metric>[.<country>|.<area>][.<subgroup>],
and a breakdown names the worldwide outcome of its metric (when the bundle has one) in part_of.
Sources carry `accessed` and `based_on` (the bundle's `origin`: the wire or release a page repeats).

Each bundle becomes corrections/<NNNN>-add-<operation_id>.yaml, one `op: add` change per row:
sources, agencies, the operation, participations, events, outcomes, statistics and claims. The
converter writes skeleton rows and claims only; every derived column (operation dates, event dates,
outcome values and status, claim intervals, metrics and units, locators) is left out, because the
tool derives it from the claims.

Agencies and sources that exist already (in the dataset, or added by a bundle earlier in alphabetical
order) are reused, never added twice. A few bundle claims need an adjustment before they fit the
dataset's model (a subset figure filed as a total, a phrase the phrase rules cannot read); those are
listed, each with its reason, in ADJUST below and reported on stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import re
import sys
from collections import defaultdict
from pathlib import Path

import polars as pl
import yaml

from opsledger.data.txn import write_text_atomic

REPO = Path(__file__).resolve().parents[1]
FIRST_NUMBER = 200  # change sets from bundles are numbered from here (the lead's own stay below)
CONTRIBUTOR = "opsledger-coverage"

# --------------------------------------------------------------------------------------------------
# Mapping tables (data, reviewable)

#: Bundle metric -> vocabulary metric, where a proposed term means the same as another one.
METRIC_MAP = {
    "images_available": "site_images",            # images a platform made available = images it held
    "material_volume_dvd_equivalent": "material_volume_dvds",
    "cases_referred": "intelligence_packages",    # cases referred abroad = referral packages sent
}

#: Bundle `statistics:` terms -> (statistic metric, subject, statistic_id).
STATISTICS = {
    "domains_listed_or_seized": ("database_domains_listed", "interpol_worst_of_list",
                                 "interpol-worst-of-list.domains"),
    "interpol_member_countries": ("member_countries", "interpol_membership", "interpol.member_countries"),
    "top10_darkweb_csam_sites_registered_accounts": (
        "darkweb_sites_registered_accounts", "nca_estimate_ten_most_harmful_darkweb_abuse_sites",
        "nca-top-ten-darkweb-sites.registered_accounts"),
    "suspects_in_related_live_streaming_probes": (
        "related_investigation_suspects", "nca_related_live_streaming_investigations",
        "nca-live-streaming-investigations.suspects"),
}

#: Claim kinds that date the operation row itself.
OPERATION_DATES = {"launched", "concluded", "announced"}
#: Claim kinds that date an event: about -> (event kind, event id suffix).
EVENTS = {"takedown": ("takedown", "takedown"), "first_arrest": ("arrest", "first-arrests")}

# Reasons used by several adjustments below.
UNREADABLE_CURRENCY = ("the phrase puts a currency sign before the figure, which the phrase rules could not read "
                       "when this bundle was converted; they read it now, and change set 0119 added these claims")
NOT_A_FIGURE = "not a figure phrase the phrase rules can read"
RANGE_ACROSS = ("a range of sentences across several defendants, not one offender's sentence, and a "
                "sentence row is about one offender (the rules read the range itself)")

#: Per-operation adjustments. A rule matches bundle claims by `source` and `stated` (and `about`, if
#: given). `drop` leaves the claim out, giving the reason; `set` changes fields of the bundle claim
#: (about, scope, country, area, subgroup, offender_role, note) before conversion. Every rule says why.
#:
#: These rules record how the applied change sets 0100-0118 and 0200+ were made, so they stay as they
#: were. Two kinds describe rules that have changed since: (1) a subset of offenders ("suspect in
#: Europe", "police officer", "hands-on abuser") set as `offender_role`: under the figure model
#: (README, "What a figure means") `offender_role` is only for a row about one offender, and change set
#: 0122 and the re-reads (curation/review/) turned those rows into breakdowns with a `subgroup` or a
#: region `scope`/`area` and `part_of` their total; a new adjustment sets those instead. (2) Phrases
#: dropped as unreadable that the phrase rules read now (currency signs, see UNREADABLE_CURRENCY).
ADJUST: dict[str, list[dict]] = {
    "avalanche": [
        dict(source="cnn-2001-08-08-avalanche", stated="life-in-prison sentence",
             drop="a life sentence is not a number of months; " + NOT_A_FIGURE),
    ],
    "cathedral": [
        dict(source="bbc-2001-02-13-cathedral", stated="between 12 and 30 months each", drop=RANGE_ACROSS),
        dict(source="bbc-2001-02-14-cathedral", stated="between 12 and 30 months each", drop=RANGE_ACROSS),
        dict(source="bbc-1998-09-03-cathedral", stated="26 people",
             set={"offender_role": "suspect targeted in Italy, France, Norway, Sweden or Germany"},
             why="counts suspects in five named countries together, not the operation's total"),
    ],
    "daylight": [
        dict(source="si24-2016-08-23-daylight", stated="almeno un’altro centinaio",
             drop="'another hundred or so' (with a misspelt article): the rules would read 'at least one'"),
        dict(source="tyden-2016-daylight", stated="ve 207",
             drop="the phrase starts with a preposition ('in 207'); " + NOT_A_FIGURE),
        *[dict(source=s, stated=p, drop="the phrase rules have no number word for a bare 'a' ('a year')")
          for s, p in [("swissinfo-2016-daylight", "over a year"), ("straitstimes-2016-daylight", "more than a year")]],
    ],
    "delego": [
        dict(source="cnet-2011-delego", stated="20 to 30 years", drop=RANGE_ACROSS),
        dict(source="kanw-npr-2011-delego", stated="charged 72",
             drop="the phrase starts with a verb ('charged 72'); " + NOT_A_FIGURE),
        dict(source="nbcnews-2011-delego", stated="year-long",
             drop="'year-long' has no number the phrase rules can read"),
        dict(source="thelens-2011-08-04-delego", stated="January 2008",
             drop="the date the site itself began is not an operation milestone; the dataset has no column for it"),
        dict(source="bbc-2011-delego", stated="nine held overseas",
             set={"offender_role": "suspect held outside the US"},
             why="counts only the arrests outside the US, not the total"),
        dict(source="avn-2011-delego-asacp", stated="nine suspects",
             set={"offender_role": "suspect held outside the US"},
             why="counts only the arrests outside the US, not the total"),
        dict(source="thelens-2011-08-04-delego", stated="50 of those defendants",
             set={"offender_role": "defendant also charged with running a child-exploitation enterprise"},
             why="a subset of the 72 charged"),
    ],
    "elysium": [
        dict(source="spiegel-2017-elysium-qa", stated="fünf Deutsche",
             set={"country": None, "offender_role": "German national"},
             why="counts German nationals among the arrested, not arrests made in Germany"),
    ],
    "endeavour": [
        *[dict(source=s, stated=p, drop=UNREADABLE_CURRENCY) for s, p in [
            ("ice-2014-endeavour", "Over £37,500 ($60,000)"),
            ("wiredgov-nca-2014-endeavour", "Over £37,500"),
            ("wiredgov-nca-2014-endeavour", "over £5,351"),
            ("supanet-2014-01-16-endeavour", "£37,500"),
            ("theregister-2014-01-17-endeavour", "over £5,351"),
            ("theregister-2014-01-17-endeavour", "more than £37,000"),
            ("theweek-2014-endeavour", "more than £37,500"),
        ]],
        dict(source="rappler-2014-endeavour", stated="11 in the Philippines",
             set={"offender_role": "facilitators in the Philippines"},
             why="the same eleven facilitators the other sources count"),
        dict(source="theregister-2014-01-17-endeavour", stated="Eleven suspects",
             set={"offender_role": "facilitators in the Philippines"},
             why="the same eleven facilitators the other sources count"),
    ],
    "icarus": [
        dict(source="irishtimes-2011-icarus", stated="year-long",
             drop="'year-long' has no number the phrase rules can read"),
        dict(source="pri-2011-12-16-icarus", stated="yearlong",
             drop="'yearlong' has no number the phrase rules can read"),
        # 22 = countries where the suspects were arrested or traced; 26 = countries that took part.
        *[dict(source=s, stated=p, about="countries_engaged", set={"about": "countries_with_arrests"},
               why="the bundle's note: countries where suspects were arrested or traced, a subset of the 26 taking part")
          for s, p in [("ec-home-2011-12-16-icarus", "22 countries"),
                       ("cphpost-2011-12-16-icarus", "22 European countries"),
                       ("pri-2011-12-16-icarus", "22 countries"),
                       ("softpedia-2011-12-19-icarus", "22 countries"),
                       ("kurier-2011-icarus", "22 Ländern"),
                       ("heise-2011-icarus", "22 Ländern"),
                       ("euaustralia-2011-12-29-icarus", "22 countries")]],
    ],
    "kidflix": [
        dict(source="berliner-zeitung-2025-kidflix", stated="rund 1,8 angemeldete Nutzer",
             drop="the page leaves out the word 'million', so the phrase as printed states 1.8 users"),
        dict(source="oe24-2025-kidflix", stated="In 31 Staaten",
             drop="the phrase starts with a preposition ('in 31 states'); " + NOT_A_FIGURE),
        dict(source="hartvannederland-2025-kidflix", stated="nog niemand aangehouden",
             drop="'nobody arrested yet' is " + NOT_A_FIGURE),
    ],
    "koala": [
        dict(source="romagnaoggi-2007-koala", stated="oltre 2mila clienti",
             drop="'2mila' (2 thousand) is written as one word; the rules would read it as 'over 2'"),
        *[dict(source=s, stated="eight countries", set={"about": "countries_with_arrests"},
               why="the bundle's note: countries where the 92 arrests took place, not all countries taking part")
          for s in ("abc-2007-koala-european-ring", "smh-2007-koala-crushed")],
        dict(source="vigilant-antis-2008-01-15-koala-canada", stated="four people",
             set={"offender_role": "suspect in Ontario"}, why="arrests in one province, a subset of Canada's"),
        dict(source="vigilant-antis-2008-01-15-koala-canada", stated="About 90 other Canadians",
             set={"offender_role": "suspect still under investigation"},
             why="suspects not yet arrested, a subset of the 98 identified"),
        dict(source="lapresse-2008-koala-canada", stated="quelque 50 autres suspects",
             set={"offender_role": "suspect still under investigation"},
             why="suspects not yet arrested, a subset of the 98 identified"),
    ],
    "narsil": [
        dict(source="novinite-2023-08-07-narsil", stated="a brother and sister",
             drop="the phrase counts two people but contains no number the rules can read"),
        dict(source="novinite-2023-08-07-narsil", stated="a 34-year-old man",
             drop="the phrase rules have no number word for a bare 'a' (one man)"),
        dict(source="interpol-2023-narsil-es", stated="En 2010", about="iwol_created",
             drop="the year a list was created is a date, not a statistic's value"),
        dict(source="occrp-2023-08-07-narsil", stated="created in 2010", about="iwol_created",
             drop="the year a list was created is a date, not a statistic's value"),
    ],
    "ore": [
        dict(source="scotsman-ore-scotland-fails", stated="without anybody being charged with sex abuse",
             drop="an implicit zero in words; " + NOT_A_FIGURE),
        dict(source="guardian-2007-ore-success", stated="7,000-odd names",
             drop="the rules would read '7,000-odd' as exactly 7,000; the '-odd' hedge cannot be expressed"),
        *[dict(source=s, stated=p, set={"offender_role": "police officer"},
               why="police officers among the people arrested, not the total")
          for s, p in [("bbc-2002-12-17-ore-police-held", "Fifty police officers"),
                       ("scotsman-ore-knock-at-door", "50 have been police officers")]],
        *[dict(source=s, stated=p, set={"offender_role": "suspect in Scotland"},
               why="suspects in Scotland only, a subset of the UK list")
          for s, p in [("communitycare-2003-ore-pressure", "350 suspects"),
                       ("scotsman-ore-scotland-fails", "some 350 people")]],
        dict(source="dailymail-2002-ore-swoop", stated="More than 30 people",
             set={"offender_role": "suspect arrested on the first day of raids"},
             why="arrests on one day, not the UK total"),
        dict(source="dailymail-2002-ore-swoop", stated="around 50 houses and flats",
             set={"offender_role": "suspect searched on the first day of raids"},
             why="searches on one day, not the UK total"),
        dict(source="bbc-2002-12-17-ore-police-held", stated="34 men",
             set={"offender_role": "suspect arrested in the London-area raids of 17 December 2002"},
             why="arrests in one area on one day, not the UK total"),
        dict(source="bbc-2002-12-17-ore-police-held", stated="45 search warrants",
             set={"offender_role": "suspect searched in the London-area raids of 17 December 2002"},
             why="searches in one area on one day, not the UK total"),
        dict(source="scotsman-ore-scotland-fails", stated="some 2,000 UK subscribers",
             set={"offender_role": "UK subscriber selected for follow-up"},
             why="the part of the UK list reportedly chosen for pursuit, not the list itself"),
    ],
    "orion_international": [
        dict(source="wradio-2024-orion", stated="entre mayo y septiembre",
             drop="a period without a year, not a duration figure; " + NOT_A_FIGURE),
        *[dict(source=s, stated="maggio e settembre 2024",
               drop="a period ('between May and September 2024'), not a duration figure; " + NOT_A_FIGURE)
          for s in ("giornaledibrescia-2024-09-orion", "ilfatto-2024-orion")],
        *[dict(source=s, stated="18 agresores directos", set={"offender_role": "hands-on abuser"},
               why="hands-on abusers among the 144 arrested, not the total")
          for s in ("wradio-2024-orion", "precision-2024-orion", "notigram-2024-orion",
                    "lavanguardianoticias-2024-orion")],
        *[dict(source=s, stated="18 aggressori diretti", set={"offender_role": "hands-on abuser"},
               why="hands-on abusers among the 144 arrested, not the total")
          for s in ("giornaledibrescia-2024-09-orion", "ilfatto-2024-orion")],
        *[dict(source=s, stated=p, set={"offender_role": "fugitive wanted on an INTERPOL Red Notice"},
               why="fugitives among the 144 arrested, not the total")
          for s, p in [("wradio-2024-orion", "Siete de los detenidos"),
                       ("precision-2024-orion", "siete personas"),
                       ("giornaledibrescia-2024-09-orion", "sette persone"),
                       ("ilfatto-2024-orion", "Sette persone")]],
    ],
    "pacifier": [
        *[dict(source=s, stated=p, set={"offender_role": "suspect in Europe"},
               why="arrests or convictions in Europe only, not worldwide")
          for s, p in [("europol-2017-pacifier", "368 suspected child sex abusers"),
                       ("abc-2017-05-06-pacifier", "368 arrests or convictions"),
                       ("nos-2017-pacifier", "368 verdachten in Europa"),
                       ("policeprofessional-2017-pacifier", "almost 400 suspected paedophiles")]],
        dict(source="nos-2017-pacifier", stated="zo'n 200 verdachten",
             set={"offender_role": "suspect outside Europe and the US"},
             why="arrests in the rest of the world only"),
    ],
    "rescue": [
        dict(source="itproportal-2011-operation-rescue", stated="30 countries",
             set={"about": "countries_with_arrests"},
             why="the bundle's note: countries where police took action, not the 13 that joined the operation"),
    ],
    "spade": [
        *[dict(source=s, stated=p, drop=UNREADABLE_CURRENCY) for s, p in [
            ("tps-2013-spade-infographic", "in excess of $4 million"),
            ("ctv-2013-spade", "in excess of $4 million"),
            ("680news-2013-11-14-spade", "more than $4 million"),
            ("abc-2013-11-15-spade", "over $4 million CAD"),
        ]],
        *[dict(source=s, stated=p, set={"offender_role": "suspect in Ontario"},
               why="arrests in one province, a subset of Canada's")
          for s, p in [("tps-2013-spade-story", "50 arrests in Ontario"), ("680news-2013-11-14-spade", "50 in Ontario")]],
        *[dict(source=s, stated=p, set={"offender_role": "suspect in Canada outside Ontario"},
               why="arrests in the rest of Canada, a subset of Canada's")
          for s, p in [("tps-2013-spade-story", "58 in the rest of Canada"),
                       ("680news-2013-11-14-spade", "58 from other parts of Canada")]],
        *[dict(source=s, stated=p, set={"offender_role": "suspect outside Canada and the US"},
               why="arrests outside Canada and the US only, not the total")
          for s, p in [("tps-2013-spade-story", "164 in other parts of the world"),
                       ("guardian-2013-11-15-spade-australia", "164 in other countries"),
                       ("jdjournal-2013-11-15-spade", "164 in other countries"),
                       ("peopledaily-fr-2013-spade", "164 dans d'autres pays")]],
    ],
    "tantalio": [
        *[dict(source=s, stated=p, set={"about": "countries_with_arrests"},
               why="the bundle's note: countries where arrests were made")
          for s, p in [("geotv-2017-04-18-tantalio", "over a dozen countries"),
                       ("salamancartv-2017-tantalio", "diez países")]],
        *[dict(source=s, stated=p, set={"about": "customer_countries"},
               why="the bundle's note: countries where the groups' users were")
          for s, p in [("elperiodicodearagon-2017-tantalio", "18 países"), ("rt-2017-tantalio", "18 países"),
                       ("larazon-2017-tantalio", "18 países"), ("parentherald-2017-tantalio", "18 countries")]],
    ],
    "torpedo": [
        dict(source="itproportal-2015-pedobook-sentence", stated="sixth person",
             drop="an ordinal ('the sixth person convicted'), " + NOT_A_FIGURE),
    ],
    "welcome_to_video": [
        dict(source="euronews-2019-10-17-welcome-to-video", stated="22 years",
             set={"country": "GB", "offender_role": "site user in the UK who also abused children"},
             why="the same offender and sentence the other sources place in the UK"),
    ],
    "cyber_guardian_2025": [
        dict(source="indotoday-2025-04-cross-border", stated=p,
             drop="the phrase rules have no Indonesian section yet; the English sources state the same arrests")
        for p in ["435 orang", "374 orang", "tujuh orang", "111 orang", "21 pria"]
    ],
    "luz_na_infancia_3": [
        *[dict(source=s, stated=p, drop="a bare 'mil' (a thousand) with no number before it is " + NOT_A_FIGURE)
          for s, p in [("estrelaguia-2018-11-lni3", "aproximado de mil policiais"),
                       ("avimex-2018-11-lni3", "aproximadamente a mil efectivos")]],
    ],
}

#: Notes for rows, in the project's words, where the first claim's note would not describe the row.
ROW_NOTES: dict[str, str] = {
    "icarus.countries_with_arrests": "Countries in which suspects were arrested or traced; 26 countries took part.",
    "icarus.countries_engaged": "Countries whose police took part.",
    "icarus.devices_seized.dk": ("Two separate Danish counts: computers and external storage media. "
                                 "They add up; they do not conflict."),
    "koala.countries_with_arrests": "Countries in which the 92 European arrests were made.",
    "koala.cash_seized_usd.it": "The same cash as the euro row, which this one source states in US dollars.",
    "pacifier.arrests": "Worldwide arrests or convictions.",
    "pacifier.arrests.suspect-in-europe": "Arrests or convictions in Europe.",
    "spade.arrests.ca": "Arrests in Canada (Ontario plus the rest of Canada).",
    "tantalio.customer_countries": "Countries in which the groups' users were identified.",
    "tantalio.countries_with_arrests": "Countries in which arrests were made.",
    "kidflix.site_users": ("Most sources give about 1.8 million users who registered at least once; one commentary "
                           "page quotes the Bamberg prosecutors as putting the platform's users at about 190,000. "
                           "The derived value follows the narrowest claim; read the claims."),
    "narsil.countries_engaged": ("Two sources give 27 participating countries; one gives 195, which is INTERPOL's "
                                 "whole membership. The derived value follows the first narrow claim; read the claims."),
    "ore.arrests.gb": "Cumulative UK arrests, reported at different dates from early 2003 to April 2004.",
    "pacifier.takedown": ("Europol dates the seizure of the site to December 2014; a US-focused source gives "
                          "20 February 2015 for the server seizure. The dates conflict, so none is derived."),
    "rescue": ("Sources date the start differently (2007 for the Australian investigation, 2008 for the "
               "UK side), so no launch date is derived."),
    "welcome_to_video.images_seized": ("One source counts the site's 250,000 items as images; every other "
                                       "source calls them videos. Kept as stated."),
}


# --------------------------------------------------------------------------------------------------
# helpers


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def iso_period_start(value, precision: str | None) -> str | None:
    """A bundle date (date object, 'YYYY-MM-DD', 'YYYY-MM' or 'YYYY') as the period's first day."""
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    parts = text.split("-")
    if precision == "year" or len(parts) == 1:
        return f"{parts[0]}-01-01"
    if precision == "month" or len(parts) == 2:
        return f"{parts[0]}-{parts[1]}-01"
    return dt.date.fromisoformat(text).isoformat()


def iso_period_end(value, precision: str | None) -> str | None:
    """The last day of the period a bundle date gives (see :func:`iso_period_start`)."""
    start = iso_period_start(value, precision)
    if start is None:
        return None
    d = dt.date.fromisoformat(start)
    text = str(value) if not isinstance(value, dt.date) else ""
    parts = text.split("-") if text else []
    if precision == "year" or len(parts) == 1:
        return dt.date(d.year, 12, 31).isoformat()
    if precision == "month" or len(parts) == 2:
        nxt = dt.date(d.year + (d.month == 12), d.month % 12 + 1, 1)
        return (nxt - dt.timedelta(days=1)).isoformat()
    return d.isoformat()


def load_blocklist(path: Path) -> set[str]:
    """SHA-256 hashes of person names (checks/privacy_blocklist.txt)."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return {ln.split("#", 1)[0].strip() for ln in lines if ln.split("#", 1)[0].strip()}


def names_a_person(text: str, blocklist: set[str]) -> bool:
    """True when one to three consecutive words of text (split at hyphens, slashes, dots ...) hash to a
    blocklisted name, as in an address such as .../site-creator-firstname-lastname-sentenced/. The
    privacy rule (``privacy.no_person_names``) reads addresses the same way and would refuse the change
    set; the converter withholds such an address before it gets there."""
    words = re.findall(r"[^\W\d_]+", text.lower())
    grams = {" ".join(words[i:i + n]) for n in (1, 2, 3) for i in range(len(words) - n + 1)}
    return any(hashlib.sha256(g.encode("utf-8")).hexdigest() in blocklist for g in grams)


def clean(text) -> str | None:
    """A bundle string with its line-wrapping undone (None stays None)."""
    return " ".join(str(text).split()) if text is not None else None


def claim_scope(c: dict) -> tuple[str, str | None, str | None]:
    """(scope, country, area) of a bundle claim. Bundles from before the figure model carry only
    `country`: a country means scope country, none means worldwide."""
    scope = c.get("scope") or ("country" if c.get("country") else "worldwide")
    if scope == "country":
        if not c.get("country"):
            raise SystemExit(f"{c['source_id']} {c['stated']!r}: scope country without a country")
        return scope, c["country"].upper(), None
    if scope == "region":
        if not c.get("area"):
            raise SystemExit(f"{c['source_id']} {c['stated']!r}: scope region without an area")
        return scope, None, c["area"]
    return "worldwide", None, None


def link_parts(rows: dict) -> None:
    """A breakdown (by country, region or subgroup) names its total in part_of: the outcome of the
    same metric without the subgroup (same place), else the worldwide outcome of the metric, when the
    bundle has one. A row about one offender (offender_role) is no breakdown."""
    outs = {k[1]: r for k, r in rows.items() if k[0] == "outcomes"}

    def find(metric, scope, country, area):
        for oid, r in outs.items():
            if (r["metric"], r["scope"], r["country"], r["area"]) == (metric, scope, country, area) \
                    and not r["subgroup"] and not r["offender_role"]:
                return oid
        return None

    for oid, r in outs.items():
        if r["offender_role"] or (r["scope"] == "worldwide" and not r["subgroup"]):
            continue
        total = None
        if r["subgroup"] and r["scope"] != "worldwide":
            total = find(r["metric"], r["scope"], r["country"], r["area"])
        if total is None:
            total = find(r["metric"], "worldwide", None, None)
        r["part_of"] = total if total != oid else None


def bundles(research: Path) -> list[Path]:
    return sorted(research.glob("*.yaml"))


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


class Known:
    """Agencies and sources that exist already: in the dataset, or added by an earlier bundle."""

    def __init__(self, data_dir: Path):
        self.agencies = set(pl.read_parquet(data_dir / "agencies.parquet")["agency_id"].to_list())
        self.sources = set(pl.read_parquet(data_dir / "sources.parquet")["source_id"].to_list())

    def absorb(self, bundle: dict) -> None:
        self.agencies |= {a["agency_id"] for a in bundle.get("agencies") or []}
        self.sources |= {s["source_id"] for s in bundle.get("sources") or []}


# --------------------------------------------------------------------------------------------------
# conversion


def adjust(op: str, claims: list[dict], log: list[str]) -> list[dict]:
    """Apply ADJUST rules; return the claims to convert."""
    rules = ADJUST.get(op, [])
    used = [0] * len(rules)
    out = []
    for c in claims:
        c = dict(c)
        keep = True
        for i, r in enumerate(rules):
            if r["source"] != c["source_id"] or r["stated"] != c["stated"]:
                continue
            if "about" in r and r["about"] != c["about"]:
                continue
            used[i] += 1
            if "drop" in r:
                log.append(f"dropped  {c['source_id']} {c['about']} {c['stated']!r}: {r['drop']}")
                keep = False
            else:
                c.update(r["set"])
                log.append(f"adjusted {c['source_id']} {c['stated']!r} -> {r['set']}: {r.get('why', '')}")
        if keep:
            out.append(c)
    for r, n in zip(rules, used):
        if n == 0:
            raise SystemExit(f"{op}: adjustment matches no claim: {r['source']} {r['stated']!r}")
    return out


def convert(bundle: dict, known: Known, number: int, blocklist: set[str]) -> tuple[str, dict, list[str]]:
    op = bundle["operation"]
    oid = op["operation_id"]
    log: list[str] = []
    sources = bundle["sources"]
    short = {s["source_id"]: f"s{i + 1:02d}" for i, s in enumerate(sources)}
    first_source = sources[0]["source_id"]
    tagged = [dict(c, _stat=False) for c in bundle.get("claims") or []]
    tagged += [dict(c, _stat=True) for c in bundle.get("statistics") or []]
    tagged = adjust(oid, tagged, log)
    claims = [c for c in tagged if not c["_stat"]]
    stats = [c for c in tagged if c["_stat"]]

    changes: list[dict] = []

    def add(table: str, source: str, row: dict) -> None:
        changes.append({"op": "add", "table": table, "source": source, "row": row})

    # sources (an address that contains a person's name is withheld, like a headline that does)
    for s in sources:
        if s["source_id"] in known.sources:
            log.append(f"reused source {s['source_id']}")
            continue
        url, note = s.get("url"), s.get("note")
        if url and names_a_person(url, blocklist):
            url = None
            note = ((note + " ") if note else "") + "Address withheld: it contains a person's name."
            log.append(f"withheld the address of {s['source_id']}: it contains a person's name")
        add("sources", s["source_id"], {
            "source_id": s["source_id"], "publisher": s.get("publisher"), "kind": s["kind"],
            "title": s.get("title"),
            "published": iso_period_start(s.get("published"), s.get("published_precision")),
            # publication dates are intervals: the bundle's latest day, else the end of the period it gives
            "published_latest": (iso_period_start(s.get("published_latest"), "day") if s.get("published_latest")
                                 else iso_period_end(s.get("published"), s.get("published_precision"))),
            "published_precision": s.get("published_precision") if s.get("published") else None,
            # how the date is known (date_evidence): as the bundle says, else shown on the page
            "published_evidence": (s.get("published_evidence") or "page") if s.get("published") else None,
            "url": url, "accessed": iso_period_start(s.get("accessed"), "day"),
            "based_on": s.get("origin"), "archive_file": None,
            "language": s["language"], "note": note,
        })

    # agencies: parents first; cite the first source that names the agency
    def cites(agency_id: str) -> str:
        for c in claims:
            if c.get("agency_id") == agency_id:
                return c["source_id"]
        return first_source

    agencies = {a["agency_id"]: a for a in bundle.get("agencies") or []}
    done: set[str] = set()

    def add_agency(aid: str) -> None:
        if aid in done or aid in known.agencies:
            return
        done.add(aid)
        a = agencies[aid]
        if a.get("parent_agency_id") in agencies:
            add_agency(a["parent_agency_id"])
        add("agencies", cites(aid), {
            "agency_id": aid, "name": a["name"], "acronym": a.get("acronym"), "kind": a["kind"],
            "country": a.get("country"), "parent_agency_id": a.get("parent_agency_id"), "note": None,
        })

    for aid in agencies:
        if aid in known.agencies:
            log.append(f"reused agency {aid}")
        add_agency(aid)

    # the operation (its dates are derived from the claims)
    add("operations", first_source, {
        "operation_id": oid, "name": op["name"], "lead_agency_id": op["lead_agency_id"],
        "summary": " ".join(op["summary"].split()), "note": ROW_NOTES.get(oid),
    })

    # every claim names its target row; rows are collected in first-seen order
    rows: dict[tuple[str, str], dict] = {}      # (table, key) -> row
    row_source: dict[tuple[str, str], str] = {}
    row_claims: dict[tuple[str, str], list[dict]] = defaultdict(list)
    claim_rows: list[tuple[dict, str, str, str, str | None]] = []  # claim, table, key, column, op

    def target(c: dict) -> tuple[str, str, str]:
        about = c["about"]
        if about == "participation":
            pid = f"{oid}.{c['agency_id']}.{c['role']}"
            rows.setdefault(("participations", pid), {
                "participation_id": pid, "operation_id": oid, "agency_id": c["agency_id"],
                "role": c["role"], "note": None})
            return "participations", pid, "role"
        if about in OPERATION_DATES:
            return "operations", oid, about
        if about in EVENTS:
            kind, suffix = EVENTS[about]
            eid = f"{oid}.{suffix}"
            rows.setdefault(("events", eid), {"event_id": eid, "operation_id": oid, "kind": kind,
                                              "country": None, "offender_role": None, "note": None})
            return "events", eid, "date"
        metric = METRIC_MAP.get(about, about)
        scope, country, area = claim_scope(c)
        parts = [oid, metric]
        if scope == "country":
            parts.append(country.lower())
        elif scope == "region":
            parts.append(area)
        if c.get("subgroup"):
            parts.append(slug(c["subgroup"]))
        if c.get("offender_role"):
            parts.append(slug(c["offender_role"]))
        outcome_id = ".".join(parts)
        rows.setdefault(("outcomes", outcome_id), {
            "outcome_id": outcome_id, "operation_id": oid, "metric": metric,
            "scope": scope, "country": country, "area": area, "subgroup": c.get("subgroup"),
            "offender_role": c.get("offender_role"), "part_of": None, "note": None})
        return "outcomes", outcome_id, "value"

    for c in claims:
        table, key, column = target(c)
        row_source.setdefault((table, key), c["source_id"])
        row_claims[(table, key)].append(c)
        claim_rows.append((c, table, key, column, oid))

    for st in stats:
        metric, subject, sid = STATISTICS[st["about"]]
        key = ("statistics", sid)
        rows.setdefault(key, {"statistic_id": sid, "subject": subject, "metric": metric, "note": None})
        row_source.setdefault(key, st["source_id"])
        row_claims[key].append(st)
        claim_rows.append((st, "statistics", sid, "value", None))

    # row notes: the project's own note if given, else the bundle's note of the row's first claim
    kind_rank = {s["source_id"]: (0 if s["kind"] == "official_release" else 1) for s in sources}
    for (table, key), row in rows.items():
        cs = sorted(row_claims[(table, key)], key=lambda c: kind_rank.get(c["source_id"], 1))
        row["note"] = ROW_NOTES.get(key) or next((c.get("note") for c in cs if c.get("note")), None)
        if table == "events":  # place and role of an event only when every claim agrees on them
            for col in ("country", "offender_role"):
                vals = {c.get(col) for c in cs}
                row[col] = vals.pop() if len(vals) == 1 else None

    link_parts(rows)

    for table in ("participations", "events", "outcomes", "statistics"):
        keys = [k for k in rows if k[0] == table]
        if table == "outcomes":  # a total before its parts
            keys.sort(key=lambda k: rows[k]["part_of"] is not None)
        for key in keys:
            add(table, row_source[key], rows[key])

    # claims: <target_id>[.<date column>].<source short>[a, b ...]
    base_ids = []
    for c, table, key, column, _claim_op in claim_rows:
        if table == "operations":
            base = f"{key}.{column}.{short[c['source_id']]}"
        elif column == "date":
            base = f"{key}.date.{short[c['source_id']]}"
        else:
            base = f"{key}.{short[c['source_id']]}"
        base_ids.append(base)
    counts: dict[str, int] = defaultdict(int)
    for b in base_ids:
        counts[b] += 1
    seen: dict[str, int] = defaultdict(int)
    for (c, table, key, column, claim_op), base in zip(claim_rows, base_ids):
        cid = base
        if counts[base] > 1:
            cid = base + "abcdefghijklmnopqrstuvwxyz"[seen[base]]
            seen[base] += 1
        if table == "outcomes":  # a claim covers what its outcome covers
            out = rows[(table, key)]
            scope, country, area = out["scope"], out["country"], out["area"]
        else:
            scope, country, area = claim_scope(c)
        as_of = c.get("as_of")
        add("claims", c["source_id"], {
            "claim_id": cid, "source_id": c["source_id"], "operation_id": claim_op,
            "target_table": table, "target_id": key, "target_column": column,
            "stated": str(c["stated"]), "scope": scope, "country": country, "area": area,
            "as_of": iso_period_start(as_of, c.get("as_of_precision")) if as_of else None,
            "as_of_precision": (c.get("as_of_precision") or "day") if as_of else None,
            "quotation": clean(c.get("quotation")), "note": c.get("note"),
        })

    n_claims = sum(1 for ch in changes if ch["table"] == "claims")
    n_dropped = sum(1 for line in log if line.startswith("dropped"))
    reason = (f"Adds {op['name']} from the research bundle curation/research/{oid}.yaml: "
              f"{sum(1 for ch in changes if ch['table'] == 'sources')} new sources and {n_claims} claims, "
              f"each figure, date and role as one source states it.")
    if n_dropped:
        reason += (f" {n_dropped} bundle claim(s) are left out (phrases the rules cannot read as figures, or "
                   f"facts the tables have no place for); curation/bundle_to_changeset.py (ADJUST) lists each "
                   f"with its reason.")
    doc = {"title": f"Add {op['name']} ({oid})", "contributor": CONTRIBUTOR, "reason": reason,
           "changes": changes}
    name = f"{number:04d}-add-{oid}.yaml"
    return name, doc, log


def next_number(out: Path) -> int:
    """One past the highest change-set number in out/ and out/applied/, at least FIRST_NUMBER."""
    numbers = [int(m.group(1)) for d in (out, out / "applied") if d.is_dir()
               for p in d.glob("*.yaml") if (m := re.match(r"(\d{4})-", p.name))]
    return max([FIRST_NUMBER - 1, *numbers]) + 1


class Dumper(yaml.SafeDumper):
    pass


def _str(dumper, data):
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


Dumper.add_representer(str, _str)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundles", nargs="*", type=Path)
    ap.add_argument("--research", type=Path, default=REPO / "curation" / "research")
    ap.add_argument("--out", type=Path, default=REPO / "corrections")
    ap.add_argument("--data", type=Path, default=REPO / "datasets")
    ap.add_argument("--first", type=int, default=None,
                    help="number of the first change set (default: after the highest in --out and --out/applied, "
                         f"at least {FIRST_NUMBER})")
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args(argv)

    everything = bundles(args.research)

    def has_changeset(p: Path) -> bool:
        return any(d.glob(f"[0-9][0-9][0-9][0-9]-add-{p.stem}.yaml") for d in (args.out, args.out / "applied"))

    wanted = ({p.resolve() for p in args.bundles} if args.bundles
              else {p.resolve() for p in everything if not has_changeset(p)})
    unknown = wanted - {p.resolve() for p in everything}
    if unknown:
        raise SystemExit(f"not a bundle in {args.research}: {sorted(map(str, unknown))}")
    known = Known(args.data)
    blocklist = load_blocklist(REPO / "checks" / "privacy_blocklist.txt")
    number = args.first if args.first is not None else next_number(args.out)
    for path in everything:
        if path.resolve() not in wanted:
            continue
        bundle = load(path)
        name, doc, log = convert(bundle, known, number, blocklist)
        number += 1
        print(f"{name}: {len(doc['changes'])} changes")
        for line in log:
            print("   ", line)
        if not args.dry_run:
            write_text_atomic(args.out / name, yaml.dump(doc, Dumper=Dumper, sort_keys=False, allow_unicode=True,
                                                         width=110))
        known.absorb(bundle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
