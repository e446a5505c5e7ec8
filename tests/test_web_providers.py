"""The page's providers view in headless Chromium, over a real gateway on loopback.

One browser and one gateway serve the whole module (starting Chromium costs a second or
two); each test loads the page afresh.
"""

from __future__ import annotations

import fnmatch
import html.parser
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from web_browser import (
    console_errors,
    drain_logs,
    foreign,
    open_page,
    requested_urls,
    screenshot,
    start_chromium,
    wait_until,
)
from web_gateway import BROKEN_REASON, OPENAI_NAME, Served, serve_gateway

from g4f_core.gateway.web import CONTENT_SECURITY_POLICY, PAGE_PATHS

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve_gateway(tmp_path_factory.mktemp("web-site")) as gateway:
        yield gateway


@pytest.fixture
def page(browser: WebDriver, served: Served) -> WebDriver:
    browser.set_window_size(1280, 900)
    browser.get(served.url + "/")
    browser.execute_script("sessionStorage.clear()")
    drain_logs(browser)
    open_page(browser, served.url + "/")
    return browser


def rows(browser: WebDriver) -> dict[str, list[str]]:
    """Provider name -> the text of each cell of its row, as the table shows them."""
    found: dict[str, list[str]] = browser.execute_script(
        "const out = {};"
        "for (const tr of document.querySelectorAll('#provider-rows tr'))"
        "  out[tr.dataset.provider] = [...tr.cells].map((td) => td.innerText.trim());"
        "return out;"
    )
    return found


def click(browser: WebDriver, element_id: str) -> None:
    browser.find_element("id", element_id).click()


# -- what the page loads ----------------------------------------------------------------


def test_the_page_loads_with_no_console_error_and_nothing_from_another_origin(
    page: WebDriver, served: Served
) -> None:
    assert page.execute_script("return document.body.dataset.ready") == "true"
    assert console_errors(page) == []
    urls = requested_urls(page)
    paths = {url.removeprefix(served.url) for url in urls}
    # The record is real: it holds the page, its two files, its icon and both API reads.
    assert {"/", "/static/app.js", "/static/style.css", "/v1/providers", "/v1/models"} <= paths
    assert foreign(urls, served.url) == []


def test_the_browser_refuses_a_request_to_another_origin_and_logs_it(
    page: WebDriver, served: Served
) -> None:
    """The policy is enforced, and a refusal shows in the console log the first test reads."""
    other = served.emulator.url.replace("localhost", "127.0.0.1") + "/settings"
    before = len(served.emulator.requests)
    outcome = page.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(() => done('sent'), (e) => done(e.name));",
        other,
    )
    assert outcome == "TypeError"
    assert any("Content Security Policy" in line for line in console_errors(page))
    assert len(served.emulator.requests) == before


def test_every_file_of_the_page_carries_the_policy_and_no_inline_code(served: Served) -> None:
    assert "default-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    for path, (_, content_type) in PAGE_PATHS.items():
        with urllib.request.urlopen(served.url + path, timeout=10) as reply:
            assert reply.status == 200
            assert reply.headers["Content-Type"] == content_type
            assert reply.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
            assert reply.headers["X-Content-Type-Options"] == "nosniff"
            body = reply.read()
        if path == "/":
            audit = InlineAudit()
            audit.feed(body.decode())
            assert audit.problems == []
            assert audit.references == {"static/app.js", "static/style.css", "static/favicon.svg"}


class InlineAudit(html.parser.HTMLParser):
    """Collects inline scripts, styles and event handlers, and every file referenced."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.references: set[str] = set()
        self._tag = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag = tag
        names = dict(attrs)
        if tag == "style" or "style" in names:
            self.problems.append(f"inline style on <{tag}>")
        self.problems += [f"handler {n} on <{tag}>" for n in names if n.startswith("on")]
        for attr in ("src", "href"):
            value = names.get(attr)
            if value and not value.startswith("#") and tag in ("script", "link", "img"):
                self.references.add(value)

    def handle_data(self, data: str) -> None:
        if self._tag == "script" and data.strip():
            self.problems.append("inline script")

    def handle_endtag(self, tag: str) -> None:
        self._tag = ""


def test_the_page_files_ship_as_package_data() -> None:
    """Each file is under g4f_core/gateway/static and matched by a package-data pattern."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the file is the same on 3.10
    root = Path(__file__).resolve().parent.parent
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = data["tool"]["setuptools"]["package-data"]
    for name, _ in PAGE_PATHS.values():
        file = root / "g4f_core" / "gateway" / "static" / name
        assert file.is_file()
        matched = [
            (package, pattern)
            for package, globs in patterns.items()
            for pattern in globs
            if file.is_relative_to(root / package.replace(".", "/"))
            and fnmatch.fnmatch(
                file.relative_to(root / package.replace(".", "/")).as_posix(), pattern
            )
        ]
        assert matched, f"{name} is not package data"


# -- the providers view -----------------------------------------------------------------


def test_the_table_lists_h2o_and_the_openai_compatible_endpoint_with_capabilities(
    page: WebDriver,
) -> None:
    table = rows(page)
    assert sorted(table) == ["H2o", OPENAI_NAME]
    name, models, stream, auth, working, source, last_check, options = table["H2o"]
    assert name.splitlines() == ["H2o", "https://gpt-gm.h2o.ai"]
    assert models.splitlines() == ["falcon-40b", "falcon-7b", "llama-13b"]
    assert (stream, auth, working, last_check, options) == (
        "yes",
        "none",
        "yes",
        "never",
        "6 declared",
    )
    assert source.startswith("g4f-core ")
    name, models, stream, auth, working, source, last_check, options = table[OPENAI_NAME]
    assert name.splitlines() == [OPENAI_NAME, "https://llm.internal.example/v1"]
    assert models.splitlines() == ["gpt-4o-mini", "qwen2.5-7b"]
    assert (stream, auth, working, options) == ("yes", "needs a key", "yes", "7 declared")
    assert source.startswith("config")
    assert page.find_element("id", "provider-count").text == "2 of 2 providers shown"


def test_filters_narrow_the_table(page: WebDriver) -> None:
    click(page, "filter-no-auth")
    assert sorted(rows(page)) == ["H2o"]
    assert page.find_element("id", "provider-count").text == "1 of 2 providers shown"
    click(page, "filter-no-auth")
    page.find_element("css selector", "#filter-model option[value='qwen2.5-7b']").click()
    assert sorted(rows(page)) == [OPENAI_NAME]
    page.find_element("css selector", "#filter-model option[value='falcon-7b']").click()
    assert sorted(rows(page)) == ["H2o"]
    click(page, "filter-stream")
    click(page, "filter-working")
    assert sorted(rows(page)) == ["H2o"]
    page.find_element("css selector", "#filter-model option[value='']").click()
    assert sorted(rows(page)) == ["H2o", OPENAI_NAME]


def test_a_broken_plugin_is_listed_with_its_reason(page: WebDriver) -> None:
    item = page.find_element("css selector", "#failures li[data-failure='AcmeBroken']")
    text = item.text
    assert "acme-broken 0.3" in text
    assert f"ImportError: {BROKEN_REASON}" in text
    assert not page.find_element("id", "failures-none").is_displayed()


def test_declared_options_show_their_types_defaults_and_ranges(page: WebDriver) -> None:
    group = page.find_element("css selector", "#provider-options details[data-provider='H2o']")
    group.find_element("tag name", "summary").click()
    cells: list[list[str]] = page.execute_script(
        "return [...arguments[0].querySelectorAll('tbody tr')]"
        ".map((tr) => [...tr.cells].map((td) => td.innerText.trim()));",
        group,
    )
    by_name = {row[0]: row[1:] for row in cells}
    assert by_name["temperature"] == ["float", "0.4", "> 0", "temperature", "sampling temperature"]
    assert by_name["max_new_tokens"][:4] == [
        "int",
        "1024",
        "> 0",
        "max_tokens, max_completion_tokens",
    ]
    assert by_name["do_sample"][:3] == ["bool", "true", "any"]
    endpoint = page.find_element(
        "css selector", f"#provider-options details[data-provider='{OPENAI_NAME}']"
    )
    endpoint.find_element("tag name", "summary").click()
    assert "temperature float none ≥ 0, ≤ 2" in endpoint.text
    screenshot(page, "web-providers.png")


# -- plain and accessible ---------------------------------------------------------------


def test_every_control_has_a_label(page: WebDriver) -> None:
    unlabelled = page.execute_script(
        "return [...document.querySelectorAll('input, select, textarea, button')]"
        ".filter((c) => !(c.labels && c.labels.length) && !c.getAttribute('aria-label')"
        "  && !c.textContent.trim()).map((c) => c.outerHTML);"
    )
    assert unlabelled == []


def test_the_views_are_reached_by_keyboard(page: WebDriver) -> None:
    from selenium.webdriver.common.keys import Keys

    link = page.find_element("id", "nav-chat")
    link.send_keys(Keys.ENTER)
    wait_until("the chat view", lambda: page.find_element("id", "chat").is_displayed())
    assert page.switch_to.active_element.get_attribute("id") == "chat-title"
    assert not page.find_element("id", "providers").is_displayed()
    assert link.get_attribute("aria-current") == "page"


@pytest.mark.parametrize("view", ["providers", "chat"])
def test_a_phone_wide_window_needs_no_sideways_scrolling(
    page: WebDriver, served: Served, view: str
) -> None:
    page.set_window_size(390, 844)
    open_page(page, f"{served.url}/#{view}")
    overflow = page.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    if view == "providers":  # a card per provider: the table itself needs no scrolling either
        region = page.find_element("css selector", "#providers .scroll")
        assert (
            page.execute_script("return arguments[0].scrollWidth", region) <= region.size["width"]
        )


def test_the_dark_colour_scheme_follows_the_system(page: WebDriver, served: Served) -> None:
    light = page.execute_script("return getComputedStyle(document.body).backgroundColor")
    page.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
    )
    try:
        dark = page.execute_script("return getComputedStyle(document.body).backgroundColor")
        text = page.execute_script("return getComputedStyle(document.body).color")
    finally:
        page.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    assert light == "rgb(255, 255, 255)"
    assert dark == "rgb(13, 17, 23)"
    assert text == "rgb(230, 237, 243)"
