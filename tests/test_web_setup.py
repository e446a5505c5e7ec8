"""How the browser tests behave without a browser: skip with the fix, but fail under CI."""

from __future__ import annotations

from pathlib import Path

import pytest
import web_browser


@pytest.fixture
def no_browser(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(web_browser, "CHROMIUM", str(tmp_path / "chromium"))
    monkeypatch.setattr(web_browser, "CHROMEDRIVER", str(tmp_path / "chromedriver"))


@pytest.mark.usefixtures("no_browser")
def test_a_missing_browser_skips_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        web_browser.require_browser()
    message = str(skipped.value)
    assert "chromium, chromedriver" in message
    assert "sudo apt-get install chromium chromium-driver" in message


@pytest.mark.usefixtures("no_browser")
def test_a_missing_browser_fails_the_run_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception) as failed:
        web_browser.require_browser()
    assert str(failed.value).startswith("CI=true and browser tests need chromium, chromedriver")


def test_the_system_browser_is_found_where_debian_installs_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    chromium, driver = web_browser.require_browser()  # skips on a machine without them
    assert (chromium, driver) == ("/usr/bin/chromium", "/usr/bin/chromedriver")
