"""The web demo, driven from a real headless Chromium (the system's, never a downloaded one).

Screenshots of every tab are kept in test-artifacts/ (git-ignored).
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from PIL import Image

from conftest import BAD_INPUTS, REPO, SHARED, TRAINED_CROP, need_shared

PORTRAITS = os.path.join(SHARED, 'datasets', 'portraits')
ARTIFACTS = os.path.join(REPO, 'test-artifacts')
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
CHROMEDRIVER = shutil.which('chromedriver')
webdriver = pytest.importorskip('selenium.webdriver', reason='selenium is not installed')
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason='needs the system chromium and chromedriver '
                                       '(apt-get install chromium chromium-driver)')


def a_portrait():
    folder = os.path.join(need_shared(PORTRAITS), 'woman')
    return os.path.join(folder, sorted(os.listdir(folder))[0])


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def server(trained, generator):
    port = free_port()
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL='2')
    proc = subprocess.Popen([sys.executable, 'runner.py', '--mode=demo',
                             f'--train_dir={trained["train_dir"]}', f'--port={port}',
                             f'--generator_dir={generator["train_dir"]}'],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    url = f'http://127.0.0.1:{port}/'
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f'the demo exited:\n{proc.stdout.read()}')
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            time.sleep(1)
    else:
        proc.kill()
        raise AssertionError('the demo did not answer within 180 s')
    yield {'url': url, 'proc': proc}
    proc.terminate()
    proc.wait(timeout=30)
    # Nothing stays behind: the uploads folder is removed, nothing was written in the repo.
    temp = re.search(r'uploads go to (\S+) \(removed at exit\)', proc.stdout.read()).group(1)
    assert not os.path.exists(temp)
    assert not os.path.exists(os.path.join(REPO, '.gradio'))


@pytest.fixture(scope='module')
def camera_file(tmp_path_factory):
    """An MJPEG 'camera' showing a portrait, for Chromium's fake capture device."""
    frame = Image.open(a_portrait()).convert('RGB')
    frame.thumbnail((640, 480))
    canvas = Image.new('RGB', (640, 480), 'gray')
    canvas.paste(frame, ((640 - frame.width) // 2, (480 - frame.height) // 2))
    path = tmp_path_factory.mktemp('camera') / 'face.mjpeg'
    jpeg = tmp_path_factory.mktemp('camera') / 'frame.jpg'
    canvas.save(jpeg, quality=90)
    path.write_bytes(jpeg.read_bytes() * 30)
    return str(path)


@pytest.fixture(scope='module')
def downloads(tmp_path_factory):
    return str(tmp_path_factory.mktemp('downloads'))


@pytest.fixture(scope='module')
def browser(camera_file, downloads):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage',
                '--window-size=1280,1400', '--use-fake-ui-for-media-stream',
                '--use-fake-device-for-media-stream',
                f'--use-file-for-fake-video-capture={camera_file}'):
        options.add_argument(arg)
    options.add_experimental_option('prefs', {'download.default_directory': downloads,
                                              'download.prompt_for_download': False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd('Page.setDownloadBehavior', {'behavior': 'allow',
                                                        'downloadPath': downloads})
    yield driver
    driver.quit()


def wait_for(condition, timeout=120, every=0.3):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f'timed out after {timeout} s')


def text_of(driver, element_id):
    found = driver.find_elements(By.ID, element_id)
    return found[0].text if found else ''


def open_tab(driver, name):
    for tab in driver.find_elements(By.CSS_SELECTOR, 'button[role=tab]'):
        if tab.text.strip() == name:
            tab.click()
            time.sleep(0.5)
            return
    raise AssertionError(f'no tab {name!r}')


def screenshot(driver, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, f'demo-{name}.png')
    driver.save_screenshot(path)
    return path


def upload(driver, input_id, path):
    driver.find_element(By.CSS_SELECTOR, f'#{input_id} input[type=file]').send_keys(path)


def test_upload_a_portrait_shows_a_labelled_face(server, browser):
    browser.get(server['url'])
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, '#upload-files input[type=file]'))
    start = time.perf_counter()
    upload(browser, 'upload-files', a_portrait())
    table = wait_for(lambda: '%' in text_of(browser, 'upload-table') and
                     text_of(browser, 'upload-table'))
    seconds = time.perf_counter() - start
    assert 'male' in table or 'female' in table
    assert browser.find_elements(By.CSS_SELECTOR, '#upload-gallery img')    # the boxed photo
    assert 'face(s) in' in text_of(browser, 'upload-note')
    print(f'upload to result: {seconds:.2f} s; screenshot {screenshot(browser, "upload")}')


def test_a_text_file_gets_a_clear_message_and_the_server_stays_up(server, browser):
    browser.get(server['url'])
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, '#upload-files input[type=file]'))
    upload(browser, 'upload-files', os.path.join(need_shared(BAD_INPUTS), 'text.jpg'))
    note = wait_for(lambda: 'text.jpg' in text_of(browser, 'upload-note') and
                    text_of(browser, 'upload-note'))
    assert 'a text file, not an image' in note
    screenshot(browser, 'bad-input')
    assert server['proc'].poll() is None
    # A decompression bomb is refused before decoding, with its reason, and the page goes on.
    browser.get(server['url'])
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, '#upload-files input[type=file]'))
    upload(browser, 'upload-files', os.path.join(BAD_INPUTS, 'bomb.png'))
    note = wait_for(lambda: 'bomb.png' in text_of(browser, 'upload-note') and
                    text_of(browser, 'upload-note'))
    assert 'too large' in note and server['proc'].poll() is None
    upload(browser, 'upload-files', os.path.join(BAD_INPUTS, 'no_face.jpg'))
    note = wait_for(lambda: 'no_face.jpg' in text_of(browser, 'upload-note') and
                    text_of(browser, 'upload-note'))
    assert 'no face found' in note and server['proc'].poll() is None


def test_webcam_snapshot_from_the_fake_camera(server, browser):
    browser.get(server['url'])
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, 'button[role=tab]'))
    open_tab(browser, 'Webcam')
    access = wait_for(lambda: [b for b in browser.find_elements(By.CSS_SELECTOR,
                                                                 '#webcam-input button')
                               if 'Webcam' in b.text])
    access[0].click()
    capture = wait_for(lambda: browser.find_elements(
        By.CSS_SELECTOR, '#webcam-input button[aria-label="capture photo"]'))
    time.sleep(2)                                   # let the fake camera deliver frames
    capture[0].click()
    time.sleep(1)
    browser.find_element(By.ID, 'webcam-run').click()
    table = wait_for(lambda: '%' in text_of(browser, 'webcam-table') and
                     text_of(browser, 'webcam-table'))
    assert 'male' in table or 'female' in table
    screenshot(browser, 'webcam')


def test_feature_maps_and_about_tabs(server, browser):
    browser.get(server['url'])
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, 'button[role=tab]'))
    open_tab(browser, 'Feature maps')
    upload(browser, 'features-file', a_portrait())
    time.sleep(1)
    browser.find_element(By.ID, 'features-run').click()
    note = wait_for(lambda: 'maps of' in text_of(browser, 'features-note') and
                    text_of(browser, 'features-note'))
    assert f'layer conv1: 32 maps of {TRAINED_CROP}x{TRAINED_CROP}' in note
    assert browser.find_elements(By.CSS_SELECTOR, '#features-maps img')
    screenshot(browser, 'feature-maps')
    open_tab(browser, 'About the model')
    about = wait_for(lambda: text_of(browser, 'about'))
    assert 'eval accuracy' in about and 'race' in about
    screenshot(browser, 'about')


def test_make_a_face_shows_judged_faces_and_saves_them_in_the_browser(server, browser,
                                                                       downloads):
    browser.get(server['url'])
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, 'button[role=tab]'))
    open_tab(browser, 'Make a face')
    seed = browser.find_element(By.CSS_SELECTOR, '#make-seed input')
    seed.clear()
    seed.send_keys('7')
    browser.find_element(By.ID, 'make-run').click()
    note = wait_for(lambda: 'seed 7' in text_of(browser, 'make-note') and
                    text_of(browser, 'make-note'))
    assert re.search(r'8 male faces from seed 7: the classifier calls \d of them male', note)
    images = wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR,
                                                        '#make-gallery img')) >= 8)
    assert images
    # Each face carries what the classifier says of it.
    assert '%' in text_of(browser, 'make-gallery') or all(
        '%' in (img.get_attribute('alt') or '')
        for img in browser.find_elements(By.CSS_SELECTOR, '#make-gallery img'))
    screenshot(browser, 'make-a-face')
    browser.find_element(By.CSS_SELECTOR, '#make-save').click()
    saved = wait_for(lambda: [n for n in os.listdir(downloads) if n.endswith('.png')], 60)
    grid = Image.open(os.path.join(downloads, saved[0]))
    assert saved[0] == 'male-seed7.png' and grid.size == (4 * 66 + 2, 2 * 66 + 2)
