"""The web console in headless Chromium (Debian's chromium + chromium-driver, Selenium):
every page loads against a real broker with topics and a consumer group made by
confluent-kafka and kafka-python and shows the values the Admin API gives; a topic is
created and deleted (with the confirmation step) through the browser; the lag and
throughput parts refresh themselves; a screenshot of each page lands in a temp dir.

Chromium missing is a failure, not a skip: CI installs it (.ci/run)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from helpers.broker_process import BrokerProcess, require_josef
from helpers.clients import (
    Record,
    commit_offsets_confluent,
    create_topic,
    produce,
    unique_topic,
    watermarks,
)

pytestmark = pytest.mark.usefixtures("_josef_only")

CHROMIUM = os.environ.get("JOSEF_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("JOSEF_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,1000",
)
GUARD_S = 30.0  # a guard against a hung browser or broker, not a measurement


@pytest.fixture
def _josef_only() -> None:
    require_josef("Josef's web console")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Generator[Any, None, None]:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if shutil.which(path) is None:
            pytest.fail(
                f"{path} not found: the browser tests need Debian's {package} package "
                "(apt-get install chromium chromium-driver; .ci/run installs it)"
            )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: pip install -e '.[test]'")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(GUARD_S)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def console_broker(
    tmp_path_factory: pytest.TempPathFactory,
) -> Generator[BrokerProcess, None, None]:
    b = BrokerProcess(tmp_path_factory.mktemp("console-browser"), name="console-browser")
    try:
        b.start()
        yield b
    finally:
        b.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("console-screenshots")

T = TypeVar("T")


def _by_css(driver: Any, selector: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def _rows(driver: Any, table_id: str) -> list[list[str]]:
    """The rendered text of each body row's cells (one script call, not one per cell)."""
    rows = driver.execute_script(
        "const t = document.getElementById(arguments[0]);"
        "if (!t) { return null; }"
        "return Array.from(t.tBodies[0].rows)"
        "  .filter(r => !(r.cells.length === 1 && r.cells[0].classList.contains('empty')))"
        "  .map(r => Array.from(r.cells).map(c => c.innerText));",
        table_id,
    )
    assert rows is not None, f"no table #{table_id} on {driver.current_url}"
    return [[str(c) for c in row] for row in rows]


def _wait(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + GUARD_S
    while not _unswapped(check):
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


def _unswapped(read: Callable[[], T]) -> T:
    """``read()`` again when the page's self-refresh swapped the elements it was reading."""
    from selenium.common.exceptions import StaleElementReferenceException

    for _ in range(20):
        try:
            return read()
        except StaleElementReferenceException:
            time.sleep(0.1)
    return read()


def _shot(driver: Any, directory: Path, name: str) -> Path:
    path = directory / f"{name}.png"
    assert driver.save_screenshot(str(path))
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000, name
    return path


def _admin(bootstrap: str) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap})


def test_every_page_shows_the_admin_api_values(
    browser: Any, console_broker: BrokerProcess, screenshots: Path
) -> None:
    base, bootstrap = console_broker.http_url, console_broker.bootstrap
    topic = unique_topic("browser")
    create_topic(bootstrap, topic, partitions=2, config={"retention.ms": "7200000"})
    produce("confluent", bootstrap, topic,
            [Record(b"k%d" % i, b'{"i": %d}' % i, (("src", b"librdkafka"),)) for i in range(3)],
            partition=0)
    produce("kafka-python", bootstrap, topic, [Record(b"kp", b"<hello>")], partition=1)
    group = f"browser-group-{topic}"
    commit_offsets_confluent(bootstrap, group, {(topic, 0): 1, (topic, 1): 0})
    md = _admin(bootstrap).list_topics(timeout=GUARD_S)
    shots = []

    browser.get(base + "/")
    assert _by_css(browser, "h1").text == "Cluster"
    brokers = _rows(browser, "brokers")
    assert [(int(r[0]), r[1]) for r in brokers] == [
        (b.id, f"{b.host}:{b.port}") for b in md.brokers.values()
    ]
    assert md.cluster_id in browser.page_source
    configs = {r[0]: r[1] for r in _rows(browser, "broker-configs")}
    assert configs["broker.id"] == "0"
    shots.append(_shot(browser, screenshots, "cluster"))

    browser.get(base + "/topics")
    row = next(r for r in _rows(browser, "topics") if r[0] == topic)
    assert row[1:4] == ["2", "1", "0"]
    shots.append(_shot(browser, screenshots, "topics"))

    browser.get(base + f"/topics/{topic}")
    parts = _rows(browser, "partitions")
    for r in parts:
        p = int(r[0])
        low, high = watermarks(bootstrap, topic, p)
        assert r[1] == str(md.topics[topic].partitions[p].leader)
        assert (r[4], r[5]) == (str(low), str(high))
    assert [r[5] for r in parts] == ["3", "1"]
    configs = {r[0]: r[1] for r in _rows(browser, "topic-configs")}
    assert configs["retention.ms"] == "7200000"
    shots.append(_shot(browser, screenshots, "topic"))

    browser.get(base + f"/topics/{topic}/messages?partition=0&format=json")
    records = _rows(browser, "records")
    assert [r[0] for r in records] == ["0", "1", "2"]
    assert [r[2] for r in records] == ["k0", "k1", "k2"]
    assert records[1][3] == '{\n  "i": 1\n}'
    assert records[0][4] == "src: librdkafka"
    shots.append(_shot(browser, screenshots, "messages"))
    browser.get(base + f"/topics/{topic}/messages?partition=1")
    assert [r[3] for r in _rows(browser, "records")] == ["<hello>"]

    browser.get(base + "/groups")
    groups = {r[0]: r for r in _rows(browser, "groups")}
    assert groups[group][1] == "Empty" and groups[group][6] == "3"
    shots.append(_shot(browser, screenshots, "groups"))

    browser.get(base + f"/group?id={group}")
    assert [r[:5] for r in _rows(browser, "lag")] == [
        [topic, "0", "1", "3", "2"], [topic, "1", "0", "1", "1"],
    ]
    shots.append(_shot(browser, screenshots, "group"))

    browser.get(base + "/topics/new")
    shots.append(_shot(browser, screenshots, "create-topic"))
    assert sorted(p.name for p in screenshots.iterdir()) == sorted(p.name for p in shots)


def test_create_and_delete_a_topic_through_the_browser(
    browser: Any, console_broker: BrokerProcess, screenshots: Path
) -> None:
    base, bootstrap = console_broker.http_url, console_broker.bootstrap
    topic = unique_topic("browser-new")
    browser.get(base + "/topics/new")
    _by_css(browser, "input[name=name]").send_keys(topic)
    _by_css(browser, "input[name=partitions]").send_keys("3")
    _by_css(browser, "textarea[name=configs]").send_keys("cleanup.policy=compact")
    _by_css(browser, "#create-topic button[type=submit]").click()
    _wait("the topic page", lambda: browser.current_url.endswith(f"/topics/{topic}"))
    assert len(_rows(browser, "partitions")) == 3
    md = _admin(bootstrap).list_topics(topic=topic, timeout=GUARD_S).topics[topic]
    assert len(md.partitions) == 3

    _by_css(browser, "button.danger").click()
    _wait("the confirmation", lambda: "cannot be undone" in browser.page_source)
    _shot(browser, screenshots, "confirm-delete")
    assert topic in _admin(bootstrap).list_topics(timeout=GUARD_S).topics
    _by_css(browser, "#confirm").click()
    _wait("the topics page", lambda: "/topics?notice=" in browser.current_url)
    assert f"Deleted topic {topic}." in _by_css(browser, ".notice").text

    def gone() -> bool:
        return topic not in _admin(bootstrap).list_topics(timeout=GUARD_S).topics

    _wait("the topic to be deleted", gone)

    # a Kafka error is shown on the page: the name exists already
    browser.get(base + "/topics/new")
    existing = unique_topic("browser-dup")
    create_topic(bootstrap, existing)
    _by_css(browser, "input[name=name]").send_keys(existing)
    _by_css(browser, "#create-topic button[type=submit]").click()
    _wait("the error", lambda: "TOPIC_ALREADY_EXISTS" in browser.page_source)
    assert "already exists" in _by_css(browser, ".error-message").text


def test_lag_and_throughput_refresh_themselves(
    browser: Any, console_broker: BrokerProcess
) -> None:
    base, bootstrap = console_broker.http_url, console_broker.bootstrap
    topic = unique_topic("browser-live")
    create_topic(bootstrap, topic)
    produce("confluent", bootstrap, topic, [Record(None, b"x")] * 10)
    group = f"browser-live-{topic}"
    commit_offsets_confluent(bootstrap, group, {(topic, 0): 2})

    browser.get(base + f"/group?id={group}")
    assert [r[4] for r in _rows(browser, "lag")] == ["8"]
    commit_offsets_confluent(bootstrap, group, {(topic, 0): 7})
    _wait("the lag to refresh", lambda: [r[4] for r in _rows(browser, "lag")] == ["3"])

    browser.get(base + "/topics")
    assert "polyline" not in _unswapped(lambda: _topic_row_html(browser, topic))  # one sample
    produce("kafka-python", bootstrap, topic, [Record(None, b"y")] * 20)
    _wait("a throughput sparkline", lambda: "polyline" in _topic_row_html(browser, topic))
    assert browser.find_element("css selector", "body").get_attribute("data-refreshed")


def _topic_row_html(driver: Any, topic: str) -> str:
    from selenium.webdriver.common.by import By

    for row in driver.find_elements(By.CSS_SELECTOR, "table#topics tbody tr"):
        cells = row.find_elements(By.TAG_NAME, "td")
        if cells and cells[0].text == topic:
            return str(row.get_attribute("innerHTML"))
    return ""
