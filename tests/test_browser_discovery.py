"""Where the browser test (tests/test_browser.py) finds Chrome or Chromium and its
chromedriver, and when it skips; tested here on made-up machines, with no browser.

The browser comes from ``VITBOOK_CHROME``, else where Debian, Ubuntu, macOS and
Windows install it, else PATH; the driver from ``VITBOOK_CHROMEDRIVER``, else PATH,
else Debian's and Ubuntu's paths. Only files on disk count: Selenium Manager, which
downloads a driver, never runs.
"""

from __future__ import annotations

import ntpath
from collections.abc import Callable, Mapping

import pytest

from conftest import ROOT

BUILT = str(ROOT / "_build" / "html" / "index.html")
SKIP_VARIABLE = "VITBOOK_SKIP_BROWSER"
REQUIRE_VARIABLE = "VITBOOK_REQUIRE_BROWSER"
BROWSER_VARIABLE = "VITBOOK_CHROME"
DRIVER_VARIABLE = "VITBOOK_CHROMEDRIVER"
LINUX_BROWSERS = (
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
    "/snap/bin/chromium",
)
MACOS_BROWSERS = (
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
)
# Windows: Chrome under each of these folders, for all users or for one
WINDOWS_FOLDERS = ("PROGRAMFILES", "PROGRAMFILES(X86)", "LOCALAPPDATA")
BROWSER_NAMES = (
    "google-chrome",
    "google-chrome-stable",
    "chromium",
    "chromium-browser",
)
DRIVER_PATHS = ("/usr/bin/chromedriver", "/snap/bin/chromium.chromedriver")
INSTALL = (
    "install Chrome or Chromium and a chromedriver of the same version (Debian: "
    "`apt-get install chromium chromium-driver`; Ubuntu: `snap install chromium`; "
    "elsewhere: https://googlechromelabs.github.io/chrome-for-testing/), or set "
    f"{BROWSER_VARIABLE} and {DRIVER_VARIABLE} to their paths"
)


class BrowserNotFound(Exception):
    """No Chrome or Chromium, or no chromedriver, on disk; the message says where."""


def browser_places(environ: Mapping[str, str], platform: str) -> list[str]:
    """Where Chrome or Chromium usually lives on ``platform`` (a ``sys.platform``)."""
    if platform.startswith("linux"):
        return list(LINUX_BROWSERS)
    if platform == "darwin":
        return list(MACOS_BROWSERS)
    if platform == "win32":
        return [
            ntpath.join(environ[name], "Google", "Chrome", "Application", "chrome.exe")
            for name in WINDOWS_FOLDERS
            if environ.get(name)
        ]
    return []


def from_variable(
    name: str, environ: Mapping[str, str], is_file: Callable[[str], bool]
) -> str | None:
    """The file that variable ``name`` names; None where it is unset or empty."""
    path = environ.get(name, "")
    if path and not is_file(path):
        raise ValueError(
            f"{name}={path!r} is not a file; set {name} to the path of the program "
            "itself (on macOS the file inside the .app), or unset it to look in the "
            "usual places"
        )
    return path or None


def find_browser(
    environ: Mapping[str, str],
    is_file: Callable[[str], bool],
    which: Callable[[str], str | None],
    platform: str,
) -> tuple[str, str]:
    """Chrome or Chromium and a chromedriver on this machine: ``(browser, driver)``.

    Only files on disk count: the driver is never Selenium Manager's download. Raises
    BrowserNotFound, naming every place looked at, where either is missing, and
    ValueError where a variable names no file.
    """
    places = browser_places(environ, platform)
    browser = from_variable(BROWSER_VARIABLE, environ, is_file) or next(
        (path for path in places if is_file(path)), None
    )
    browser = browser or next(filter(None, map(which, BROWSER_NAMES)), None)
    if browser is None:
        usual = f"none of {', '.join(places)} exists" if places else "no usual place"
        raise BrowserNotFound(
            f"no Chrome or Chromium: ${BROWSER_VARIABLE} is unset, {usual} and none "
            f"of {', '.join(BROWSER_NAMES)} is on PATH; {INSTALL}"
        )
    driver = from_variable(DRIVER_VARIABLE, environ, is_file) or which("chromedriver")
    driver = driver or next((path for path in DRIVER_PATHS if is_file(path)), None)
    if driver is None:
        raise BrowserNotFound(
            f"{browser} but no chromedriver: ${DRIVER_VARIABLE} is unset, chromedriver "
            f"is not on PATH and none of {', '.join(DRIVER_PATHS)} exists; {INSTALL}"
        )
    return browser, driver


def skip_reason(
    environ: Mapping[str, str],
    is_file: Callable[[str], bool],
    which: Callable[[str], str | None],
    platform: str,
) -> str | None:
    """Why this machine skips the browser tests, in one line; None where they run.

    They are skipped with VITBOOK_SKIP_BROWSER=1 or without a browser and a driver, but
    run (and fail, saying what to do) where the book is not built, where a variable
    names no file, and with VITBOOK_REQUIRE_BROWSER=1 (CI sets it).
    """
    if environ.get(SKIP_VARIABLE) == "1":
        return f"{SKIP_VARIABLE}=1: the browser test of the built book is skipped"
    if environ.get(REQUIRE_VARIABLE) == "1" or not is_file(BUILT):
        return None
    try:
        find_browser(environ, is_file, which, platform)
    except BrowserNotFound as missing:
        return f"browser test skipped: {missing}"
    except ValueError:
        # a variable naming no file: not a skip, browser_or_fail fails, saying so
        return None
    return None


def browser_or_fail(
    environ: Mapping[str, str],
    is_file: Callable[[str], bool],
    which: Callable[[str], str | None],
    platform: str,
) -> tuple[str, str]:
    """``find_browser``'s answer, or a test failure with its message (where
    ``skip_reason`` did not skip: in CI, or a variable naming no file)."""
    try:
        return find_browser(environ, is_file, which, platform)
    except (BrowserNotFound, ValueError) as error:
        message = str(error)
    # outside the except clause: the report then shows the message once, not twice
    pytest.fail(message, pytrace=False)


def machine(*files: str, path: tuple[str, ...] = ("/usr/local/bin",)):
    """``is_file`` and ``which`` for a machine holding only ``files``, PATH ``path``."""

    def is_file(name: str) -> bool:
        return name in files

    def which(name: str) -> str | None:
        return next((f"{d}/{name}" for d in path if f"{d}/{name}" in files), None)

    return is_file, which


MAC_CHROME = "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"
WINDOWS_CHROME = r"C:\Users\me\AppData\Local\Google\Chrome\Application\chrome.exe"
WINDOWS_DRIVER = r"C:\tools\chromedriver.exe"


@pytest.mark.parametrize(
    "platform, environ, files, expected",
    [
        (
            "linux",
            {},
            ("/usr/bin/chromium", "/usr/bin/chromedriver"),
            ("/usr/bin/chromium", "/usr/bin/chromedriver"),
        ),
        (
            "linux",
            {},
            ("/snap/bin/chromium", "/snap/bin/chromium.chromedriver"),
            ("/snap/bin/chromium", "/snap/bin/chromium.chromedriver"),
        ),
        (
            "darwin",
            {},
            (MAC_CHROME, "/usr/local/bin/chromedriver"),
            (MAC_CHROME, "/usr/local/bin/chromedriver"),
        ),
        (
            "win32",
            {
                "PROGRAMFILES": r"C:\Program Files",
                "LOCALAPPDATA": r"C:\Users\me\AppData\Local",
                DRIVER_VARIABLE: WINDOWS_DRIVER,
            },
            (WINDOWS_CHROME, WINDOWS_DRIVER),
            (WINDOWS_CHROME, WINDOWS_DRIVER),
        ),
        (
            "freebsd14",
            {},
            ("/usr/local/bin/chromium", "/usr/local/bin/chromedriver"),
            ("/usr/local/bin/chromium", "/usr/local/bin/chromedriver"),
        ),
    ],
    ids=["debian", "ubuntu-snap", "macos", "windows", "path-only"],
)
def test_find_browser_finds_the_usual_places(platform, environ, files, expected):
    assert find_browser(environ, *machine(*files), platform) == expected


def test_find_browser_prefers_the_variables_to_the_usual_places():
    files = ("/usr/bin/chromium", "/usr/bin/chromedriver", "/opt/chrome", "/opt/driver")
    environ = {BROWSER_VARIABLE: "/opt/chrome", DRIVER_VARIABLE: "/opt/driver"}
    found = find_browser(environ, *machine(*files), "linux")
    assert found == ("/opt/chrome", "/opt/driver")
    only_browser = {BROWSER_VARIABLE: "/opt/chrome"}
    found = find_browser(only_browser, *machine(*files), "linux")
    assert found == ("/opt/chrome", "/usr/bin/chromedriver")


def failure(environ: dict, files: tuple[str, ...], platform: str) -> str:
    """The message with which ``browser_or_fail`` fails on a made-up machine."""
    with pytest.raises(pytest.fail.Exception) as failed:
        browser_or_fail(environ, *machine(*files), platform)
    return str(failed.value)


@pytest.mark.parametrize("name", [BROWSER_VARIABLE, DRIVER_VARIABLE])
def test_a_variable_naming_no_file_is_an_error_saying_so(name):
    files = (BUILT, "/usr/bin/chromium", "/usr/bin/chromedriver")
    environ = {name: "/opt/typo"}
    message = f"{name}='/opt/typo' is not a file; set {name} to the path of"
    with pytest.raises(ValueError, match=f"^{message}"):
        find_browser(environ, *machine(*files), "linux")
    # a failure, not a skip: the variable asked for that browser or driver
    assert skip_reason(environ, *machine(*files), "linux") is None
    assert failure(environ, files, "linux").startswith(message)


def test_no_browser_skips_naming_every_place_looked_at():
    reason = skip_reason({}, *machine(BUILT), "linux")
    assert reason.startswith("browser test skipped: no Chrome or Chromium: ")
    assert "\n" not in reason
    for place in (BROWSER_VARIABLE, *LINUX_BROWSERS, *BROWSER_NAMES):
        assert place in reason
    assert "`apt-get install chromium chromium-driver`" in reason
    assert MAC_CHROME not in reason


def test_a_browser_without_a_driver_skips_naming_the_drivers_places():
    reason = skip_reason({}, *machine(BUILT, MAC_CHROME), "darwin")
    assert f"{MAC_CHROME} but no chromedriver" in reason
    for place in (DRIVER_VARIABLE, *DRIVER_PATHS):
        assert place in reason


def test_no_browser_fails_where_one_is_required():
    environ = {REQUIRE_VARIABLE: "1"}
    assert skip_reason(environ, *machine(BUILT), "linux") is None
    reason = skip_reason({}, *machine(BUILT), "linux")
    assert failure(environ, (BUILT,), "linux") in reason


def test_an_unbuilt_book_is_not_skipped_and_the_skip_variable_skips():
    # not skipped: test_browser.py's require_prerequisites fails, naming the build
    for environ in ({}, {REQUIRE_VARIABLE: "1"}):
        assert skip_reason(environ, *machine(), "linux") is None
    reason = skip_reason({SKIP_VARIABLE: "1"}, *machine(BUILT), "linux")
    assert reason.startswith(f"{SKIP_VARIABLE}=1")
    paths = ("/usr/bin/chromium", "/usr/bin/chromedriver")
    assert skip_reason({}, *machine(BUILT, *paths), "linux") is None
    assert browser_or_fail({}, *machine(*paths), "linux") == paths
