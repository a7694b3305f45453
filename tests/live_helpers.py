"""Helpers the live-view tests share: an HTTP GET that returns refusals instead of raising,
and a bounded wait for a condition another thread or process makes true."""
import time
import urllib.error
import urllib.request


def http_get(url: str, timeout: float = 20) -> tuple[int, str]:
    """(status, body) of a GET; a 4xx/5xx answer is returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_until(cond, timeout: float = 20.0, poll: float = 0.02) -> None:
    """Return once ``cond()`` is true; fail the test after ``timeout`` seconds."""
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, "timed out"
        time.sleep(poll)
