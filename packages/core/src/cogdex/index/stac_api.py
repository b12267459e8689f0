"""STAC API Item Search through pystac-client, with its failures as `SearchError`.

pystac-client reads the landing page (its conformance classes and `search` link), sends the
search there and follows `next` links (POST bodies merged as the links say, or GET), calling
the caller's `modifier` on every page (Planetary Computer signing). Here it gets cogdex's
User-Agent, the caller's headers, a timeout and retries of refused connections and of
429/502/503/504 answers (after their `Retry-After`); its errors become SearchError with the
API's own description and no credential of the URL.
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cogdex.redact import redact_urls

TIMEOUT = 120.0
"""Seconds one request may take to connect, and then to answer."""
PAGE_SIZE = 250
"""Items asked for per page (`limit`); APIs may return fewer."""
RETRY_STATUSES = (429, 502, 503, 504)
"""Answers that mean "later", retried with backoff (up to 4 times); others fail at once."""

Modifier = Callable[[Any], None]
"""pystac-client's `modifier`: changes a page (dict) or item in place, e.g. signs its hrefs."""


class SearchError(Exception):
    """A search the API refused (`status` set) or that never got an answer. Its message
    names URLs without their userinfo and query string, which may hold the API's key."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(redact_urls(message))
        self.status = status


def search(
    api_url: str,
    parameters: Mapping[str, Any],
    *,
    max_items: int | None = None,
    headers: Mapping[str, str] | None = None,
    modifier: Modifier | None = None,
    hooks: concurrent.futures.Future[None] | None = None,
) -> list[dict[str, Any]]:
    """Every item the API returns for the search (keyword arguments of pystac-client's
    `Client.search`: collections, bbox, datetime, query, filter, ids, sortby, fields), at
    most `max_items`, as dicts. POST unless the landing page's search links are all GET.
    `hooks`: a discovery of pystac's extension hooks already under way
    (`extension_hooks`)."""
    if max_items is not None and max_items <= 0:
        return []
    import pystac
    from pystac_client import Client, ItemSearch
    from pystac_client.errors import ClientTypeError
    from pystac_client.exceptions import APIError
    from pystac_client.warnings import PystacClientWarning

    from cogdex.redact import safe_url

    limit = PAGE_SIZE if max_items is None else min(PAGE_SIZE, max_items)
    api = safe_url(api_url)
    url = _search_url(api_url)
    guess = _Speculation(url, functools.partial(
        ItemSearch, url, method="POST", limit=limit, max_items=max_items,
        stac_io=_stac_io(headers), modifier=modifier, **parameters,
    ))  # fmt: skip
    try:
        hooks = hooks or extension_hooks()
        client = Client.open(api_url, modifier=modifier, stac_io=_stac_io(headers, hooks))
        _root_is_itself(client)
        methods = {
            str(link.extra_fields.get("method") or "GET").upper()
            for link in client.links
            if link.rel == "search"
        }
        method = "GET" if methods == {"GET"} else "POST"
        try:
            found = client.search(method=method, limit=limit, max_items=max_items, **parameters)
        except PystacClientWarning:  # DoesNotConformTo, raised: not an Item Search API
            raise
        except Exception as exc:  # pystac-client checks the arguments with bare Exceptions
            raise SearchError(f"cannot search STAC API {api}: {exc}") from exc
        if found.url == guess.url and found.method == "POST":
            return guess.result()  # the search the landing page asks for, already under way
        return list(found.items_as_dicts())
    except APIError as exc:
        status = getattr(exc, "status_code", None)
        if status is None:  # requests' error: refused, timed out, cut short
            raise SearchError(f"STAC API {api} did not answer: {_why(exc)}") from exc
        raise SearchError(
            f"STAC API {api} refused the search: {status} {_description(str(exc))}", status
        ) from exc
    except PystacClientWarning as exc:
        raise SearchError(f"{api} is not a STAC API with Item Search: {exc}") from exc
    except (pystac.STACError, ClientTypeError, ValueError) as exc:  # not STAC, not JSON
        raise SearchError(f"STAC API {api} answered with something other than STAC: {exc}") from exc
    finally:
        guess.abandon()


def _search_url(api_url: str) -> str:
    """Where nearly every STAC API has its Item Search: `<landing page>/search`."""
    parts = urlsplit(api_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/search"))


class _Speculation:
    """The search POSTed to `<API>/search` while the landing page is read, on a thread of
    its own (pystac-client's `ItemSearch`, its own session): when the landing page's search
    link is that URL and takes POST, as nearly everywhere, its items are the answer and a
    cold search costs a round trip less (a cold build took 0.652 s instead of 0.747 s at
    60 ms RTT in benchmarks/run.py index-build); otherwise it is abandoned at its next item
    and its answer, or error, ignored."""

    def __init__(self, url: str, search: Callable[[], Any]) -> None:
        self.url = url
        self._abandoned = threading.Event()
        self._future: concurrent.futures.Future[list[dict[str, Any]]] = concurrent.futures.Future()
        self._search = search  # builds the ItemSearch on the thread: its checks raise there
        threading.Thread(target=self._run, name="cogdex-search", daemon=True).start()

    def _run(self) -> None:
        try:
            items = []
            for item in self._search().items_as_dicts():
                if self._abandoned.is_set():
                    return
                items.append(item)
            self._future.set_result(items)
        except BaseException as exc:  # raised by result(), if the answer is used
            self._future.set_exception(exc)

    def result(self) -> list[dict[str, Any]]:
        return self._future.result()

    def abandon(self) -> None:
        self._abandoned.set()


def _root_is_itself(client: Any) -> None:
    """Tell pystac that a landing page whose `root` link names itself is its own root:
    otherwise resolving the search link reads the landing page a second time (one round
    trip of every cold search; pystac's `Catalog.set_root`, public API)."""
    link = client.get_single_link("root")
    target = link.target if link is not None else None
    here = client.get_self_href()
    if isinstance(target, str) and here and target.rstrip("/") == here.rstrip("/"):
        client.set_root(client)


def _why(exc: BaseException) -> str:
    """Why a request got no answer: urllib3's reason (refused, timed out, cut short) rather
    than requests' wrapping of it, which quotes the URL's path with its query string (the
    API's key), also dropped here where it appears anyway."""
    cause = exc.__context__  # pystac-client raises APIError(str(error)) from requests' error
    inner = cause.args[0] if cause is not None and cause.args else None
    reason = getattr(inner, "reason", None) or inner or cause or exc
    return re.sub(r"\?[^\s'\")]*", "", str(reason))


def _description(text: str) -> str:
    """The API's own description of an error (STAC APIs answer {code, description})."""
    try:
        detail = json.loads(text)
    except ValueError:
        return text.strip()[:500]
    if isinstance(detail, dict):
        found = detail.get("description") or detail.get("detail") or detail.get("message")
        if found:
            return str(found)[:500]
    return text.strip()[:500]


def _scrub(record: logging.LogRecord) -> bool:
    """Debug records of pystac-client and urllib3 made safe: they quote request URLs (and
    bare paths) with their query strings, and pystac-client the headers sent."""
    text = redact_urls(record.getMessage())
    text = re.sub(r"\?[^\s'\"]*", "", text)
    record.msg, record.args = re.sub(r"Headers: \{.*?\}", "Headers: {...}", text), ()
    return True


@functools.cache
def _scrub_logs() -> None:
    for name in ("pystac_client.stac_api_io", "urllib3.connectionpool", "urllib3.util.retry"):
        logging.getLogger(name).addFilter(_scrub)


_discovery: concurrent.futures.Future[None] | None = None
"""This process's discovery of pystac's extension hooks (see `extension_hooks`)."""
_discovery_lock = threading.Lock()


def extension_hooks() -> concurrent.futures.Future[None]:
    """pystac's extension hooks, being discovered on a thread while the landing page is on
    its way: one discovery per process, shared by every search (a failed one is tried again
    by the next search).

    Since stac-utils/pystac#1764, pystac finds its extensions through an entry-point group
    on the first STAC object it migrates, which `Client.open` does with the landing page: it
    reads the entry points of every installed distribution and imports each extension
    package (~35 ms of CPU with pystac's 21), after the answer arrived, on the search's
    critical path. Migrating a minimal catalog with pystac's own public functions does it
    during the round trip instead (once hooks are found, that migration costs microseconds);
    the landing page waits for it before it is parsed (`_stac_io`), so it is never migrated
    with part of the hooks, and a failure is raised there, as `Client.open` would raise it.
    A build starts it before its other set-up (`cogdex.builds`), which waits for it: both
    hold the GIL. This can go once pystac's discovery costs a few milliseconds.
    """
    global _discovery
    with _discovery_lock:
        if _discovery is not None:
            return _discovery
        done = _discovery = concurrent.futures.Future()

    def discover() -> None:
        global _discovery
        import pystac
        from pystac.serialization import identify_stac_object, migrate_to_latest

        catalog = {
            "type": "Catalog",
            "id": "cogdex",
            "description": "discovers pystac's extension hooks",
            "stac_version": pystac.get_stac_version(),
            "links": [],
        }
        try:
            migrate_to_latest(catalog, identify_stac_object(catalog))
        except BaseException as exc:
            with _discovery_lock:
                _discovery = None
            done.set_exception(exc)
        else:
            done.set_result(None)

    threading.Thread(target=discover, name="cogdex-pystac", daemon=True).start()
    return done


def _stac_io(
    headers: Mapping[str, str] | None, hooks: concurrent.futures.Future[None] | None = None
) -> Any:
    """pystac-client's I/O with cogdex's User-Agent, timeout and retries; with `hooks`, an
    answer waits for that discovery of pystac's extension hooks before it is parsed."""
    from pystac_client.stac_api_io import StacApiIO
    from urllib3 import Retry

    from cogdex._version import __version__

    retries = Retry(
        total=6,
        connect=2,
        status=4,
        backoff_factor=0.25,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=None,  # a search POST changes nothing: retry it too
        raise_on_status=False,  # the last answer's error document says why
    )
    _scrub_logs()
    sent = {"User-Agent": f"cogdex/{__version__}", **(headers or {})}
    if hooks is None:
        return StacApiIO(headers=sent, timeout=TIMEOUT, max_retries=retries)
    discovered = hooks

    class AfterHooks(StacApiIO):
        def read_text(self, source: Any, *args: Any, **kwargs: Any) -> str:
            text: str = super().read_text(source, *args, **kwargs)
            discovered.result()
            return text

    return AfterHooks(headers=sent, timeout=TIMEOUT, max_retries=retries)


__all__ = [
    "PAGE_SIZE",
    "Modifier",
    "SearchError",
    "extension_hooks",
    "search",
]
