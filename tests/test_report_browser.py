"""The report opens in a real browser, offline, with every figure decoded.

Needs headless Chromium, chromedriver and selenium; skipped with the reason when
any is missing (``.ci/run`` installs them).
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from crossemo.report import write_report

pytestmark = pytest.mark.browser


def _make_fake_run():
    # The fake run directory builder lives in test_report.py; load it by path so this works
    # whether or not tests/ is a package.
    spec = importlib.util.spec_from_file_location("_report_fixtures", Path(__file__).with_name("test_report.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_fake_run


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


def test_every_figure_of_the_report_loads_in_chromium(tmp_path, browser):
    run_dir = _make_fake_run()(tmp_path, methods=("dae", "vae_ss", "pca", "svc_features"),
                               transfers=(("emodb", ("neutral", "sad", "happy", "angry")),))
    report = write_report(run_dir)
    expected = len(list((run_dir / "figures").glob("*.png")))
    assert expected == 6  # scatter, accuracy, distance, overlap, confusion, training curves

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
