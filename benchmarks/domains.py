"""Benchmark the one registered_domain (tldextract's bundled Public Suffix List, no network): the cost
of the first call in a process (import + snapshot parse), of an uncached host and of a cached one, on
the page URLs of trafilatura's evaluation set (real sites, many countries), best of ``--repeats``.

    python benchmarks/domains.py [--corpora ../shared/corpora] [--repeats 5]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
from pathlib import Path

from timing import best_of


def urls(corpora: Path) -> list[str]:
    with tarfile.open(corpora / "web/html/trafilatura-eval-pages.tar.gz") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("evaldata.json"))
        return [u for u in json.load(tar.extractfile(member)) if u.startswith(("http://", "https://"))]


FIRST_CALL = (
    "import time; t = time.perf_counter(); from tailmine.domains import registered_domain; "
    "registered_domain('https://news.example.co.uk/'); print(time.perf_counter() - t)"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpora", default=str(Path(__file__).resolve().parents[2] / "shared" / "corpora"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from tailmine.domains import host_domain, registered_domain

    pages = urls(Path(args.corpora))
    first = min(float(subprocess.run([sys.executable, "-c", FIRST_CALL], capture_output=True, text=True, check=True).stdout)
                for _ in range(args.repeats))
    registered_domain(pages[0])  # the extractor is built

    def uncached():
        host_domain.cache_clear()
        return [registered_domain(u) for u in pages]

    cold, sites = best_of(uncached, args.repeats)
    warm, _ = best_of(lambda: [registered_domain(u) for u in pages], args.repeats)
    print(json.dumps({
        "urls": len(pages), "sites": len(set(sites)), "first_call_seconds": round(first, 3),
        "uncached_us_per_url": round(cold / len(pages) * 1e6, 2), "cached_us_per_url": round(warm / len(pages) * 1e6, 2),
    }))


if __name__ == "__main__":
    main()
