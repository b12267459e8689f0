"""`safe_url`: what of a URL cogdex may store or show, and the errors that apply it."""

from __future__ import annotations

import pickle

import pytest

from cogdex.errors import BuildError, FetchError, NotFoundError, StoreError, TIFFError
from cogdex.index.stac_api import SearchError
from cogdex.io.urls import parse_url
from cogdex.redact import has_userinfo, redact_urls, safe_url

SECRET = "s3cr3t-XYZ"


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        (f"https://user:{SECRET}@h:8/a.tif", "https://h:8/a.tif"),
        (f"https://h/stac?api_key={SECRET}", "https://h/stac"),
        (f"https://h/stac/?subscription-key={SECRET}&x=1#frag", "https://h/stac/"),
        (f"s3://b/k.tif?X-Amz-Signature={SECRET}", "s3://b/k.tif"),
        (f"abfs://u:{SECRET}@account/c/k.tif", "abfs://account/c/k.tif"),
        ("abfs://container@account.dfs.core.windows.net/k.tif", None),
        ("https://h/a.tif", None),
        ("/data/odd?name.tif", None),  # a path, not a URL
        (f"https://u:{SECRET}@[::1/a.tif", "https://<unparsable URL>"),
    ],
)
def test_safe_url_drops_userinfo_and_query(url: str, safe: str | None):
    assert safe_url(url) == (safe or url)


def test_only_real_userinfo_counts():
    assert has_userinfo(f"http://u:{SECRET}@h/a") and has_userinfo("https://token@h/a")
    assert not has_userinfo("abfs://container@account/k")  # Azure's container
    assert has_userinfo(f"az://c:{SECRET}@account/k")


def test_redact_urls_keeps_the_text_around_them():
    text = f"bad (https://u:{SECRET}@h/a.tif, byte 5); see s3://b/k?sig={SECRET} now"
    assert redact_urls(text) == "bad (https://h/a.tif, byte 5); see s3://b/k now"
    text = f"cannot read (https://h/a.json?token={SECRET}): gone; also https://h/b?k={SECRET}."
    assert redact_urls(text) == "cannot read (https://h/a.json): gone; also https://h/b."


@pytest.mark.parametrize(
    "make",
    [
        lambda url: FetchError(f"GET {url} failed", url=url, byte_range=(0, 8)),
        lambda url: NotFoundError("not found", url=url),
        lambda url: TIFFError(f"bad magic in {url}", source=url, offset=0),
        lambda url: BuildError(f"cannot read {url}"),
        lambda url: SearchError(f"POST {url}: 500 oops", 500),
    ],
)
def test_errors_never_carry_credentials(make):
    for url in (f"https://user:{SECRET}@h/a.tif", f"https://h/stac/search?api_key={SECRET}"):
        exc = make(url)
        again = pickle.loads(pickle.dumps(exc))  # DataLoader workers send errors back
        for e in (exc, again):
            shown = " ".join([str(e), repr(e), *(str(v) for v in vars(e).values())])
            assert SECRET not in shown and "h/" in shown


@pytest.mark.parametrize("url", [f"https://u:{SECRET}@h/a.tif", f"s3://u:{SECRET}@b/a.tif"])
def test_urls_with_userinfo_are_refused(url: str):
    """Stores do not send userinfo (obstore's HTTP store reads anonymously): refuse it."""
    with pytest.raises(StoreError, match="store_options") as info:
        parse_url(url)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "s3://b/dir/a#b.tif",
        "s3://b/k.tif?versionId=3",
        "gs://b/a#1.tif",
        "az://c@account/a#b.tif",
        "abfs://c@account.dfs.core.windows.net/k.tif?",
    ],
)
def test_an_object_store_url_with_a_query_or_fragment_is_refused(url: str):
    """`s3://b/dir/a#b.tif` was read as the object `dir/a`, and `?versionId=` as the newest
    version: other objects than the one named."""
    with pytest.raises(StoreError, match="percent-encode"):
        parse_url(url)
    assert parse_url("s3://b/dir/a%23b.tif").key == "dir/a#b.tif"
