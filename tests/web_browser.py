"""Headless Chromium from the system's packages, driven by selenium, for the page's tests.

The browser and its driver come from Debian's ``chromium`` and ``chromium-driver``:
selenium's own driver download cannot work without the internet, so the driver is named
explicitly. Without them the tests skip with the command that installs them; under
``CI=true`` a missing browser fails the run instead, so CI can never pass by skipping.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

__all__ = [
    "INSTALL_HINT",
    "console_errors",
    "drain_logs",
    "foreign",
    "open_page",
    "requested_urls",
    "require_browser",
    "screenshot",
    "start_chromium",
    "wait_until",
]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL_HINT = "sudo apt-get install chromium chromium-driver"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--window-size=1280,900",
)
T = TypeVar("T")


def _find(path: str) -> str | None:
    return path if os.access(path, os.X_OK) else None


def require_browser() -> tuple[str, str]:
    """(chromium, chromedriver); skips (fails under CI=true) when either or selenium is missing."""
    chromium, driver = _find(CHROMIUM), _find(CHROMEDRIVER)
    missing = [
        name for name, found in (("chromium", chromium), ("chromedriver", driver)) if not found
    ]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install -e '.[dev]')")
    if missing or chromium is None or driver is None:
        message = f"browser tests need {', '.join(missing)}; install with: {INSTALL_HINT}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {message}", pytrace=False)
        pytest.skip(message)
    return chromium, driver


def start_chromium(profile: Path) -> WebDriver:
    """A fresh headless Chromium with its browser console and network events recorded."""
    from selenium import webdriver

    chromium, driver = require_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    service = webdriver.ChromeService(executable_path=driver)
    browser = webdriver.Chrome(service=service, options=options)
    browser.set_page_load_timeout(30)
    browser.set_script_timeout(30)
    return browser


def drain_logs(browser: WebDriver) -> None:
    """Forget what the browser logged so far (the logs are read destructively)."""
    browser.get_log("browser")
    browser.get_log("performance")


def console_errors(browser: WebDriver) -> list[str]:
    """Console messages at error level since the last read (CSP violations are among them)."""
    return [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def requested_urls(browser: WebDriver) -> list[str]:
    """Every URL the browser started to load since the last read (DevTools Network events)."""
    urls = []
    for entry in browser.get_log("performance"):
        message: dict[str, Any] = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def foreign(urls: list[str], origin: str) -> list[str]:
    """The URLs not on ``origin`` (data: and about: URLs load nothing from anywhere)."""
    own = urlsplit(origin)
    return [
        url
        for url in urls
        if urlsplit(url).scheme not in ("data", "about", "blob")
        and (urlsplit(url).scheme, urlsplit(url).netloc) != (own.scheme, own.netloc)
    ]


def wait_until(what: str, probe: Callable[[], T | None], timeout: float = 10.0) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}", pytrace=False)
        time.sleep(0.02)


DOCS = Path(__file__).resolve().parent.parent / "docs"


def screenshot(browser: WebDriver, name: str) -> Path:
    """Write the whole page to docs/``name`` (only when it changed, so the tree stays clean)."""
    import base64

    browser.execute_script("document.activeElement && document.activeElement.blur()")
    width, height = browser.execute_script(
        "const d = document.documentElement;"
        "return [Math.max(d.scrollWidth, innerWidth), d.scrollHeight];"
    )
    shot = browser.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
        },
    )
    png = base64.b64decode(shot["data"])
    assert png.startswith(b"\x89PNG"), "the browser returned no PNG"
    path = DOCS / name
    if not path.exists() or path.read_bytes() != png:
        path.write_bytes(png)
    return path


def open_page(browser: WebDriver, url: str) -> None:
    """Load the page afresh (even at the URL it shows now) and wait until it read the gateway."""
    browser.get("about:blank")
    browser.get(url)
    wait_until(
        "the page to read the gateway",
        lambda: browser.execute_script(
            "return document.body.dataset.ready === 'true'"
            " || !document.getElementById('load-error').hidden"
        ),
    )
