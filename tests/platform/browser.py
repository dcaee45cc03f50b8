"""Jupyter in a real browser: Debian's Chromium driven by Playwright, as a person uses it.

Playwright comes from PyPI; its own browser download is not reachable here, so it launches
the machine's Chromium (`/usr/bin/chromium`, Debian's package `chromium`). Without one the
tests skip, saying how to install it, unless HYDROGEN_REQUIRE_BROWSER=1 (as `.ci/run` sets),
which makes it a failure. Every response of 400 or more that a page triggers is recorded,
and `JupyterPage.assert_no_failed_requests` fails the test on any. Screenshots go to
HYDROGEN_ARTIFACTS_DIR (`dist/browser-test/` of the checkout, see pants.toml).
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Response, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
# As root Chromium needs --no-sandbox; the rest keep it from calling Google's services, which
# this machine's closed network refuses (and which a test has no business calling).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN_IN_LOG = re.compile(r"http://127\.0\.0\.1:8888/tree\?token=([0-9a-f]{16,})")
# Jupyter's log line for a refused or failed request, e.g. "404 GET /lab/api/settings/...".
ERROR_IN_LOG = re.compile(r"\] ([45]\d\d) (GET|POST|PUT|PATCH|DELETE) ")
PROMPT = re.compile(r"^\[(\d+|\*| )\]:$")


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, under Playwright; skips (or fails) without it."""
    if not os.access(CHROMIUM, os.X_OK):
        message = (
            f"no Chromium at {CHROMIUM}: install Debian's (apt-get install chromium) for the "
            "browser tests"
        )
        if os.environ.get("HYDROGEN_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def token_from_log(log: str) -> str:
    """The token of the last URL Jupyter printed (a restart prints a new one)."""
    tokens = TOKEN_IN_LOG.findall(log)
    assert tokens, f"Jupyter printed no tokened URL:\n{log[-3000:]}"
    return tokens[-1]


def errors_in_log(log: str) -> list[str]:
    """The lines of Jupyter's log that answered a request with 4xx or 5xx."""
    return [line for line in log.splitlines() if ERROR_IN_LOG.search(line)]


def artifact(name: str) -> Path:
    """Where a screenshot is kept: HYDROGEN_ARTIFACTS_DIR, else the test's directory."""
    directory = Path(os.environ.get("HYDROGEN_ARTIFACTS_DIR", "."))
    directory.mkdir(parents=True, exist_ok=True)
    return directory / name


@dataclass
class JupyterPage:
    """One browser tab on one Jupyter server, with the token a person copies from its log."""

    page: Page
    base_url: str
    token: str
    failed: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.set_default_timeout(60_000)
        self.page.on("response", self._record)

    def _record(self, response: Response) -> None:
        if response.status >= 400:
            self.failed.append(f"{response.status} {response.request.method} {response.url}")

    def assert_no_failed_requests(self) -> None:
        assert not self.failed, "the page's requests failed:\n" + "\n".join(self.failed)

    # --- the pages -------------------------------------------------------------------------

    def open_tree(self) -> list[str]:
        """Opens the file browser (the URL Jupyter prints); returns the names it lists."""
        self.page.goto(f"{self.base_url}/tree?token={self.token}")
        self.page.locator(".jp-DirListing-item", has_text="hydrogen.ipynb").wait_for()
        return self.page.locator(".jp-DirListing-itemText").all_inner_texts()

    def open_lab(self) -> list[str]:
        """Opens JupyterLab; returns the kernels its launcher offers."""
        self.page.goto(f"{self.base_url}/lab?token={self.token}")
        self.page.locator(".jp-DirListing-item", has_text="hydrogen.ipynb").wait_for()
        cards = self.page.locator(".jp-LauncherCard-label")
        cards.first.wait_for()
        return cards.all_inner_texts()

    def open_notebook(self, name: str, *, kernel_timeout: float = 180) -> int:
        """Opens a notebook and waits for every cell the server holds to be on the page and
        for its kernel to be connected and idle; returns the number of cells."""
        cells = len(self.contents(name)["content"]["cells"])
        self.page.goto(f"{self.base_url}/notebooks/{name}?token={self.token}")
        expect(self.page.locator(".jp-Notebook .jp-Cell")).to_have_count(cells, timeout=60_000)
        self.wait_for_kernel(name, timeout=kernel_timeout)
        return cells

    def leave(self) -> None:
        """Closes the notebook's page, as a person closes the tab before a restart."""
        self.page.goto("about:blank")

    # --- working in a notebook ----------------------------------------------------------------

    def wait_for_kernel(self, name: str, *, timeout: float) -> None:
        """Waits until the notebook's kernel has started, the page is connected to it, and
        the server says it is idle. The page's own indicator is no guide: it says "idle"
        before the kernel has even started on a slow machine (Run All then asks which
        kernel to start), and under load it can stay unset long after the kernel answers."""
        deadline = time.monotonic() + timeout
        while True:
            sessions = [s for s in self._get("/api/sessions") if s["path"] == name]
            kernel = sessions[0]["kernel"] if sessions else {}
            if kernel.get("connections", 0) >= 1 and kernel.get("execution_state") == "idle":
                return
            assert time.monotonic() < deadline, f"no kernel connected to {name}: {sessions}"
            time.sleep(0.25)

    def append_cell_and_run(self, source: str, expected_output: str) -> None:
        """Adds a code cell below the last one, types `source`, runs it (Shift+Enter) and
        waits for `expected_output` on the page."""
        self.page.locator(".jp-Notebook .jp-Cell").last.click()
        self.page.keyboard.press("Escape")  # command mode
        self.page.keyboard.press("b")  # a new cell below
        self.page.keyboard.press("Enter")  # edit it
        self.page.keyboard.type(source)
        self.page.keyboard.press("Shift+Enter")
        self.page.get_by_text(expected_output).first.wait_for()

    def save(self, name: str) -> dict:
        """Saves with Ctrl+S; returns the notebook as the server holds it once the save's
        PUT has been answered (Jupyter writes a notebook in place, so a read while it
        writes can fail: only a finished save is read)."""
        with self.page.expect_response(
            lambda response: response.request.method == "PUT"
            and response.url.split("?")[0].endswith(f"/api/contents/{name}"),
            timeout=60_000,
        ) as answer:
            self.page.keyboard.press("Control+s")
        assert answer.value.status == 200, f"saving {name}: {answer.value.status}"
        return self.contents(name)["content"]

    def run_all(self) -> None:
        """Run > Run All Cells, from the menu bar; returns once the cells are queued (or
        already run: a kernel numbers every run anew), and `running` then says when they
        are done."""
        before = self._execution_counts()
        self.page.get_by_role("menuitem", name="Run", exact=True).click()
        self.page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        deadline = time.monotonic() + 60
        while self._execution_counts() == before:
            if time.monotonic() > deadline:
                dialogs = self.page.locator(".jp-Dialog").all_inner_texts()
                status = self.page.locator(".jp-Notebook-ExecutionIndicator").get_attribute(
                    "data-status"
                )
                shot = self.screenshot("run-all-did-not-start.png")
                raise AssertionError(
                    f"Run All Cells ran nothing (kernel indicator {status!r}, dialogs "
                    f"{dialogs}, screenshot {shot})"
                )
            time.sleep(0.25)

    def running(self) -> bool:
        """Whether a cell is queued or running ([*])."""
        return "*" in self._execution_counts()

    def unexecuted_code_cells(self) -> int:
        """Code cells without an execution count (never run, or cut short by an error)."""
        return sum(1 for count in self._execution_counts() if not count.isdigit())

    def _execution_counts(self) -> list[str]:
        # textContent, not innerText: the notebook hides the cells scrolled out of view.
        prompts = self.page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt")
        counts = [PROMPT.match(text.strip()) for text in prompts.all_text_contents()]
        return [match.group(1) if match else "" for match in counts]

    def screenshot(self, name: str, *, showing: str | None = None) -> Path:
        """A screenshot of the page, the first element matching `showing` in its middle."""
        if showing is not None:
            self.page.locator(showing).first.evaluate("e => e.scrollIntoView({block: 'center'})")
        path = artifact(name)
        self.page.screenshot(path=str(path))
        return path

    # --- the server, as the front end sees it ---------------------------------------------

    def contents(self, name: str, *, tries: int = 5) -> dict:
        """GET /api/contents/<name> with the token: the file as the server holds it.

        Jupyter saves a notebook by writing it in place (after a backup copy), so a read
        that meets an autosave answers 500: such a read is tried again, `tries` times at
        most, a second apart. Any other error is raised at once.
        """
        path = f"/api/contents/{name}?content=1"
        for _ in range(tries - 1):
            try:
                return self._get(path)
            except urllib.error.HTTPError as error:
                if error.code != 500:
                    raise
            time.sleep(1)
        return self._get(path)

    def setting_defaults(self, plugin: str) -> dict:
        """The defaults the front end gets for `plugin`'s settings, overrides applied."""
        schema = self._get(f"/lab/api/settings/{plugin}")["schema"]
        return {name: value.get("default") for name, value in schema["properties"].items()}

    def _get(self, path: str) -> Any:
        request = urllib.request.Request(
            self.base_url + path, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)


def cell_sources(notebook: dict) -> list[str]:
    return ["".join(cell["source"]) for cell in notebook["cells"]]
