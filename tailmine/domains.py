"""The registered domain of a URL: what line dedup, the holdout split and the classifier splits call a *site*.

Why one function on the Public Suffix List: a site is the unit that line dedup counts boilerplate in,
that the holdout split keeps whole and that the classifier splits group by. Two hand-written rules
(a few second-level labels under two-letter country TLDs) disagreed with each other and with the
registries (``example.com.br`` and ``example.co.jp`` were right, ``city.kawasaki.jp`` or
``example.gov.in`` by luck only), so these three parts of the pipeline disagreed about what a site is.

``tldextract`` answers from the snapshot of the Public Suffix List that ships inside its wheel
(ICANN section; private suffixes such as ``github.io`` are not registries): ``suffix_list_urls=()``
and ``cache_dir=None`` mean nothing is downloaded and no cache written by another version is read,
so the answer depends only on the installed tldextract version. Hosts are cached per process.
"""
from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Optional


@lru_cache(maxsize=1)
def _extractor():
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=False)


def url_host(url: str) -> str:
    """The host of ``url`` (scheme, user info, port, path, query and fragment removed), lower-cased and
    without surrounding dots; an IPv6 literal loses its brackets. ``url`` may lack a scheme."""
    rest = url.split("://", 1)[1] if "://" in url else url
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1]
    if host.startswith("["):  # IPv6 literal
        return host.split("]", 1)[0].lstrip("[").lower()
    return host.split(":", 1)[0].strip(".").lower()


@lru_cache(maxsize=65536)
def host_domain(host: str) -> Optional[str]:
    """The registered domain of a lower-case ``host`` (``www.bbc.co.uk`` -> ``bbc.co.uk``).

    IP addresses and single labels (``localhost``) stay whole; a host that is itself a public suffix
    (``co.uk``) stays whole; a host under no known suffix (``intranet.corp``) keeps its last two labels."""
    if not host:
        return None
    if "." not in host or ":" in host:
        return host
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    parts = _extractor()(host)
    if parts.suffix and parts.domain:
        return f"{parts.domain}.{parts.suffix}"
    if parts.suffix:  # the host is a public suffix itself
        return host
    return ".".join(host.split(".")[-2:])


def registered_domain(url: Optional[str]) -> Optional[str]:
    """The registered domain of ``url``'s host (``https://news.bbc.co.uk:443/x`` -> ``bbc.co.uk``), by
    the Public Suffix List; None when ``url`` is empty or has no host."""
    if not url:
        return None
    return host_domain(url_host(url))
