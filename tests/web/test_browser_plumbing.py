"""Without Chromium the browser tests skip saying why, except under CI, where they fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.web import browser


def test_a_missing_chromium_skips_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setattr(browser, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match=r"Chromium is not installed at .*no-chromium"):
        browser.require_browser()


def test_a_missing_chromium_fails_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setattr(browser, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="CI=true but the browser tests cannot run"):
        browser.require_browser()


def test_screenshots_go_to_the_test_output_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ALLOTMENT_TEST_OUTPUT", str(tmp_path))
    folder = browser.output_dir("test_x[sqlite]")
    assert folder == tmp_path / "browser" / "test_x_sqlite_"
    assert folder.is_dir()
