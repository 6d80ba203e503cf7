"""The built book in a real browser: every page loads cleanly and its explorers respond.

Serves ``_build/html`` from 127.0.0.1 and opens every page of _toc.yml in headless
Chrome or Chromium, driven by a chromedriver found on disk (nothing is ever downloaded).
On each page: no console errors, every image decoded, the Colab link opens the page's
own notebook, and every no-kernel explorer shows another frame when another button is
clicked. A screenshot of each page goes to ``_build/screenshots/<page>.png``.

Run the README's build command first. tests/test_browser_discovery.py finds the browser
and its driver (``VITBOOK_CHROME`` and ``VITBOOK_CHROMEDRIVER``, else the usual places).
Without them this module is skipped, in one line, or fails where
``VITBOOK_REQUIRE_BROWSER=1`` (CI sets it); ``VITBOOK_SKIP_BROWSER=1`` always skips it.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from test_browser_discovery import BUILT, SKIP_VARIABLE, browser_or_fail, skip_reason

from conftest import ROOT, colab_link, config, toc_entries, toc_notebooks

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
except ImportError:  # require_prerequisites() says what to install
    webdriver = None

HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
BUILD_COMMAND = "jupyter-book build . --warningiserror --nitpick --keep-going"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # a container's small /dev/shm crashes long pages
)
WINDOW = (1280, 2400)  # the screenshots: the top 2400 pixels of each page
TIMEOUT = 20  # seconds for a page, its images and its formulas

ENTRIES = toc_entries()  # e.g. "book/02_patches", the root first
PAGE_IDS = [Path(entry).name for entry in ENTRIES]
NOTEBOOK_ENTRIES = {str(p.relative_to(ROOT).with_suffix("")) for p in toc_notebooks()}


# Skipped as a whole, one line in `pytest -rs`, where asked to or without a browser;
# see skip_reason for what fails instead.
SKIP_REASON = skip_reason(os.environ, os.path.isfile, shutil.which, sys.platform)
if SKIP_REASON:
    pytest.skip(SKIP_REASON, allow_module_level=True)


def require_prerequisites() -> tuple[str, str]:
    """The browser and its driver; fails, saying what is missing and how to add it."""
    skip_hint = f"(or set {SKIP_VARIABLE}=1 to skip the browser test on this machine)"
    if not os.path.isfile(BUILT):
        pytest.fail(
            f"the book is not built: {BUILT} is missing; run "
            f"`{BUILD_COMMAND}` from the repository root first {skip_hint}",
            pytrace=False,
        )
    paths = browser_or_fail(os.environ, os.path.isfile, shutil.which, sys.platform)
    if webdriver is None:
        pytest.fail(
            "selenium is not installed; run `pip install -r requirements.txt` "
            f"{skip_hint}",
            pytrace=False,
        )
    return paths


class QuietHandler(SimpleHTTPRequestHandler):
    """Serves files without printing a line per request into the test output."""

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def browser_paths() -> tuple[str, str]:
    """The browser and the driver that this module uses (``find_browser``)."""
    return require_prerequisites()


@pytest.fixture(scope="module")
def book_url(browser_paths):
    """The built book, served from 127.0.0.1 on a free port while this module runs."""
    handler = functools.partial(QuietHandler, directory=str(HTML))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="module")
def browser(browser_paths, book_url, request):
    """One headless browser session for every page; Selenium Manager never runs."""
    binary, driver_path = browser_paths
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    start = time.monotonic()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")  # belt and braces: the driver path is given
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
    # The page area itself WINDOW big (the window size includes the browser's frame).
    width, height = WINDOW
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    driver.set_page_load_timeout(TIMEOUT)
    driver.set_script_timeout(TIMEOUT)
    driver.screenshots = []
    yield driver
    driver.quit()
    report(
        request,
        f"browser test: {len(driver.screenshots)} pages in "
        f"{time.monotonic() - start:.1f} s; screenshots written:",
        *(f"  {path.relative_to(ROOT)}" for path in driver.screenshots),
    )


def report(request, *lines: str) -> None:
    """Print ``lines`` to the terminal even though pytest captures the tests' output."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    uncaptured = capture.global_and_fixture_disabled() if capture else nullcontext()
    with uncaptured:
        print("\n" + "\n".join(lines))


def wait_until(condition: Callable[[], object], what: str) -> None:
    """Poll ``condition`` until it is true; fail with ``what`` after TIMEOUT seconds."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {TIMEOUT} s waiting for {what}")
        time.sleep(0.05)


SCROLL_TO_PENDING_IMAGES = """
const done = arguments[arguments.length - 1];
const frame = () => new Promise(resolve => requestAnimationFrame(resolve));
(async () => {
  for (const img of document.images) {
    if (img.complete && img.loading !== "lazy") continue;
    img.scrollIntoView({block: "center"});
    await frame(); await frame();  // let the lazy-loading observer see it
  }
  window.scrollTo(0, 0);
  done(null);
})();
"""
ALL_IMAGES_COMPLETE = "return Array.from(document.images).every(img => img.complete);"
MATHJAX_DONE = """
const done = arguments[arguments.length - 1];
const promise = window.MathJax && MathJax.startup && MathJax.startup.promise;
if (!promise) {
  done(null);
} else {
  promise.then(() => done(null), e => done(String(e)));
}
"""


@dataclass
class Page:
    """A page of the book as the browser loaded it."""

    entry: str  # as in _toc.yml, e.g. "book/02_patches"
    url: str
    console: list[dict] = field(repr=False)  # the browser log while it loaded


def open_page(browser, url: str) -> list[dict]:
    """Load ``url`` as a reader would: wait for it, its formulas and (scrolled to)
    its images.

    Returns the browser log entries written meanwhile.
    """
    browser.get_log("browser")  # drop what the previous page left
    browser.get(url)
    wait_until(
        lambda: browser.execute_script("return document.readyState") == "complete",
        f"{url} to load",
    )
    mathjax_error = browser.execute_async_script(MATHJAX_DONE)
    assert mathjax_error is None, f"{url}: MathJax failed: {mathjax_error}"
    # Scroll to each image not yet loaded, so that a lazily loaded one is requested,
    # then give them time; the image test names any that still did not load.
    browser.execute_async_script(SCROLL_TO_PENDING_IMAGES)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if browser.execute_script(ALL_IMAGES_COMPLETE):
            break
        time.sleep(0.05)
    return browser.get_log("browser")


@pytest.fixture(scope="module", params=ENTRIES, ids=PAGE_IDS)
def page(request, browser, book_url) -> Page:
    """Each page of _toc.yml, loaded once for all its tests, with a screenshot saved."""
    entry = request.param
    assert (HTML / f"{entry}.html").is_file(), (
        f"{entry}.html is not in {HTML}; the build is stale: run `{BUILD_COMMAND}`"
    )
    url = f"{book_url}/{entry}.html"
    console = open_page(browser, url)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    screenshot = SCREENSHOTS / f"{Path(entry).name}.png"
    assert browser.save_screenshot(str(screenshot)), f"no screenshot of {entry}"
    browser.screenshots.append(screenshot)
    return Page(entry, url, console)


def on_page(browser, page: Page) -> None:
    """Make sure the browser shows ``page`` (another test may have navigated away)."""
    if browser.current_url != page.url:
        open_page(browser, page.url)


def severe(entries: list[dict]) -> list[str]:
    """The SEVERE browser log entries, one readable line each."""
    return [
        f"[{e.get('source', '?')}] {e['message']}"
        for e in entries
        if e["level"] == "SEVERE"
    ]


def short(src: str) -> str:
    """An image source short enough for an error message (data URIs are long)."""
    return src if len(src) <= 90 else f"{src[:60]}...({len(src)} characters)"


def test_every_built_page_is_in_the_toc():
    require_prerequisites()
    assert len(set(PAGE_IDS)) == len(PAGE_IDS), f"two pages share a name: {PAGE_IDS}"
    folders = {Path(entry).parts[0] for entry in ENTRIES if "/" in entry}
    built = {
        str(path.relative_to(HTML).with_suffix(""))
        for folder in folders
        for path in (HTML / folder).rglob("*.html")
    }
    assert built - set(ENTRIES) == set(), (
        f"built pages that _toc.yml does not list (so this test would not open them): "
        f"{sorted(built - set(ENTRIES))}; if they are left over from an old build, "
        f"delete _build/html and run `{BUILD_COMMAND}`"
    )
    assert set(ENTRIES) - built == set(), (
        f"_toc.yml pages missing from the build: {sorted(set(ENTRIES) - built)}; "
        f"run `{BUILD_COMMAND}`"
    )


def test_index_redirects_to_the_first_page(browser, book_url):
    browser.get(f"{book_url}/index.html")
    target = f"{book_url}/{ENTRIES[0]}.html"
    wait_until(
        lambda: browser.current_url == target, f"index.html to redirect to {target}"
    )


def test_page_logs_no_console_errors(page):
    errors = severe(page.console)
    assert not errors, f"{page.entry}.html logged console errors:\n" + "\n".join(errors)


IMAGE_STATUS = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images);
const late = new Promise(resolve => setTimeout(resolve, 5000, "not loaded in 5 s"));
Promise.all(images.map(img => Promise.race([
    img.decode().then(() => null, e => String(e)), late])))
  .then(errors => done(images.map((img, i) => ({
    src: img.currentSrc || img.src,
    complete: img.complete,
    width: img.naturalWidth,
    decodeError: errors[i],
  }))));
"""


def test_every_image_is_loaded_and_decodes(page, browser):
    """Hidden explorer frames included: they are data URIs and must decode too."""
    on_page(browser, page)
    images = browser.execute_async_script(IMAGE_STATUS)
    assert images, f"{page.entry}.html has no images at all (not even the logos)"
    broken = [
        f"{short(img['src'])}: complete={img['complete']}, "
        f"naturalWidth={img['width']}, decode: {img['decodeError'] or 'ok'}"
        for img in images
        if not (img["complete"] and img["width"] > 0 and img["decodeError"] is None)
    ]
    assert not broken, (
        f"{page.entry}.html: {len(broken)} of {len(images)} images did not load:\n"
        + "\n".join(broken)
    )


COLAB_LINKS = """
return Array.from(document.querySelectorAll("a[href]"), a => a.href)
  .filter(href => href.startsWith(arguments[0]));
"""


def test_colab_link_opens_this_pages_own_notebook(page, browser):
    on_page(browser, page)
    colab = config()["launch_buttons"]["colab_url"].rstrip("/")
    links = sorted(set(browser.execute_script(COLAB_LINKS, f"{colab}/")))
    if page.entry not in NOTEBOOK_ENTRIES:
        assert links == [], f"{page.entry} is not a notebook but links Colab: {links}"
        return
    expected = colab_link(page.entry)  # repository, branch and path from _config.yml
    assert links == [expected], (
        f"{page.entry}.html links Colab to {links}; its notebook's link is {expected}"
    )
    assert (ROOT / f"{page.entry}.ipynb").is_file()


VISIBLE_FRAMES = """
return Array.from(arguments[0].querySelectorAll("img.vb-frame"))
  .filter(img => getComputedStyle(img).display !== "none")
  .map(img => ({src: img.src, index: img.className.match(/vb-frame-(\\d+)/)[1],
                width: img.getBoundingClientRect().width, loaded: img.naturalWidth}));
"""
CHECKED_RADIO = "return document.getElementById(arguments[0]).checked;"


def visible_frame(browser, gallery, where: str) -> dict:
    """The one frame of ``gallery`` that CSS shows; fails unless exactly one is."""
    frames = browser.execute_script(VISIBLE_FRAMES, gallery)
    assert len(frames) == 1, f"{where}: {len(frames)} frames visible, expected one"
    frame = frames[0]
    assert frame["width"] > 0 and frame["loaded"] > 0, f"{where}: frame is blank"
    return frame


def test_every_explorer_shows_another_frame_when_clicked(page, browser):
    """Click each button of each no-kernel explorer:
    its own frame, and only it, shows."""
    on_page(browser, page)
    browser.get_log("browser")
    for gallery in browser.find_elements("css selector", "div.vb-gallery"):
        name = gallery.get_attribute("id")
        labels = gallery.find_elements("css selector", "label.vb-button")
        assert len(labels) >= 2, f"{page.entry}#{name} has {len(labels)} buttons"
        shown = visible_frame(browser, gallery, f"{page.entry}#{name} as loaded")
        for label in labels:
            radio = label.get_attribute("for")
            if browser.execute_script(CHECKED_RADIO, radio):
                continue
            where = f"{page.entry}#{name} after clicking {label.text!r}"
            browser.execute_script(
                "arguments[0].scrollIntoView({block: 'center'});", label
            )
            label.click()
            assert browser.execute_script(CHECKED_RADIO, radio), f"{where}: unchecked"
            now = visible_frame(browser, gallery, where)
            assert now["src"] != shown["src"], f"{where}: the picture did not change"
            assert radio == f"{name.removesuffix('-gallery')}-{now['index']}", (
                f"{where}: shows frame {now['index']}, not the one for {radio}"
            )
            shown = now
    errors = severe(browser.get_log("browser"))
    assert not errors, f"{page.entry}.html: console errors on clicks:\n" + "\n".join(
        errors
    )
