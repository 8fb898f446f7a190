"""The web page and the Space's app in a real browser: Debian's chromium, driven by Playwright's Python package.

A learner types a pair and presses 판단하기: the page must show the label in
Korean and English and three percentages that add up to 100; an empty box
must show the package's Korean message. Playwright's own browser download
cannot run here, so it drives /usr/bin/chromium (`apt-get install chromium
fonts-noto-cjk`, done by scripts/test.sh). In CI a missing browser fails;
elsewhere it is a skip that says what to install.
"""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from nlpbook_helpers.sharing.serve import start, stop

pytestmark = pytest.mark.browser  # scripts/test.sh runs these in the default profile only

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT = os.environ.get("NLPBOOK_SCREENSHOT")  # set to refresh docs/serve-page.png


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    missing = [what for what, ok in (("chromium (apt-get install chromium fonts-noto-cjk)", Path(CHROMIUM).exists()),
                                     ("playwright (pip install playwright)", _importable("playwright")))
               if not ok]
    if missing:
        message = "the browser test needs " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, args=ARGS,
            headless=True, viewport={"width": 760, "height": 620})
        yield context
        context.close()


def _importable(name) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


@pytest.fixture(scope="module")
def page_url(tiny_bert):
    server = start(tiny_bert, port=0)
    yield server.url
    stop(server.port)


def percentages(text: str) -> list[float]:
    return [float(p) for p in re.findall(r"(\d+(?:\.\d+)?)%", text)]


def test_a_pair_gets_a_label_and_three_percentages(browser, page_url):
    page = browser.new_page()
    page.goto(page_url, timeout=30_000)
    page.fill("#premise", "지난 주말 가족과 함께 제주도에 가서 한라산에 올랐다.")
    page.fill("#hypothesis", "가족과 함께 산에 올랐다.")
    page.click("text=판단하기")
    page.wait_for_selector("#bars .row", timeout=30_000)
    label = page.inner_text("#label")
    assert re.fullmatch(r"(참|거짓|중립) \((entailment|contradiction|neutral)\)", label), label
    shown = percentages(page.inner_text("#bars"))
    assert len(shown) == 3 and abs(sum(shown) - 100) <= 0.2, shown
    assert page.inner_text("#error") == ""
    if SCREENSHOT:
        page.screenshot(path=SCREENSHOT, full_page=True)
    page.close()


def test_an_empty_box_shows_the_korean_message(browser, page_url):
    page = browser.new_page()
    page.goto(page_url, timeout=30_000)
    page.fill("#premise", "오늘은 날씨가 맑다.")
    page.click("text=판단하기")
    page.wait_for_function("document.getElementById('error').textContent.length > 0", timeout=30_000)
    assert page.inner_text("#error") == "1번째 쌍의 가설: 비어 있습니다. 문장을 입력하세요."
    assert page.inner_text("#label") == "" and "Traceback" not in page.content()
    page.close()


def test_ten_thousand_characters_show_the_korean_message(browser, page_url):
    page = browser.new_page()
    page.goto(page_url, timeout=30_000)
    page.fill("#premise", "가" * 10_000)
    page.fill("#hypothesis", "비가 온다.")
    page.click("text=판단하기")
    page.wait_for_function("document.getElementById('error').textContent.length > 0", timeout=30_000)
    assert "너무 깁니다(10,000자)" in page.inner_text("#error")
    page.close()


@pytest.fixture(scope="module")
def space_url(trained_sample, tmp_path_factory):
    """The Space that `push --space` writes, started here as Spaces start it (`python app.py`), on a local model."""
    if not _importable("gradio"):
        message = "the Space test needs gradio (pip install gradio)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from nlpbook_helpers.sharing.share import space_files

    folder = tmp_path_factory.mktemp("space")
    for name, text in space_files(str(trained_sample)).items():
        (folder / name).write_text(text, encoding="utf-8")
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "app.py"], cwd=folder, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(1200):
            assert process.poll() is None, process.communicate()[0][-3000:]
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_space_app_labels_a_pair_with_three_percentages(browser, space_url):
    page = browser.new_page()
    page.goto(space_url, timeout=60_000)
    page.get_by_label("전제 (premise)").fill("지난 주말 가족과 함께 제주도에 가서 한라산에 올랐다.")
    page.get_by_label("가설 (hypothesis)").fill("가족과 함께 산에 올랐다.")
    page.get_by_role("button", name="판단하기").click()
    page.wait_for_function("document.body.innerText.match(/\\d+%/g)?.length >= 3", timeout=60_000)
    text = page.inner_text("body")
    assert re.search(r"(참|거짓|중립) \((entailment|contradiction|neutral)\)", text), text
    shown = percentages(text)
    assert len(shown) == 3 and abs(sum(shown) - 100) <= 1.5, shown  # Gradio rounds each to a whole percent
    page.close()


def test_the_space_app_says_what_is_missing(browser, space_url):
    page = browser.new_page()
    page.goto(space_url, timeout=60_000)
    page.get_by_label("전제 (premise)").fill("오늘은 날씨가 맑다.")
    page.get_by_role("button", name="판단하기").click()
    page.get_by_text("전제와 가설을 모두 입력하세요.", exact=False).first.wait_for(timeout=60_000)
    assert "Traceback" not in page.content()
    page.close()
