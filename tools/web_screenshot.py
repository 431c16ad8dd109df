"""The README's screenshot of ``semdenoise serve``, and the helpers the browser test shares with it.

    python -m tools.web_screenshot [--out docs/web/screenshot.png]

Starts ``semdenoise serve`` on a free loopback port, opens the page in headless chromium (Selenium with
Debian's ``chromium`` and ``chromium-driver``: ``tools/ensure_chromium.sh`` installs them), uploads
scikit-image's astronaut with the page's "add noise of sigma 25 first" ticked, zooms in on the face and
saves the window as a PNG.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

from absl import app, flags

from keras_semdenoise import noise

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_URL_LINE = re.compile(r"serving the denoiser page at (http://\S+)")


@contextlib.contextmanager
def running_server(*options: str, timeout_seconds: float = 120.0, env: dict | None = None):
    """Runs ``python -m keras_semdenoise serve --port 0 OPTIONS`` and yields ``(url, log)``.

    ``log`` is the list of the server's stderr lines so far (read on a thread, so the pipe never fills).
    The server is stopped with Ctrl+C (SIGINT) on exit.

    Raises:
        RuntimeError: the server did not say its address within ``timeout_seconds`` (its output attached).
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "keras_semdenoise", "serve", "--port", "0", *options],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    log, lines = [], queue.Queue()

    def read():
        for line in process.stderr:
            log.append(line.rstrip("\n"))
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    try:
        deadline, url = time.monotonic() + timeout_seconds, None
        while url is None:
            try:
                line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                line = None
            if line is None:
                raise RuntimeError("semdenoise serve did not start:\n" + "\n".join(log))
            match = _URL_LINE.search(line)
            url = match.group(1) if match else None
        yield url, log
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def headless_chromium(width: int = 1280, height: int = 800):
    """A Selenium driver for headless Debian chromium showing pages at ``width`` x ``height`` CSS px.

    Raises:
        RuntimeError: chromium or chromedriver is not installed (says how to install them).
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver):
        raise RuntimeError(
            "chromium and chromedriver are needed: run tools/ensure_chromium.sh "
            "(apt-get install chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(argument)
    chrome = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    # --window-size includes the (invisible) browser frame: grow the window until the page gets the size.
    inner = chrome.execute_script("return [window.innerWidth, window.innerHeight]")
    chrome.set_window_size(2 * width - inner[0], 2 * height - inner[1])
    return chrome


def upload(driver, path: str, timeout_seconds: float = 60.0) -> str:
    """Gives ``path`` to the page's file input and waits for the answer; returns the page's state,
    ``"done"`` or ``"error"``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("document.body.dataset.state = 'idle'")
    driver.find_element(By.ID, "file").send_keys(os.path.abspath(path))
    finished = "const state = document.body.dataset.state; return ['done', 'error'].includes(state) ? state : null"
    return WebDriverWait(driver, timeout_seconds).until(lambda d: d.execute_script(finished))


FLAGS = flags.FLAGS


def define_flags() -> None:
    """The tool's flags, defined only when it runs (tests import the helpers above beside other tools' flags)."""
    flags.DEFINE_string("out", "docs/web/screenshot.png", "Where the screenshot goes.")
    flags.DEFINE_float("sigma", noise.DEFAULT_SIGMA_255, "Noise added by the page before denoising.")


def main(argv):
    del argv
    import io
    import tempfile

    import skimage.data
    from PIL import Image
    from selenium.webdriver.common.by import By

    with tempfile.TemporaryDirectory() as folder, running_server() as (url, _):
        path = os.path.join(folder, "astronaut.png")  # 512x512 RGB, public domain, in the scikit-image wheel
        Image.fromarray(skimage.data.astronaut()).save(path)
        driver = headless_chromium(1280, 800)
        try:
            driver.get(url)
            driver.find_element(By.ID, "add-noise").click()
            driver.execute_script(
                "const r = document.getElementById('noise-sigma'); r.value = arguments[0];"
                "r.dispatchEvent(new Event('input'));",
                str(int(FLAGS.sigma)),
            )
            if upload(driver, path) != "done":
                raise RuntimeError(driver.find_element(By.ID, "message").text)
            time.sleep(0.5)  # the images load and fit the view
            # A wheel notch on the face (at about 47% across and 33% down the photo): 1.35x the fitted view.
            driver.execute_script("""
                const rect = document.getElementById('before').getBoundingClientRect();
                const at = {clientX: rect.left + 0.47 * rect.width, clientY: rect.top + 0.33 * rect.height,
                            deltaY: -200, bubbles: true, cancelable: true};
                document.getElementById('compare').dispatchEvent(new WheelEvent('wheel', at));
                document.activeElement.blur();""")
            time.sleep(0.3)
            os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
            # A 128-colour palette keeps the PNG small (the noise does not compress) and looks the same.
            png = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
            png.quantize(128, method=Image.Quantize.MEDIANCUT).save(FLAGS.out, optimize=True)
        finally:
            driver.quit()
    print(f"wrote {FLAGS.out} ({os.path.getsize(FLAGS.out) / 1e3:.0f} kB)")


if __name__ == "__main__":
    define_flags()
    app.run(main)
