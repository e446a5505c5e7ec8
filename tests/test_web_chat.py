"""The page's chat in headless Chromium: streaming, Stop, errors, text safety, the session.

A real gateway (waitress) relays a real H2o emulator, whose token delay makes a stream
slow enough to watch grow. One browser and one gateway serve the module.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from web_browser import (
    console_errors,
    drain_logs,
    open_page,
    requested_urls,
    screenshot,
    start_chromium,
    wait_until,
)
from web_gateway import Served, serve_gateway

from g4f_core_providers.h2o import format_prompt
from g4f_core_providers.h2o import models as h2o_models
from g4f_core_providers.h2o.server import Faults

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve_gateway(tmp_path_factory.mktemp("web-site")) as gateway:
        yield gateway


@pytest.fixture
def chat(browser: WebDriver, served: Served) -> Iterator[WebDriver]:
    """The chat view with an empty conversation, H2o/falcon-7b picked, a well-behaved emulator."""
    served.emulator.faults = Faults()
    browser.set_window_size(1280, 900)
    browser.get(served.url + "/#chat")
    browser.execute_script("sessionStorage.clear()")
    open_page(browser, served.url + "/#chat")
    pick(browser, "H2o", "falcon-7b")
    drain_logs(browser)
    yield browser
    assert [e for e in console_errors(browser) if "/v1/chat/completions" not in e] == []


def pick(browser: WebDriver, provider: str, model: str) -> None:
    from selenium.webdriver.support.select import Select

    Select(browser.find_element("id", "chat-provider")).select_by_value(provider)
    Select(browser.find_element("id", "chat-model")).select_by_value(model)


def type_and_send(browser: WebDriver, text: str) -> None:
    from selenium.webdriver.common.keys import Keys

    box = browser.find_element("id", "chat-input")
    box.clear()
    lines = text.split("\n")
    for i, line in enumerate(lines):
        box.send_keys(line)
        if i < len(lines) - 1:
            box.send_keys(Keys.SHIFT, Keys.ENTER)
    box.send_keys(Keys.ENTER)


def messages(browser: WebDriver) -> list[dict[str, Any]]:
    """Each message as shown: its class, the text of its body and its meta line."""
    shown: list[dict[str, Any]] = browser.execute_script(
        "return [...document.querySelectorAll('#conversation > li')].map((li) => ({"
        "  role: li.classList[1], text: li.querySelector('.text').textContent,"
        "  meta: li.querySelector('.meta').textContent,"
        "  elements: li.querySelector('.text').children.length}));"
    )
    return shown


def reply_text(browser: WebDriver) -> str:
    text: str = browser.execute_script(
        "const r = document.querySelectorAll('#conversation > li.assistant');"
        "return r.length ? r[r.length - 1].querySelector('.text').textContent : '';"
    )
    return text


def idle(browser: WebDriver) -> bool:
    return bool(browser.execute_script("return document.getElementById('chat-stop').disabled"))


def status(browser: WebDriver) -> str:
    return str(browser.find_element("id", "chat-status").text)


def expected_reply(served: Served, conversation: list[dict[str, str]], model: str) -> str:
    """What the emulator answers to this transcript: the text the page must show."""
    return "".join(served.emulator.reply_for(format_prompt(conversation), h2o_models[model]))


def generations(served: Served) -> list[Any]:
    return [
        r
        for r in served.emulator.requests
        if r.method == "POST" and r.path.startswith("/conversation/")
    ]


# -- streaming ------------------------------------------------------------------------


def test_a_reply_grows_on_the_page_while_the_emulator_delays_each_token(
    chat: WebDriver, served: Served
) -> None:
    served.emulator.faults.token_delay = 0.08
    prompt = "Tell me about falcons"
    type_and_send(chat, prompt)
    lengths: list[int] = []
    while not idle(chat) or not lengths:
        text = reply_text(chat)
        if text and (not lengths or len(text) != lengths[-1]):
            lengths.append(len(text))
        time.sleep(0.02)
    final = expected_reply(served, [{"role": "user", "content": prompt}], "falcon-7b")
    assert reply_text(chat) == final
    # Seen part-way at least three times before it was whole: rendered as it arrived.
    assert len([n for n in lengths if n < len(final)]) >= 3
    assert lengths == sorted(lengths)
    shown = messages(chat)
    assert [m["role"] for m in shown] == ["user", "assistant"]
    assert shown[1]["meta"] == "answered by H2o (falcon-7b)"
    assert status(chat) == "Answer complete from H2o."


def test_stop_ends_the_reply_and_the_emulator_sees_its_connection_close(
    chat: WebDriver, served: Served
) -> None:
    served.emulator.faults.token_delay = 0.25
    type_and_send(chat, "a long answer please " * 5)
    wait_until("the first tokens", lambda: len(reply_text(chat)) > 10)
    chat.find_element("id", "chat-stop").click()
    wait_until("the page to stop", lambda: idle(chat))
    stopped_at = reply_text(chat)
    generation = generations(served)[-1]
    assert served.emulator.wait_for_close(generation.connection, 5.0)
    wait_until("H2o to delete its conversation", lambda: not served.emulator.conversations)
    time.sleep(0.6)  # two more token delays: nothing more arrives
    assert reply_text(chat) == stopped_at
    assert status(chat) == "Stopped."
    assert messages(chat)[-1]["meta"].endswith("stopped")
    full = expected_reply(
        served, [{"role": "user", "content": "a long answer please " * 5}], "falcon-7b"
    )
    assert full.startswith(stopped_at) and len(stopped_at) < len(full)


# -- errors ---------------------------------------------------------------------------


def raw_chat(served: Served, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        served.url + "/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_an_error_before_the_first_token_shows_the_gateways_one_line_message(
    chat: WebDriver, served: Served
) -> None:
    served.emulator.faults.generation_error = "CUDA out of memory"
    code, document = raw_chat(
        served,
        {"model": "H2o/falcon-7b", "messages": [{"role": "user", "content": "hi"}], "stream": True},
    )
    assert code >= 400
    message = document["error"]["message"]
    type_and_send(chat, "hi")
    wait_until("the error", lambda: idle(chat) and messages(chat)[-1]["role"] == "error")
    shown = messages(chat)
    assert [m["role"] for m in shown] == ["user", "error"]
    assert shown[-1]["text"] == " ".join(message.split())
    assert status(chat) == "Error: " + shown[-1]["text"]


def test_an_error_in_the_middle_of_a_stream_keeps_the_text_and_shows_the_error(
    chat: WebDriver, served: Served
) -> None:
    served.emulator.faults.incomplete_after = 4
    type_and_send(chat, "hello there")
    wait_until("the error", lambda: idle(chat) and messages(chat)[-1]["role"] == "error")
    shown = messages(chat)
    assert [m["role"] for m in shown] == ["user", "assistant", "error"]
    full = expected_reply(served, [{"role": "user", "content": "hello there"}], "falcon-7b")
    assert shown[1]["text"] and full.startswith(shown[1]["text"]) and shown[1]["text"] != full
    assert shown[1]["meta"].endswith("cut short by an error")
    assert "ncomplete" in shown[2]["text"]


# -- text stays text ------------------------------------------------------------------


def test_a_prompt_with_html_is_shown_as_text_in_the_prompt_and_the_reply(
    chat: WebDriver, served: Served
) -> None:
    prompt = '<img src=x onerror="window.pwned=1"><b>bold</b> &amp; <script>window.pwned=2</script>'
    type_and_send(chat, prompt)
    wait_until("the reply", lambda: idle(chat) and len(messages(chat)) == 2)
    user, reply = messages(chat)
    assert user["text"] == prompt
    assert reply["text"] == expected_reply(
        served, [{"role": "user", "content": prompt}], "falcon-7b"
    )
    assert "<b>bold</b>" in reply["text"]
    assert user["elements"] == reply["elements"] == 0
    assert chat.execute_script("return window.pwned === undefined")
    assert (
        chat.execute_script(
            "return document.querySelectorAll('#conversation img, #conversation b').length"
        )
        == 0
    )


# -- the composer, the options and the session ------------------------------------------


def test_enter_sends_and_shift_enter_adds_a_line(chat: WebDriver, served: Served) -> None:
    before = len(generations(served))
    type_and_send(chat, "line one\nline two")
    wait_until("the reply", lambda: idle(chat) and len(messages(chat)) == 2)
    assert messages(chat)[0]["text"] == "line one\nline two"
    assert len(generations(served)) == before + 1
    assert json.loads(generations(served)[-1].body)["inputs"] == format_prompt(
        [{"role": "user", "content": "line one\nline two"}]
    )


def test_the_conversation_survives_a_reload_and_goes_back_as_history(
    chat: WebDriver, served: Served
) -> None:
    chat.find_element("css selector", "#settings summary").click()
    chat.find_element("id", "chat-system").send_keys("Be brief.")
    type_and_send(chat, "first question")
    wait_until("the first reply", lambda: idle(chat) and len(messages(chat)) == 2)
    first = messages(chat)
    chat.refresh()
    open_page(chat, served.url + "/#chat")
    assert messages(chat) == first
    assert chat.find_element("id", "chat-system").get_attribute("value") == "Be brief."
    type_and_send(chat, "second question")
    wait_until("the second reply", lambda: idle(chat) and len(messages(chat)) == 4)
    sent = json.loads(generations(served)[-1].body)["inputs"]
    assert sent == format_prompt(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": first[1]["text"]},
            {"role": "user", "content": "second question"},
        ]
    )
    chat.find_element("css selector", "#settings summary").click()  # show the options form too
    screenshot(chat, "web-chat.png")
    chat.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
    )
    try:
        screenshot(chat, "web-chat-dark.png")
    finally:
        chat.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


def test_an_option_out_of_its_declared_range_is_refused_before_sending(
    chat: WebDriver, served: Served
) -> None:
    chat.find_element("css selector", "#settings summary").click()
    field = chat.find_element("id", "opt-temperature")
    field.clear()
    field.send_keys("0")
    before = len(served.emulator.requests)
    type_and_send(chat, "hello")
    assert chat.find_element("id", "opt-temperature-error").text == "temperature must be > 0"
    assert field.get_attribute("aria-invalid") == "true"
    assert chat.switch_to.active_element == field
    assert messages(chat) == []
    assert not any("/v1/chat/completions" in url for url in requested_urls(chat))
    assert len(served.emulator.requests) == before
    field.clear()
    field.send_keys("0.9")
    tokens = chat.find_element("id", "opt-max_new_tokens")
    tokens.clear()
    tokens.send_keys("7")
    chat.find_element("id", "chat-input").send_keys("\n")
    wait_until("the reply", lambda: idle(chat) and len(messages(chat)) == 2)
    parameters = json.loads(generations(served)[-1].body)["parameters"]
    assert parameters["temperature"] == 0.9
    assert parameters["max_new_tokens"] == 7
    assert parameters["truncate"] == 2048  # unchanged: left to the provider's default


def test_any_provider_for_a_model_answers_and_the_page_names_who_did(chat: WebDriver) -> None:
    pick(chat, "", "llama-13b")
    type_and_send(chat, "who are you?")
    wait_until("the reply", lambda: idle(chat) and len(messages(chat)) == 2)
    assert messages(chat)[1]["meta"].startswith("answered by H2o")


# -- the SSE parser, fed by hand ----------------------------------------------------------

SSE_SAMPLE = (
    ": keep-alive\r\n\r\n"
    'data: {"a": "h\u00e9llo \U0001f985"}\r\n\r\n'
    "event: note\rdata: two\rdata: lines\r\r"
    "data:no space\n\n"
    "id: 7\ndata\n\n"
    'data: {"b": "\u20ac"}\n\n'
    "data: [DONE]\n\n"
    "data: unterminated"
).encode()


def test_the_pages_sse_parser_reads_events_split_at_every_byte_offset(chat: WebDriver) -> None:
    from g4f_core.transport.sse import SSEDecoder

    oracle = SSEDecoder().feed(SSE_SAMPLE)
    assert len(oracle) == 6  # the library's decoder agrees what the sample holds
    results = chat.execute_async_script(
        """
        const [bytes, done] = [new Uint8Array(arguments[0]), arguments[arguments.length - 1]];
        const read = async (chunks) => {
          const stream = new ReadableStream({
            start(c) { for (const chunk of chunks) c.enqueue(chunk); c.close(); },
          });
          const out = [];
          for await (const data of window.g4fPage.sseEvents(stream.getReader())) out.push(data);
          return out;
        };
        const runs = [];
        for (let i = 0; i <= bytes.length; i++) {
          for (const j of [i, Math.min(bytes.length, i + 1), Math.min(bytes.length, i + 3)]) {
            runs.push(read([bytes.slice(0, i), bytes.slice(i, j), bytes.slice(j)]));
          }
        }
        runs.push(read([...bytes].map((b) => new Uint8Array([b]))));
        Promise.all(runs).then(done, (e) => done(String(e)));
        """,
        list(SSE_SAMPLE),
    )
    assert isinstance(results, list) and len(results) == 3 * (len(SSE_SAMPLE) + 1) + 1
    assert all(result == oracle for result in results)


# -- the gateway's API key ----------------------------------------------------------------

KEY = "sk-web-test-0123456789"


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[Served]:
    with serve_gateway(tmp_path / "keyed-site", api_key=KEY) as gateway:
        yield gateway


def dialog_open(browser: WebDriver) -> bool:
    return bool(browser.execute_script("return document.getElementById('key-dialog').open"))


def enter_key(browser: WebDriver, key: str) -> None:
    from selenium.webdriver.common.keys import Keys

    field = browser.find_element("id", "key-input")
    field.clear()
    field.send_keys(key, Keys.ENTER)


def test_the_page_asks_for_the_api_key_once_and_keeps_it_for_the_session(
    browser: WebDriver, keyed: Served
) -> None:
    browser.get("about:blank")
    browser.get(keyed.url + "/#chat")
    wait_until("the key dialog", lambda: dialog_open(browser))
    # Two reads were refused at once; one dialog asks, with the gateway's reason.
    assert browser.execute_script("return document.querySelectorAll('dialog[open]').length") == 1
    reason = browser.find_element("id", "key-reason").text
    assert reason == "missing API key: send it as 'Authorization: Bearer <key>'"
    enter_key(browser, "sk-wrong")
    wait_until("the refusal", lambda: "refused" in browser.find_element("id", "key-reason").text)
    assert dialog_open(browser)
    assert browser.find_element("id", "key-reason").text == (
        "The gateway refused that key: incorrect API key"
    )
    enter_key(browser, KEY)
    wait_until("the page", lambda: browser.execute_script("return document.body.dataset.ready"))
    assert not dialog_open(browser)
    assert browser.execute_script("return sessionStorage.getItem('g4f-core.api-key')") == KEY
    browser.refresh()
    wait_until("the page", lambda: browser.execute_script("return document.body.dataset.ready"))
    pick(browser, "H2o", "falcon-7b")
    type_and_send(browser, "hello with a key")
    wait_until("the reply", lambda: idle(browser) and len(messages(browser)) == 2)
    assert messages(browser)[1]["role"] == "assistant"
    assert not dialog_open(browser)
    browser.execute_script("sessionStorage.clear()")
    drain_logs(browser)
