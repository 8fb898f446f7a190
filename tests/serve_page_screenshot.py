"""Make docs/serve-page.png: the served page answering a pair, from a model that has learned something.

    python tests/serve_page_screenshot.py [--model-dir DIR] [--out docs/serve-page.png]

Without --model-dir it first runs `python -m nlpbook_helpers train --sample` (the bundled sample, the tiny
model, its 30 epochs: about a minute on a CPU; best val_acc 0.935 on the sample's dev set) in a temporary
work dir. The pair is written in the sample's style, not taken from it. The page is driven in Debian's
chromium through Playwright, as tests/test_browser.py drives it, and the script fails unless the page
shows the expected label at PASS_AT or more: the README's caption says what the picture shows.
"""

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREMISE = "바닷가 바로 앞이라 창문을 열면 파도 소리가 들렸어요"
HYPOTHESIS = "창문을 열면 파도 소리가 들렸다."
EXPECTED = "참 (entailment)"
PASS_AT = 90.0  # percent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir")
    parser.add_argument("--out", default=str(ROOT / "docs" / "serve-page.png"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        model_dir = args.model_dir
        if not model_dir:
            subprocess.run([sys.executable, "-m", "nlpbook_helpers", "train", "--sample", "--work-dir", work],
                           check=True, cwd=ROOT)
            model_dir = str(Path(work) / "runs" / "sample" / "best")
        return screenshot(model_dir, args.out)


def screenshot(model_dir: str, out: str) -> int:
    from playwright.sync_api import sync_playwright

    from nlpbook_helpers.sharing.serve import start, stop

    server = start(model_dir, port=0)
    try:
        with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
            browser = playwright.chromium.launch_persistent_context(
                profile, executable_path="/usr/bin/chromium", headless=True, viewport={"width": 760, "height": 620},
                args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
            page = browser.new_page()
            page.goto(server.url, timeout=30_000)
            page.fill("#premise", PREMISE)
            page.fill("#hypothesis", HYPOTHESIS)
            page.click("text=판단하기")
            page.wait_for_selector("#bars .row", timeout=30_000)
            label = page.inner_text("#label")
            shown = page.inner_text(f"#bars .row[data-label='{EXPECTED.split('(')[1][:-1]}'] .pct")
            percent = float(re.match(r"([\d.]+)%", shown).group(1))
            if label != EXPECTED or percent < PASS_AT:
                print(f"the page shows {label!r} at {percent}%; expected {EXPECTED!r} at {PASS_AT}% or more",
                      file=sys.stderr)
                return 1
            page.screenshot(path=out, full_page=True)
            browser.close()
    finally:
        stop(server.port)
    print(f"{out}: {label}, {percent}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
