"""The one registered_domain (Public Suffix List snapshot of tldextract), on real URLs and hostile input."""
import json
import socket
import tarfile

import pytest

from tailmine.domains import _extractor, host_domain, registered_domain, url_host


def _trafilatura_urls(corpora) -> list[str]:
    """The page URLs of trafilatura's evaluation set (the keys of evaldata.json: real sites, many countries)."""
    with tarfile.open(corpora / "web/html/trafilatura-eval-pages.tar.gz") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("evaldata.json"))
        data = json.load(tar.extractfile(member))
    return [u for u in data if u.startswith(("http://", "https://"))]


def test_every_caller_uses_the_one_function():
    from tailmine.classifiers import data
    from tailmine.dedup import lines
    from tailmine.mixtures import holdout

    assert lines.registered_domain is holdout.registered_domain is data.registered_domain is registered_domain


def test_real_hosts_where_the_two_old_rules_disagreed(corpora):
    urls = _trafilatura_urls(corpora)
    by_host = {url_host(u): registered_domain(u) for u in urls}
    # waw.pl is a registry suffix (Warsaw); the old rules of both copies said the site was "waw.pl"
    assert by_host["www.osw.waw.pl"] == "osw.waw.pl"
    # gv.at is Austria's government suffix: line dedup's copy knew it, the holdout's copy said "gv.at"
    assert by_host["www.bundeskanzleramt.gv.at"] == "bundeskanzleramt.gv.at"
    assert by_host["www.bmjv.de"] == "bmjv.de"
    assert by_host["kulinariaathome.wordpress.com"] == "wordpress.com"  # private suffixes are not registries


def test_real_urls_give_a_registered_suffix_of_their_host(corpora):
    urls = _trafilatura_urls(corpora)
    assert len(urls) > 900
    sites = [registered_domain(u) for u in urls]
    for url, site in zip(urls, sites):
        host = url_host(url)
        assert host == site or host.endswith("." + site), (url, site)
        assert site.count(".") >= 1 and not site.startswith("."), (url, site)
        assert host_domain(site) == site, (url, site)  # a registered domain is its own site
    assert len(set(sites)) > 400  # the eval set spans hundreds of sites, not a handful of suffixes


def test_url_shapes_and_hosts_without_a_registry():
    assert registered_domain("https://www.bbc.co.uk:443/news?x=1") == "bbc.co.uk"
    assert registered_domain("HTTP://User:pw@A.B.Example.COM./x#top") == "example.com"
    assert registered_domain("www.example.com.au/path") == "example.com.au"  # no scheme
    assert registered_domain("http://city.kawasaki.jp/") == "city.kawasaki.jp"
    assert registered_domain("http://10.1.2.3:8080/x") == "10.1.2.3"
    assert registered_domain("http://[2001:db8::1]:80/x") == "2001:db8::1"
    assert registered_domain("localhost") == "localhost"
    assert registered_domain("http://co.uk/") == "co.uk"  # a bare suffix stays whole
    assert registered_domain("http://a.b.intranet.corp/") == "intranet.corp"  # no known suffix: last two labels
    assert registered_domain(None) is None and registered_domain("") is None and registered_domain("http:///x") is None


def test_answers_offline_from_the_bundled_snapshot(monkeypatch):
    """A fresh extractor must not touch the network (workers have none) and must read no user cache."""

    def refuse(*args, **kwargs):
        raise AssertionError("registered_domain tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("TLDEXTRACT_CACHE", "/nonexistent/cache")
    _extractor.cache_clear()
    host_domain.cache_clear()
    try:
        assert registered_domain("https://news.example.co.jp/a") == "example.co.jp"
        assert registered_domain("http://www.osw.waw.pl/") == "osw.waw.pl"
    finally:
        _extractor.cache_clear()
        host_domain.cache_clear()


@pytest.mark.parametrize("bad", ["http://", "://", "@", "[", "http://[::1", "http://..../", "\x00.com", "a" * 5000 + ".com"])
def test_hostile_input_does_not_raise(bad):
    site = registered_domain(bad)
    assert site is None or isinstance(site, str)
