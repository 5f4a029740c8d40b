"""jsii's Node end-of-life banner reaches the console as one readable line, not as bytes reprs.

The sink reads a real pipe carrying what jsii's Node process writes on stderr (the banner jsii's
runtime prints for Node 20, then one of its JSON console messages), as jsii's reader thread does;
and a real synthesis in a fresh process shows the banner readable, or nothing when Node is current.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from infra.node_messages import banner_text, readable_sink

ROOT = Path(__file__).resolve().parents[2]
#: as the bootstrap synthesis does: infra.core first (it imported constructs before infra.cdk)
_SYNTH_AN_EMPTY_APP = """
from infra.core import synth_app
from infra.cdk import App, TerraformStack
app = App(outdir="out")
TerraformStack(app, "empty")
app.synth()
"""

#: what jsii's runtime wrote for Node 20 (tenantml up's output showed each line as a bytes repr)
BANNER = [
    "!" * 91,
    "!!" + " " * 87 + "!!",
    "!!  Node 20 is end-of-life and not supported anymore by this software since 2026-10-30.  !!",
    "!!  Please upgrade to a supported node version as soon as possible.                      !!",
    "!!" + " " * 87 + "!!",
    "!!  This software is currently running on node v20.20.2.                                 !!",
    "!!  As of the current release of this software, supported node releases are:             !!",
    "!!  - ^24.0.0 (Planned end-of-life: 2028-04-30)                                          !!",
    "!!  - ^22.0.0 (Planned end-of-life: 2027-04-30)                                          !!",
    "!!" + " " * 87 + "!!",
    "!" * 91,
]
EXPECTED = (
    "jsii: Node 20 is end-of-life and not supported anymore by this software since 2026-10-30. "
    "Please upgrade to a supported node version as soon as possible. "
    "This software is currently running on node v20.20.2. "
    "As of the current release of this software, supported node releases are: "
    "^24.0.0 (Planned end-of-life: 2028-04-30), ^22.0.0 (Planned end-of-life: 2027-04-30)"
)


def _through_a_pipe(payload: bytes) -> None:
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as reader:
        sink = threading.Thread(target=readable_sink, args=(reader,))
        sink.start()
        with os.fdopen(write_end, "wb") as writer:
            writer.write(payload)
        sink.join(timeout=10)
    assert not sink.is_alive()


def test_given_the_node_end_of_life_banner_on_jsiis_stderr_when_read_then_it_is_one_readable_line(capfd):
    # given: the banner, with the colours jsii adds on a terminal, then a console message of the program
    coloured = [f"\x1b[41m\x1b[37m\x1b[1m{line}\x1b[22m\x1b[39m\x1b[49m" for line in BANNER]
    console = json.dumps({"stderr": base64.b64encode(b"from the program\n").decode()})

    # when
    _through_a_pipe(("\n".join(coloured) + "\n" + console + "\n").encode())

    # then: one line of text for the banner, no bytes repr, and the program's own output as written
    assert capfd.readouterr().err.splitlines() == [EXPECTED, "from the program"]


def test_given_a_line_outside_the_protocol_when_read_then_it_is_printed_as_text_not_as_bytes(capfd):
    # when
    _through_a_pipe(b"(node:42) Warning: something Node says\n")

    # then
    assert capfd.readouterr().err == "(node:42) Warning: something Node says\n"


def test_banner_text_drops_the_frame_and_joins_the_list_items():
    assert banner_text(BANNER) == EXPECTED.removeprefix("jsii: ")


def test_given_a_fresh_process_when_it_synthesizes_then_no_bytes_repr_reaches_its_output(tmp_path):
    # when: a fresh interpreter imports the constructs and synthesizes an app (the Node process starts)
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            _SYNTH_AN_EMPTY_APP,
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    # then: whatever jsii says about this machine's Node is text, and said at most once
    assert completed.returncode == 0, completed.stderr
    output = completed.stdout + completed.stderr
    assert "b'!!" not in output
    assert output.count("is end-of-life") <= 1
