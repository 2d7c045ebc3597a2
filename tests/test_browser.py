"""A real browser on a real JupyterLab: notebook 01's augmentation explorer, driven by keyboard.

Starts JupyterLab on 127.0.0.1 (random port, random token) serving a copy of 01_concepts, opens it
in headless Chromium (Debian's ``chromium`` + ``chromium-driver``, driven by Selenium; nothing is
downloaded), runs the cells the explorer needs with Shift+Enter, moves the "crop scale min" slider
with the arrow keys and checks that the slider's readout and the explorer's picture changed (the
<img> gets a new blob URL only when the widget's image value changes). It also checks that the
notebook's two Mermaid diagrams render as SVG (JupyterLab >= 4.1 draws ```mermaid fences).
Screenshots go to runs/test-artifacts/.

Skipped, with the reason, when chromium or chromedriver is missing (``.ci/run`` installs them with
apt-get: ``apt-get install -y chromium chromium-driver``).
"""
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "notebooks" / "01_concepts.ipynb"
ARTIFACTS = REPO / "runs" / "test-artifacts"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"

pytestmark = [
    pytest.mark.skipif(not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
                       reason=f"needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER}): "
                              "apt-get install -y chromium chromium-driver"),
    pytest.mark.slow,
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settings(root: Path) -> Path:
    """JupyterLab user settings for the test: every cell in the DOM (no virtual scrolling), no news."""
    settings = root / "settings"
    for plugin, values in {"@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
                           "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                                           "checkForUpdates": False}}.items():
        path = settings / (plugin + ".jupyterlab-settings")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return settings


@pytest.fixture
def lab(tmp_path):
    """(base URL, token) of a JupyterLab serving a copy of notebook 01; stopped afterwards."""
    served = tmp_path / "notebooks"
    served.mkdir()
    shutil.copy(NOTEBOOK, served / NOTEBOOK.name)
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(_settings(tmp_path)),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"))
    log = open(tmp_path / "jupyterlab.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                             f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={served}",
                             "--LabApp.extension_manager=readonly",  # no PyPI queries from the page
                             *(["--ServerApp.allow_root=True"] if os.geteuid() == 0 else [])],  # CI runs as root
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                log.flush()
                pytest.fail("JupyterLab did not start:\n" + (tmp_path / "jupyterlab.log").read_text()[-3000:])
            time.sleep(0.5)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000", "--disable-extensions"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(90)
    yield driver
    driver.quit()


def _cells_to_run(nb) -> list[int]:
    """Indices of the cells the augmentation explorer depends on, in order."""
    def index(pred, what):
        hits = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and pred(c)]
        assert hits, f"01_concepts has no {what} cell any more; update tests/test_browser.py"
        return hits[0]

    return [index(lambda c: "parameters" in c.metadata.get("tags", []), "parameters"),
            index(lambda c: "sslkit.teach.notebooks.setup(" in c.source, "setup"),
            index(lambda c: "x_train, y_train = data.load(" in c.source, "data"),
            index(lambda c: "photos = widgets.sample_photos(" in c.source, "photos"),
            index(lambda c: "widgets.augmentation_explorer(" in c.source, "explorer")]


def test_augmentation_explorer_in_jupyterlab(lab, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    import jupyterlab

    assert tuple(int(v) for v in jupyterlab.__version__.split(".")[:2]) >= (4, 1), \
        f"JupyterLab {jupyterlab.__version__} does not render Mermaid; 4.1 or newer does"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    run = _cells_to_run(nb)
    mermaid = sum("```mermaid" in c.source for c in nb.cells if c.cell_type == "markdown")
    base, token = lab
    t0 = time.time()
    browser.get(f"{base}/lab/tree/{NOTEBOOK.name}?token={token}")
    wait = WebDriverWait(browser, 120, poll_frequency=0.25)
    try:
        cells = wait.until(lambda d: (lambda cs: cs if len(cs) == len(nb.cells) else False)(
            d.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel .jp-Notebook .jp-Cell")))
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".jp-Notebook-ExecutionIndicator")))
        wait.until(lambda d: "idle" in (d.find_element(By.CSS_SELECTOR, ".jp-Notebook-ExecutionIndicator")
                                        .get_attribute("data-status") or ""))

        # Mermaid fences render as SVG diagrams (JupyterLab inlines each as an <img> of an SVG data URL)
        if mermaid:
            drawn = ('return Array.from(document.querySelectorAll(".jp-RenderedMermaid img"))'
                     '.filter(i => i.src.startsWith("data:image/svg+xml") && i.complete && i.naturalWidth > 0).length')
            wait.until(lambda d: d.execute_script(drawn) >= mermaid, message="the Mermaid diagrams did not render")

        # Run the cells with Shift+Enter, each after the previous one finished ([n] in its prompt)
        for i in run:
            prompt = cells[i].find_element(By.CSS_SELECTOR, ".jp-InputPrompt")
            browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", cells[i])
            ActionChains(browser).click(prompt).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()
            wait.until(lambda d: re.search(r"\[\d+\]", prompt.text),
                       message=f"cell {i} did not finish: {cells[i].text[:300]}")
            errors = [e.text for e in cells[i].find_elements(By.CSS_SELECTOR, '.jp-OutputArea-output[data-mime-type='
                                                                              '"application/vnd.jupyter.stderr"]')
                      if re.search(r"Traceback|\w+Error\b", e.text)]
            assert not errors, f"cell {i} failed: {errors[0][-1500:]}"

        explorer = cells[run[-1]]
        image = wait.until(lambda d: explorer.find_element(By.CSS_SELECTOR, ".widget-vbox img"))
        wait.until(lambda d: (image.get_attribute("src") or "").startswith("blob:"))
        slider = explorer.find_element(By.XPATH, ".//div[contains(@class, 'widget-slider')]"
                                                 "[.//label[normalize-space()='crop scale min']]")
        readout = slider.find_element(By.CSS_SELECTOR, ".widget-readout")
        before_value, before_src = readout.text, image.get_attribute("src")
        assert before_value == "0.08"
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", explorer)
        browser.save_screenshot(str(ARTIFACTS / "browser-01-explorer-before.png"))

        handle = slider.find_element(By.CSS_SELECTOR, ".noUi-handle")
        ActionChains(browser).click(handle).send_keys(Keys.ARROW_RIGHT * 3).perform()   # 0.08 -> 0.14
        wait.until(lambda d: readout.text == "0.14", message=f"slider readout stayed {readout.text}")
        wait.until(lambda d: image.get_attribute("src") != before_src,
                   message="the explorer's picture did not change after the slider moved")
        browser.save_screenshot(str(ARTIFACTS / "browser-01-explorer-after.png"))
        explorer.screenshot(str(ARTIFACTS / "browser-01-explorer-widget.png"))
    except Exception:
        browser.save_screenshot(str(ARTIFACTS / "browser-01-failure.png"))
        raise
    print(f"browser test: {time.time() - t0:.1f} s from page load; screenshots in {ARTIFACTS}")
