"""``[generator] memory = "notes"`` through the real CLI, with the ``openai`` backend against the loopback server:
each note after a patient's first is prompted with that patient's earlier notes (and no other patient's), a
patient's notes are requested in order and never two at once while 20 patients run at concurrency 32, a
SIGKILL + ``--resume`` exports byte-identical files, and a Ray run equals a local run.

The server's reply carries a digest of its prompt (``(ref …)`` in the Assessment, so the summary carries it):
a note is identified by its ref, and a prompt's refs say which notes it was given.
"""

from __future__ import annotations

import json
import re
import signal
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from fakeserver import FakeLLMServer
from llm_helpers import MODELS, SECRET

from dualalign_core.plugins import get_registry
from dualalign_core.testing.fake_vendor import ref_digest

sys.path.insert(0, str(Path(__file__).parents[1]))
from support import cli_env, dualalign  # noqa: E402

pytestmark = pytest.mark.skipif("alzheimers" not in get_registry().names("disease"), reason="needs the AD pack")

PATIENTS, NOTES_EACH, CONCURRENCY = 20, 3, 32
NOTE = (
    "S: Patient reports forgetting appointments. Daughter is worried.\n"
    "O: Alert, oriented.\nA: Memory decline noted (ref {ref}).\nP: Follow up in 3 months."
)
REF = re.compile(r"ref ([a-p]{8})")
KILL_ENV = "DUALALIGN_TEST_KILL_AFTER_CACHE_PUT"


def write_config(path: Path, url: str, *, executor: str = "local") -> Path:
    path.write_text(
        f'[run]\nseed = 11\npatients = {PATIENTS}\nmax_notes_per_patient = {NOTES_EACH}\nexecutor = "{executor}"\n'
        '[ray]\nworkers = 2\nnum_cpus = 0.5\nforward_env = ["OPENAI_API_KEY"]\n'
        '[disease]\nname = "alzheimers"\n'
        f'[generator]\nname = "openai"\nmodel = "{MODELS["openai"]}"\nconcurrency = {CONCURRENCY}\nmemory = "notes"\n'
        f'options = {{ base_url = "{url}/v1", timeout = 5, backoff_initial = 0.01, max_attempts = 4 }}\n'
        '[annotator]\nname = "lexicon"\n[filters]\nuse = ["identifiers"]\n'
    )
    return path


def env(**extra: str) -> dict[str, str]:
    return cli_env(OPENAI_API_KEY=SECRET["openai"], **extra)


def export(run: Path, out: Path) -> dict[str, bytes]:
    result = dualalign("export", str(run), "--format", "jsonl", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.suffix == ".jsonl"}


def prompt_of(req: dict) -> str:
    return "\n".join(str(m.get("content")) for m in req["messages"])  # what the server digests for {ref}


@pytest.fixture(scope="module")
def server():
    srv = FakeLLMServer(latency=0.05, note_text=NOTE).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def reference(server, tmp_path_factory):
    """An uninterrupted local run: its config, export and the server's requests while it ran."""
    base = tmp_path_factory.mktemp("memory")
    cfg = write_config(base / "notes.toml", server.url)
    first = len(server.bodies)
    result = dualalign("run", str(cfg), "--out", str(base / "run"), "--quiet", env=env())
    assert result.returncode == 0, result.stderr
    return {"cfg": cfg, "dir": base, "export": export(base / "run", base / "export"), "first": first}


def test_each_note_remembers_its_own_patients_earlier_notes_in_order(server, reference):
    notes = [json.loads(line) for line in reference["export"]["notes.jsonl"].splitlines()]
    plans = {p["id"]: p for p in map(json.loads, reference["export"]["plans.jsonl"].splitlines())}
    assert len(notes) == PATIENTS * NOTES_EACH and {n["status"] for n in notes} == {"accepted"}
    ref_of = {n["id"]: REF.search(n["text"]).group(1) for n in notes}
    note_of = {ref: nid for nid, ref in ref_of.items()}
    requests: dict[str, list[tuple[int, set[str]]]] = defaultdict(list)  # patient -> (request index, refs given)
    by_note: dict[str, int] = {}
    for i in range(reference["first"], len(server.bodies)):
        _, req = server.bodies[i]
        prompt = prompt_of(req)
        own = ref_digest(prompt)
        if own not in note_of:  # not a note's request (an annotator's, a retry's)
            continue
        nid = note_of[own]
        by_note[nid] = i
        requests[plans[nid]["persona_id"]].append((i, set(REF.findall(prompt))))
    assert len(by_note) == len(notes)
    for patient, made in requests.items():
        mine = sorted((plans[n["id"]]["index"], n["id"]) for n in notes if n["persona_id"] == patient)
        ids = [nid for _, nid in mine]
        assert [by_note[nid] for nid in ids] == [i for i, _ in made]  # requested in plan order
        for k, nid in enumerate(ids):
            assert made[k][1] == {ref_of[e] for e in ids[:k]}, (patient, k)  # its own earlier notes, no others
            if k:  # the previous note's reply was sent before this note was requested: never two in flight
                assert server.replied[by_note[ids[k - 1]]] <= server.arrivals[by_note[nid]]
    for n in notes:  # what each note was conditioned on: its patient's earlier notes, most recent first
        mine = sorted((plans[m["id"]]["index"], m["id"]) for m in notes if m["persona_id"] == n["persona_id"])
        earlier = [nid for index, nid in mine if index < plans[n["id"]]["index"]]
        assert n["conditioned_on"] == earlier[::-1] and n["memory_hash"]
    assert server.max_in_flight > 1  # many patients at once


def test_sigkill_and_resume_exports_what_an_uninterrupted_run_does(reference, tmp_path):
    run = tmp_path / "killed"
    killed = dualalign(
        "run", str(reference["cfg"]), "--out", str(run), "--quiet", env=env(**{KILL_ENV: str(PATIENTS + 7)})
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr  # mid-run: after the first notes' replies
    resumed = dualalign("run", "--resume", "--out", str(run), "--quiet", env=env())
    assert resumed.returncode == 0, resumed.stderr
    assert export(run, tmp_path / "export") == reference["export"]


def test_ray_run_equals_a_local_run(reference, server, tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        cfg = write_config(tmp_path / "ray.toml", server.url, executor="ray")
        result = dualalign("run", str(cfg), "--out", str(tmp_path / "ray"), "--quiet", env=env())
        assert result.returncode == 0, result.stderr
    finally:
        ray.shutdown()
    manifest = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert manifest["executor"]["name"] == "ray" and manifest["status"] == "finished"
    assert export(tmp_path / "ray", tmp_path / "export") == reference["export"]


def test_a_failed_note_blocks_its_chain_and_resume_continues_it(server, reference, tmp_path):
    """A patient's second note fails (the server answers 500 to every prompt carrying its first note's ref): its
    third note is not requested in that invocation; ``--resume`` makes both, as an uninterrupted run does."""
    notes = [json.loads(line) for line in reference["export"]["notes.jsonl"].splitlines()]
    patient = notes[0]["persona_id"]
    mine = [n for n in notes if n["persona_id"] == patient]  # plan order: the export's order
    first_ref = REF.search(mine[0]["text"]).group(1)
    run = tmp_path / "failing"
    server.fault_on = {first_ref: "500"}
    try:
        before = len(server.bodies)
        failed = dualalign("run", str(reference["cfg"]), "--out", str(run), "--quiet", env=env())
        asked = [prompt_of(req) for _, req in server.bodies[before:]]
    finally:
        server.fault_on = {}
    assert failed.returncode == 1 and "failed" in failed.stderr, failed.stderr
    # every prompt remembering the first note is the second note's (retried): the third was never asked for
    assert len({p for p in asked if first_ref in p}) == 1
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "finished_with_failures"
    assert manifest["counts"]["units"] == {"accepted": len(notes) - 2, "failed": 1}  # the third never started
    resumed = dualalign("run", "--resume", "--out", str(run), "--quiet", env=env())
    assert resumed.returncode == 0, resumed.stderr
    assert export(run, tmp_path / "export") == reference["export"]
