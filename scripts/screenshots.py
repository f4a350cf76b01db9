"""The README's screenshots, taken from a running demo (``make demo``) in Debian's chromium through Playwright.

    .venv/bin/python scripts/screenshots.py --base http://127.0.0.1:8000 --password PASSWORD --run 1 \
        --study-link http://127.0.0.1:8000/s/PUBLIC_ID/ --out docs/img

Writes ``annotation-phone.png`` (the annotator's page on a phone, an image on screen) and ``run.png`` (a run's
dashboard page, after logging in as the demo's admin).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def state(page, name: str) -> None:
    page.wait_for_function("s => document.body.dataset.state === s", arg=name)


def annotator(browser, link: str, out: Path) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, has_touch=True)
    page = context.new_page()
    page.goto(link)
    page.check("input[name=consent]")
    page.click("button[type=submit]")
    state(page, "intro")
    page.keyboard.press("Space")
    state(page, "practice")
    for key in ("f", "j"):
        page.wait_for_function("() => !document.getElementById('answer-real').disabled")
        page.keyboard.press(key)
    state(page, "pause")
    page.keyboard.press("Space")
    for key in "fj":
        state(page, "ready")
        page.keyboard.press(key)
    state(page, "ready")
    page.screenshot(path=out / "annotation-phone.png")
    context.close()


def dashboard(browser, base: str, password: str, run: int, out: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/admin/login/?next=/runs/{run}/")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/runs/{run}/")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=out / "run.png", full_page=True)
    context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--password", required=True, help="the demo admin's password, as make demo printed it")
    parser.add_argument("--run", type=int, default=1)
    parser.add_argument("--study-link", required=True, help="the annotator link make demo printed")
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        annotator(browser, args.study_link, args.out)
        dashboard(browser, args.base.rstrip("/"), args.password, args.run, args.out)
        browser.close()
    print(f"wrote {args.out / 'annotation-phone.png'} and {args.out / 'run.png'}")


if __name__ == "__main__":
    main()
