"""The text of the files ``falco-plugin new`` writes, one function per file.

Each function assembles its file from the parts the chosen capabilities need; the parts
are plain text with the plugin's name filled in (``{name}``, ``{cls}``).
"""

from __future__ import annotations

from textwrap import dedent, indent

EVENTS = 5  # events of the default capture (open params "")


def _isort_key(name: str) -> tuple[int, str]:
    """isort's order inside an import: constants, classes, then functions."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def _fill(text: str, **values: str) -> str:
    """``text`` with ``{key}`` replaced (other braces, as in dict literals, are kept)."""
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


# ---------------------------------------------------------------------------- plugin.py


def source_plugin(name: str, cls: str, caps: frozenset[str]) -> str:
    """A source plugin making EVENTS JSON events, with extract/parse/listen parts."""
    bases = ["SourcePlugin"]
    imports = {"Eof", "Metric", "PluginError", "PluginEvent", "Progress", "SourceInstance"}
    imports.add("SourcePlugin")
    body = [
        _fill(
            '''
            NAME = "{name}"
            VERSION = "0.1.0"
            DESCRIPTION = "Events of {name}, a Falco plugin written in Python"
            CONTACT = "you@example.com"
            PLUGIN_ID = 999  # 999 is for plugins in development: ask the Falco project for one
            EVENT_SOURCE = "{name}"
            ''',
            name=name,
        )
    ]
    state = ["self.config = config", "self.events_made = 0"]
    if "parse" in caps:
        bases.append("ParsePlugin")
        imports.add("ParsePlugin")
        body.append(
            _fill('PARSE_EVENT_SOURCES = ["{name}"]  # the events of its own source\n', name=name)
        )
        state.append("self.parsed = 0  # state kept by parse_event")
    if "extract" in caps:
        bases.append("ExtractPlugin")
        imports |= {"ExtractEvent", "ExtractPlugin", "field"}
    if "listen" in caps:
        bases.append("ListenPlugin")
        imports |= {"CaptureListen", "ListenPlugin"}
        state += ["self.routine_runs = 0", "self.routine: Any = None"]
    body.append(
        "def __init__(self, config: {cls}Config) -> None:\n".replace("{cls}", cls)
        + indent("\n".join(state), "    ")
        + "\n"
    )
    body.append(
        _fill(
            '''
            def open(self, params: str) -> {cls}Instance:
                """Start a capture; the open params are how many events to make."""
                text = params.strip() or "{events}"
                if not text.isdigit():
                    raise PluginError(f"open params must be a number of events, got {params!r}")
                return {cls}Instance(self, int(text))

            def event_to_string(self, event: PluginEvent) -> str:
                """What Falco shows as %evt.plugininfo."""
                return event.payload.decode()
            ''',
            cls=cls,
            events=str(EVENTS),
        )
    )
    if "parse" in caps:
        body.append(
            '''
            def parse_event(self, event: ExtractEvent) -> None:
                """Called for every event before the rules look at it: keep state."""
                self.parsed += 1
            '''
        )
        imports |= {"ExtractEvent"}
    if "extract" in caps:
        body.append(
            _fill(
                '''
                def make_context(self, event: ExtractEvent) -> dict[str, Any]:
                    """Decode the payload once per event; fields read it as event.context."""
                    return json.loads(event.payload)  # type: ignore[no-any-return]

                @field("{name}.n")
                def n(self, event: ExtractEvent) -> int:
                    """The event's number, from 1."""
                    return int(event.context["n"])

                @field("{name}.message")
                def message(self, event: ExtractEvent) -> str:
                    """The event's text."""
                    return str(event.context["message"])
                ''',
                name=name,
            )
        )
        if "parse" in caps:
            body.append(
                _fill(
                    '''
                    @field("{name}.parsed")
                    def parsed_so_far(self, event: ExtractEvent) -> int:
                        """How many events parse_event has seen, this one included."""
                        return self.parsed
                    ''',
                    name=name,
                )
            )
    if "listen" in caps:
        body.append(
            '''
            def capture_open(self, listen: CaptureListen) -> None:
                """The capture opened: run a routine every 20 ms on Falco's thread pool."""
                self.routine = listen.subscribe(self.tick, interval=0.02)

            def tick(self) -> bool:
                """The routine: periodic work (return False to stop it)."""
                self.routine_runs += 1
                return True

            def capture_close(self, listen: CaptureListen) -> None:
                listen.unsubscribe(self.routine)
            '''
        )
    metrics = ['Metric("events_made", self.events_made)']
    if "parse" in caps:
        metrics.append('Metric("events_parsed", self.parsed)')
    if "listen" in caps:
        metrics.append('Metric("routine_runs", self.routine_runs)')
    body.append(
        "def get_metrics(self) -> list[Metric]:\n"
        '    """Counters Falco shows with its plugin metrics."""\n'
        "    return [\n" + "".join(f"        {m},\n" for m in metrics) + "    ]\n"
    )
    head = _fill(
        '''
        """{name}: a Falco plugin written in Python with falco-plugin.

        A capture makes N events (open params, default {events}), one every interval_ms
        (config, default 0); each payload is JSON: {"n": 1, "message": "hello from {name}"}.
        """

        from __future__ import annotations

        import dataclasses
        import json
        import time
        ''',
        name=name,
        events=str(EVENTS),
    )
    head = dedent(head).lstrip("\n") + "from typing import Any\n"
    head += "\nfrom falco_plugin import (\n"
    head += "".join(f"    {i},\n" for i in sorted(imports, key=_isort_key)) + ")\n"
    config_and_instance = _fill(
        '''


        @dataclasses.dataclass
        class {cls}Config:
            """The init config: a JSON object; every key has a default."""

            message: str = dataclasses.field(
                default="hello from {name}", metadata={"description": "The text of every event"}
            )
            interval_ms: int = dataclasses.field(
                default=0, metadata={"description": "Milliseconds to wait before each event"}
            )

            def __post_init__(self) -> None:
                if self.interval_ms < 0:
                    raise ValueError(f"interval_ms cannot be negative, got {self.interval_ms}")


        class {cls}Instance(SourceInstance):
            """One capture: `count` events, then the end of the stream."""

            def __init__(self, plugin: {cls}, count: int) -> None:
                self.plugin, self.count, self.made = plugin, count, 0

            def next_batch(self, batch: Any) -> None:
                if self.made >= self.count:
                    raise Eof  # the end of the stream
                interval = self.plugin.config.interval_ms
                if interval:
                    time.sleep(interval / 1000)
                self.made += 1
                self.plugin.events_made += 1
                batch.add(json.dumps({"n": self.made, "message": self.plugin.config.message}))

            def get_progress(self) -> Progress:
                done = 100.0 if self.count == 0 else 100.0 * self.made / self.count
                return Progress(done, f"{self.made}/{self.count} events")


        ''',
        cls=cls,
        name=name,
    )
    return head + "\n\n" + dedent(config_and_instance).lstrip("\n") + _class(
        cls, ", ".join(bases), body
    )


def async_plugin(name: str, cls: str, caps: frozenset[str]) -> str:
    """A plugin emitting a NAME_tick async event every interval_ms (from a background task,
    or, with listen, from a routine of the open capture)."""
    listen = "listen" in caps
    imports = ["AsyncEmitter", "AsyncPlugin", "Metric"]
    imports += ["CaptureListen", "ListenPlugin"] if listen else ["BackgroundTask"]
    if listen:
        state = "self.events: AsyncEmitter | None = None\nself.routine: Any = None\n"
        work = """
            def start_async(self, events: AsyncEmitter) -> None:
                \"\"\"Falco is ready for async events: keep the emitter for the routine.\"\"\"
                self.events = events

            def stop_async(self) -> None:
                self.events = None

            def capture_open(self, listen: CaptureListen) -> None:
                \"\"\"The capture opened: emit a tick every interval_ms from a routine.\"\"\"
                self.routine = listen.subscribe(self.tick, interval=self.config.interval_ms / 1000)

            def tick(self) -> bool:
                if self.events is not None:
                    self.emit(self.events)
                return True

            def capture_close(self, listen: CaptureListen) -> None:
                listen.unsubscribe(self.routine)
        """
    else:
        state = "self.task: BackgroundTask | None = None\n"
        work = """
            def start_async(self, events: AsyncEmitter) -> None:
                \"\"\"Falco is ready for async events: start the thread that emits them.\"\"\"
                interval = self.config.interval_ms / 1000
                self.task = BackgroundTask(lambda: self.emit(events), interval)
                self.task.start()

            def stop_async(self) -> None:
                \"\"\"Falco takes no more async events: stop the thread (stop() joins it).\"\"\"
                if self.task is not None:
                    self.task.stop()
                    self.task = None
        """
    head = dedent(
        _fill(
            '''
            """{name}: a Falco plugin written in Python with falco-plugin.

            It emits a `{name}_tick` async event every interval_ms (config, default 100) into
            Falco's syscall event stream, with JSON data: {"tick": 1, "message": "..."}.
            Rules match it with `evt.type = {name}_tick`.
            """

            from __future__ import annotations

            import dataclasses
            import json
            ''',
            name=name,
        )
    ).lstrip("\n")
    if listen:
        head += "from typing import Any\n"
    head += f"\nfrom falco_plugin import {', '.join(sorted(imports, key=_isort_key))}\n"
    config = dedent(
        _fill(
            '''


            @dataclasses.dataclass
            class {cls}Config:
                """The init config: a JSON object; every key has a default."""

                message: str = dataclasses.field(
                    default="hello from {name}", metadata={"description": "The text of every tick"}
                )
                interval_ms: int = dataclasses.field(
                    default=100, metadata={"description": "Milliseconds between two ticks"}
                )

                def __post_init__(self) -> None:
                    if self.interval_ms < 1:
                        raise ValueError(f"interval_ms must be at least 1, got {self.interval_ms}")


            ''',
            cls=cls,
            name=name,
        )
    )
    body = [
        _fill(
            '''
            NAME = "{name}"
            VERSION = "0.1.0"
            DESCRIPTION = "Ticks of {name}, a Falco plugin written in Python"
            CONTACT = "you@example.com"
            ASYNC_EVENTS = ["{name}_tick"]
            ''',
            name=name,
        ),
        f"def __init__(self, config: {cls}Config) -> None:\n"
        + indent("self.config = config\nself.ticks = 0\n" + state, "    "),
        _fill(
            '''
            def emit(self, events: AsyncEmitter) -> None:
                """Send one tick to Falco."""
                self.ticks += 1
                data = {"tick": self.ticks, "message": self.config.message}
                events.emit("{name}_tick", json.dumps(data))
            ''',
            name=name,
        ),
        work,
        '''
        def get_metrics(self) -> list[Metric]:
            """Counters Falco shows with its plugin metrics."""
            return [Metric("ticks", self.ticks)]
        ''',
    ]
    bases = "AsyncPlugin, ListenPlugin" if listen else "AsyncPlugin"
    return head + "\n\n" + config.lstrip("\n") + _class(cls, bases, body)


def _class(cls: str, bases: str, parts: list[str]) -> str:
    """A class statement whose body is the parts (each dedented, then indented)."""
    body = "\n".join(indent(dedent(part).strip("\n"), "    ") + "\n" for part in parts)
    return f"class {cls}({bases}):\n" + body


# ------------------------------------------------------------------------ other files


def rules_file(name: str, caps: frozenset[str]) -> str:
    """The rules file of a new project: one rule that the default capture makes alert."""
    if "async" in caps:
        return _fill(
            """\
            - rule: {name} tick
              desc: An async event of the {name} plugin
              condition: evt.type = {name}_tick
              output: "{name} tick %evt.arg.data"
              priority: INFO
              source: syscall
            """,
            name=name,
        ).replace("            ", "")
    if "extract" in caps:
        condition, output = f"{name}.n > 0", f"{name} event %{name}.n: %{name}.message"
    else:
        condition, output = "evt.num > 0", f"{name} event %evt.plugininfo"
    return dedent(
        f"""\
        - rule: {name} event
          desc: An event of the {name} plugin
          condition: {condition}
          output: "{output}"
          priority: INFO
          source: {name}
        """
    )


def tests_file(name: str, cls: str, caps: frozenset[str]) -> str:
    """The tests of a new project: plain Python, the SDK's host, and the real Falco."""
    head = _fill(
        '''
        """Tests of {name}: in plain Python, through the SDK's host (the plugin built as
        Falco loads it), and in the real Falco with the rules file (when
        FALCO_PLUGIN_REALHOST names a Falco install; skipped otherwise).

        The fixtures (falco_build, falco_capture, falco_realhost) come with falco-plugin.
        """

        from __future__ import annotations

        import json
        ''',
        name=name,
    )
    head = dedent(head).lstrip("\n")
    if "async" in caps:
        return head + _async_tests(name, cls, caps)
    return head + _source_tests(name, cls, caps)


def _source_tests(name: str, cls: str, caps: frozenset[str]) -> str:
    extract = "extract" in caps
    unit = "\nfrom falco_plugin.unit import extract_field, make_event" if extract else ""
    text = f'''
import pytest
from falco_plugin import Eof, EventBatch
from falco_plugin.project import find_project
from falco_plugin.realhost import FalcoPlugin, run_falco{unit}

PROJECT = find_project(__file__)
plugin = PROJECT.module()  # plugin.py, imported as the build imports it


def test_version_is_the_projects() -> None:
    text = (PROJECT.root / "pyproject.toml").read_text()
    assert f'version = "{{plugin.{cls}.VERSION}}"' in text


def test_events_in_plain_python() -> None:
    instance = plugin.{cls}(plugin.{cls}Config()).open("2")
    batch = EventBatch()
    instance.next_batch(batch)
    instance.next_batch(batch)
    assert [json.loads(p)["n"] for p in batch.payloads()] == [1, 2]
    with pytest.raises(Eof):
        instance.next_batch(EventBatch())
'''
    if extract:
        text += f'''

def test_fields_of_one_event() -> None:
    p = plugin.{cls}(plugin.{cls}Config())
    event = make_event(b'{{"n": 3, "message": "hi"}}')
    assert extract_field(p, "{name}.n", event) == 3
    assert extract_field(p, "{name}.message", event) == "hi"
'''
    names = [f"{name}.n", f"{name}.message"] + ([f"{name}.parsed"] if "parse" in caps else [])
    fields = f", fields={names!r}".replace("'", '"') if extract else ""
    checks = (
        f'    assert [f["{name}.n"] for f in cap.fields] == [1, 2, 3, 4, 5]\n' if extract else ""
    )
    if "parse" in caps and extract:
        checks += f'    assert [f["{name}.parsed"] for f in cap.fields] == [1, 2, 3, 4, 5]\n'
    text += f'''

def test_capture_through_the_sdk_host(falco_capture) -> None:
    # the default init config and open params
    cap = falco_capture(PROJECT.target{fields})
    assert cap.ok, cap.error_message
    assert len(cap.events) == {EVENTS}
{checks}'''
    if "listen" in caps:
        text += '''

def test_the_routine_runs_while_the_capture_is_open(falco_capture) -> None:
    cap = falco_capture(PROJECT.target, config={"interval_ms": 40})
    assert cap.ok, cap.error_message
    metrics = {m["name"]: m["value"] for m in cap.metrics[0]["items"]}
    assert metrics["routine_runs"] > 0
'''
    text += f'''

def test_the_rules_alert_in_falco(falco_realhost, falco_build) -> None:
    run = run_falco([FalcoPlugin(falco_build(PROJECT.target))], PROJECT.rules_files)
    assert run.ok, run.stderr
    assert [a["rule"] for a in run.alerts] == ["{name} event"] * {EVENTS}
'''
    return text


def _async_tests(name: str, cls: str, caps: frozenset[str]) -> str:
    return f'''import time

from falco_plugin.project import find_project
from falco_plugin.realhost import FalcoPlugin, run_falco

PROJECT = find_project(__file__)
plugin = PROJECT.module()  # plugin.py, imported as the build imports it


def test_version_is_the_projects() -> None:
    text = (PROJECT.root / "pyproject.toml").read_text()
    assert f'version = "{{plugin.{cls}.VERSION}}"' in text


class Emitter:
    """Collects what the plugin emits (Falco's handler, in plain Python)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict]] = []

    def emit(self, name: str, data: str = "", **kwargs) -> None:
        self.sent.append((name, json.loads(data)))


def test_ticks_in_plain_python() -> None:
    p = plugin.{cls}(plugin.{cls}Config(interval_ms=10))
    emitter = Emitter()
    p.emit(emitter)
    p.emit(emitter)
    assert emitter.sent == [
        ("{name}_tick", {{"tick": 1, "message": "hello from {name}"}}),
        ("{name}_tick", {{"tick": 2, "message": "hello from {name}"}}),
    ]


def test_ticks_through_the_sdk_host(falco_capture) -> None:
    cap = falco_capture(PROJECT.target, options=["--async-wait", "500"])
    assert cap.ok, cap.error_message
    ticks = cap.async_data("{name}_tick")
    assert len(ticks) >= 2 and json.loads(ticks[0])["tick"] == 1


def test_the_rules_alert_in_falco(falco_realhost, falco_build) -> None:
    start = time.monotonic()
    run = run_falco(
        [FalcoPlugin(falco_build(PROJECT.target))], PROJECT.rules_files, options=["-M", "2"]
    )
    assert run.ok, run.stderr
    assert time.monotonic() - start < 30
    assert run.alerts and {{a["rule"] for a in run.alerts}} == {{"{name} tick"}}
'''


def readme(name: str, cls: str, caps: frozenset[str]) -> str:
    """The README of a new project: how to build, test and load it in Falco."""
    async_mode = "async" in caps
    what = (
        f"emits a `{name}_tick` async event every `interval_ms` into Falco's syscall stream"
        if async_mode
        else f"is the `{name}` event source: a capture makes N events (open params, default "
        f"{EVENTS}), each a JSON payload"
    )
    engine = "engine:\n  kind: nodriver      # no kernel events needed\n" if async_mode else ""
    run_falco = "falco -c falco.yaml " + ("-M 2" if async_mode else "--disable-source syscall")
    return f"""\
# {name}

A Falco plugin written in Python with [falco-plugin](https://github.com/falco-plugin/falco-plugin).
It {what}. Capabilities: {", ".join(sorted(caps))}.

## Develop

```sh
pip install falco-plugin pytest
python -m pytest                      # plain Python, the SDK's host, and the real Falco
falco-plugin build                    # lib{name}.so, from [tool.falco-plugin] in pyproject.toml
falco-plugin run plugin.py            # a capture through the SDK's host
```

The tests that run the real Falco need `FALCO_PLUGIN_REALHOST=PREFIX` (a Falco install with
`bin/falco`); without it they are skipped.

## Load it in Falco

```yaml
# falco.yaml
plugins:
  - name: {name}
    library_path: /path/to/lib{name}.so
    init_config: {{}}
load_plugins: [{name}]
rules_files: [/path/to/{name}_rules.yaml]
{engine}```

```sh
{run_falco}
```

prints an alert of the rule in `{name}_rules.yaml` for every event. The library loads the
Python plugin from where it was built (`plugin.py` and the interpreter of the build):
keep them in place and readable by the user Falco runs as.
"""
