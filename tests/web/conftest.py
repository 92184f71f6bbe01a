"""Web app fixtures: a real uvicorn server over a temporary service (SQLite + FAISS), seeded
with an agency, keys and small galleries; Debian's Chromium driven by Playwright with a fake
camera fed from a y4m video made of dev-set face images."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from fieldid.config import Settings
from fieldid.core.finger.synth import render_contactless
from fieldid.errors import FieldIDError
from fieldid.fingers import FingerInput
from fieldid.records import seed_demo_links
from fieldid.service import EnrollmentInfo, FieldID, ImageInput
from fieldid.storage.faiss_index import FaissIndex
from fieldid.storage.sql import SqlStore
from fieldid.storage.tables import Identity
from tests.api.conftest import EXERCISED, api, keys  # noqa: F401 - API fixtures for the /v1/web route tests
from tests.conftest import FIXTURES, LFW, make_agency

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("FIELDID_CHROMIUM", "/usr/bin/chromium")
PHONE = {"width": 360, "height": 740}
DESK = {"width": 1280, "height": 900}


def pytest_collection_modifyitems(session, config, items):
    """The endpoint-coverage check (tests/api/test_zz_coverage.py) must run after the /v1/web route
    tests here, which record the routes they exercise into the same set."""
    last = [i for i in items if "test_zz_coverage" in i.nodeid]
    if last:
        items[:] = [i for i in items if i not in last] + last


# -- the fake camera ---------------------------------------------------------------------------------
def write_y4m(
    path: Path, image: np.ndarray, *, width: int = 640, height: int = 480, frames: int = 10
) -> Path:
    """A short y4m (I420) clip showing ``image`` (BGR) centred on a grey background."""
    canvas = np.full((height, width, 3), 90, np.uint8)
    scale = min(height * 0.95 / image.shape[0], width * 0.95 / image.shape[1])
    img = cv2.resize(
        image, (int(image.shape[1] * scale), int(image.shape[0] * scale)), interpolation=cv2.INTER_CUBIC
    )
    y0, x0 = (height - img.shape[0]) // 2, (width - img.shape[1]) // 2
    canvas[y0 : y0 + img.shape[0], x0 : x0 + img.shape[1]] = img
    yuv = cv2.cvtColor(canvas, cv2.COLOR_BGR2YUV_I420).tobytes()
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n" + yuv)
    return path


# -- the server ----------------------------------------------------------------------------------------
@dataclass
class WebServer:
    url: str
    service: FieldID
    keys: dict[str, str]
    probe: Path  # a photo of an enrolled person not used at enrolment
    training_probe: Path
    finger_photo: Path  # a contactless phone photo (rendered) of the enrolled right index finger


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lfw_people(count: int) -> list[tuple[str, list[Path]]]:
    people = []
    for d in sorted((LFW / "images").iterdir(), reverse=True):  # far from the fixture faces
        files = sorted(d.glob("*.jpg"))
        if len(files) >= 2:
            people.append((d.name, files))
        if len(people) >= count:
            break
    return people


@pytest.fixture(scope="session")
def web_server(tmp_path_factory, face_models):
    import uvicorn

    from fieldid.api import create_app
    from fieldid.demo import pseudonymous_key, pseudonymous_name

    tmp = tmp_path_factory.mktemp("web")
    settings = Settings(data_dir=tmp / "data", environment="test", demo=True, duplicate_check=False)
    service = FieldID(
        settings,
        SqlStore(settings.resolved_database_url),
        FaissIndex(settings.index_dir),
        face_models=face_models,
    )
    agency = make_agency(service, "web-pd", keys=True)
    service.create_gallery(agency.admin, "watchlist", kind="demo", description="DEMO watch list")
    service.create_gallery(agency.admin, "training-sandbox", kind="training", description="Training sandbox")

    def info(label: str) -> EnrollmentInfo:
        return EnrollmentInfo(
            display_name=pseudonymous_name(label),
            subject_key=pseudonymous_key(label),
            source="test",
            legal_basis="DEMO test",
        )

    for name in ("person_a_1.jpg", "person_b_1.jpg", "person_c_1.jpg"):
        service.enroll(
            agency.admin,
            "watchlist",
            [ImageInput((FIXTURES / "faces" / name).read_bytes(), name)],
            info(name[:-6]),
        )
    enrolled: list[tuple[str, list[Path]]] = []
    for label, files in _lfw_people(12):
        if len(enrolled) >= 5:
            break
        gallery = "training-sandbox" if len(enrolled) == 4 else "watchlist"
        try:
            service.enroll(
                agency.admin, gallery, [ImageInput(files[0].read_bytes(), files[0].name)], info(label)
            )
        except FieldIDError:
            continue  # under the quality floor: take the next person
        enrolled.append((label, files))
    t_label, t_files = enrolled[4]
    scan = (FIXTURES / "fingers" / "fvc2000_db2_101_1.tif").read_bytes()  # right index, contact scan
    service.enroll(
        agency.admin, "watchlist", [], info("finger-101"), fingers=[FingerInput(scan, 2, filename="101_1")]
    )
    with service.store.write() as s:  # synthetic DEMO records for the pseudonymous demo keys
        seed_demo_links(s, s.execute(select(Identity)).scalars().all(), now=service.clock.now())

    app = create_app(settings, service=service)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the web test server did not start")
        time.sleep(0.05)
    probe = tmp / "probe.jpg"
    shutil.copyfile(FIXTURES / "faces" / "person_a_2.jpg", probe)
    training_probe = tmp / "training-probe.jpg"
    shutil.copyfile(t_files[1], training_probe)
    finger_photo = tmp / "finger-photo.png"
    gray = cv2.imread(str(FIXTURES / "fingers" / "fvc2000_db2_101_2.tif"), cv2.IMREAD_GRAYSCALE)
    rgb, _ = render_contactless(gray, np.random.default_rng(11))
    cv2.imwrite(str(finger_photo), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    try:
        yield WebServer(f"http://127.0.0.1:{port}", service, agency.keys, probe, training_probe, finger_photo)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        service.close()


# -- the browser --------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def camera_video(tmp_path_factory, web_server) -> Path:
    image = cv2.imread(str(web_server.probe))
    return write_y4m(tmp_path_factory.mktemp("camera") / "face.y4m", image)


@pytest.fixture(scope="session")
def browser(camera_video):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: apt-get install chromium (or set FIELDID_CHROMIUM).",
            pytrace=False,
        )
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={camera_video}",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
            ],
        )
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def phone(browser, web_server):
    """A fresh phone-sized page (own session storage) with camera permission."""
    ctx = browser.new_context(
        viewport=PHONE, device_scale_factor=1, is_mobile=True, has_touch=True, base_url=web_server.url
    )
    ctx.grant_permissions(["camera"], origin=web_server.url)
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    yield page
    ctx.close()


@pytest.fixture
def desk(browser, web_server):
    ctx = browser.new_context(viewport=DESK, base_url=web_server.url)
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    yield page
    ctx.close()


def screenshot(page, name: str, *, full_page: bool = True) -> None:
    """Save a screen to docs/screenshots (capture screens: the viewport, as the phone shows it)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if full_page:  # from the top: sticky banners would otherwise be drawn mid-page
        page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)
