"""The report opens in a real browser, offline, with every figure decoded.

The report is written for a copy of the session's real study run (``finished_run``
in tests/conftest.py).  Needs headless Chromium, chromedriver and selenium; skipped
with the reason when any is missing (``.ci/run`` installs them).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from crossemo.report import FIGURES_DIR, write_report

pytestmark = pytest.mark.browser


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@pytest.fixture
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install .[test])")
    from selenium.webdriver.chrome.service import Service

    chromium = _chromium()
    if chromium is None:
        pytest.skip("Chromium is not installed")
    chromedriver = shutil.which("chromedriver")
    if chromedriver is None:
        pytest.skip("chromedriver is not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", f"--user-data-dir={tmp_path / 'chromium-profile'}",
                     "--window-size=1400,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def test_every_figure_of_the_report_loads_in_chromium(finished_run, tmp_path, browser):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run.out, run_dir)
    report = write_report(run_dir)
    expected = len(list((run_dir / FIGURES_DIR).glob("*.png")))
    assert expected == 7  # scatter, circumplex, accuracy, distance, overlap, confusion, training curves

    browser.get(report.resolve().as_uri())
    images = browser.execute_script(
        "return Array.from(document.images).map(img => ({id: img.id, alt: img.alt,"
        " loaded: img.complete && img.naturalWidth > 0, width: img.naturalWidth}));"
    )
    assert len(images) == expected
    for image in images:
        assert image["loaded"], f"figure {image['id']} did not load"
        assert image["alt"] and image["id"].startswith("img-")
        assert image["width"] > 300
    assert "crossemo report" in browser.title
    # Nothing on the page asks for the network: every resource is the page itself or a data: URI.
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(entry => entry.name);"
    )
    assert all(name.startswith(("data:", "file:")) for name in resources), resources
