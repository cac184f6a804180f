"""Names in the sample data set: reps, managers and accounts, deterministic per seed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the settings name the reps with these
    from salesnb.data.sample_settings import SampleSettings

# fmt: off
_REP_NAMES = [
    "Aisha Okonkwo", "Daniel Whitaker", "Mei-Ling Chen", "Brandon Kowalski", "Priya Raghunathan",
    "Marcus Bell", "Zoë O'Brien", "Tomás Alvarez", "Hannah Lindqvist", "Kwame Mensah",
    "Sofia Rossi", "Ethan Nakamura", "Leilani Kahale", "Jordan Reyes", "Olga Petrova",
    "Samuel Adeyemi", "Grace Thompson", "Arjun Mehta", "Caleb Morrison", "Yuki Tanaka",
    "Lukas Schneider", "Inês Carvalho", "Amélie Dubois", "Henrik Johansson", "Fatima Al-Sayed",
    "Pieter van der Berg", "José Nuñez-García", "Dmitri Volkov", "Chiara Bianchi", "Noah Fischer",
]


MANAGER_NAMES = [
    "Rebecca Stone", "Victor Huang", "Laura Martínez", "Kevin O'Neill", "Ingrid Svensson",
    "Rafael Costa", "Nadia Haddad", "Oliver Grant", "Sun-Hee Park", "Mateo Silva", "Claire Dubois",
    "Femi Adebayo",
]


FIRST = [
    "Ada", "Ben", "Carla", "Dev", "Elena", "Farid", "Gita", "Hugo", "Irene", "Jonas", "Kiara",
    "Liam", "Maya", "Nils", "Omar", "Paula", "Quentin", "Rosa", "Sami", "Tara", "Umar", "Vera",
    "Wei", "Ximena", "Yara", "Zane", "Anouk", "Bruno", "Chloé", "Diego",
]


LAST = [
    "Abara", "Brandt", "Castillo", "Dalton", "Eriksen", "Fontaine", "Gallo", "Hoffmann", "Iyer",
    "Jansen", "Keller", "Larsen", "Moreau", "Novak", "Ortiz", "Patel", "Quinn", "Rahman", "Sato",
    "Tremblay", "Ueda", "Varga", "Walsh", "Xu", "Yilmaz", "Zielinski",
]


_ACCOUNT_PREFIX = [
    "Northwind", "Bluefin", "Copperleaf", "Silverline", "Brightwater", "Ironbridge", "Oakridge",
    "Redstone", "Clearpath", "Summitview", "Harborview", "Pinecrest", "Lakeshore", "Stonegate",
    "Westbrook", "Eastfield", "Greenhollow", "Maplewood", "Foxglove", "Kestrel", "Falconer",
    "Larkspur", "Juniper", "Cobalt", "Amberly", "Crescent", "Driftwood", "Evergreen", "Fairhaven",
    "Goldcrest", "Highmoor", "Ivywood", "Kingsbury", "Lindenhall", "Meridian", "Newhaven",
    "Orchardly", "Pebblebrook", "Quarrystone", "Riverbend", "Saltmarsh", "Thornbury", "Upland",
    "Valecrest", "Willowmere", "Yarrow", "Zephyr", "Alderbrook", "Birchfield", "Cedarline",
    "Dunmore", "Elmstead", "Fernhill", "Glenrock", "Hollowell", "Inkwell", "Jasperline",
    "Kingfisher", "Lumenford", "Marlow", "Nettlefield", "Opaline", "Pemberton", "Quillon",
    "Rookwood", "Sablewood", "Tidewater", "Umberly", "Vantagepoint", "Wrenfield", "Ashgrove",
    "Brambleton",
]


_ACCOUNT_NOUN = [
    "Analytics", "Logistics", "Foods", "Health", "Robotics", "Energy", "Textiles", "Freight",
    "Pharma", "Software", "Systems", "Media", "Outfitters", "Biotech", "Capital", "Insurance",
    "Manufacturing", "Labs", "Retail", "Telecom", "Aerospace", "Materials", "Hospitality",
    "Construction", "Dental", "Motors", "Packaging", "Marine", "Farms", "Brewing", "Optics",
    "Instruments", "Semiconductors", "Learning", "Clinics", "Properties", "Water", "Solar",
    "Paper", "Chemicals", "Apparel", "Security", "Networks", "Metals", "Furniture", "Travel",
    "Devices", "Studios", "Mobility", "Components",
]


# fmt: on
_SUFFIX_NA = ("Inc.", "LLC", "Corp.", "Co.", "Group")


_SUFFIX_EU = ("Ltd", "GmbH", "SA", "BV", "AB", "S.r.l.", "Oy", "plc")


_EU_WORDS = ("EMEA", "Europe", "UK", "DACH", "Nordic", "France", "Germany", "Iberia")


def rep_ids(n: int) -> list[str]:
    width = max(2, len(str(n)))
    return [f"R{i + 1:0{width}d}" for i in range(n)]


def rep_names(n: int) -> list[str]:
    extra = [f"{f} {last}" for last in LAST for f in FIRST]
    return (_REP_NAMES + [e for e in extra if e not in _REP_NAMES])[:n]


def account_names(s: SampleSettings, rp: dict, rng: np.random.Generator, rep: np.ndarray) -> list:
    """Fictitious company names; each account belongs to exactly one rep."""
    n_acc = np.maximum(10, rng.poisson(s.accounts_per_rep, s.n_reps))
    grid = [f"{p} {q}" for p in _ACCOUNT_PREFIX for q in _ACCOUNT_NOUN]
    order = rng.permutation(len(grid))
    total = int(n_acc.sum())
    acc_region = np.repeat(rp["region"], n_acc)
    eu = np.array([any(w in r for w in _EU_WORDS) for r in s.regions])[acc_region]
    pick = rng.random(total)
    names = []
    for i in range(total):
        stem = grid[order[i % len(grid)]] + (f" {i // len(grid) + 1}" if i >= len(grid) else "")
        pool = _SUFFIX_EU if eu[i] else _SUFFIX_NA
        names.append(f"{stem} {pool[int(pick[i] * len(pool))]}")
    offset = np.r_[0, np.cumsum(n_acc)[:-1]]
    local = (n_acc[rep] * rng.random(len(rep)) ** 1.6).astype(np.int64)  # repeat customers
    return list(np.asarray(names, dtype=object)[offset[rep] + local])
