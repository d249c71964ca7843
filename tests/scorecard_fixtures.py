"""Reference sentences written for the scorecard tests (original text, not from any real record), their
light edits and paraphrases, and helpers that plant them into a run's notes."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

# (reference sentence, lightly edited copy, paraphrase)
SENTENCES: list[tuple[str, str, str]] = [
    (
        "Her granddaughter found the kettle boiled dry on the stove three mornings in a row last week.",
        "Her granddaughter found the kettle boiled dry on the stove three mornings running last week.",
        "Three mornings last week a grandchild discovered an empty kettle scorching on the hob.",
    ),
    (
        "The patient could not recall which bus route he takes to the library every Tuesday afternoon.",
        "The patient could not remember which bus route he takes to the library every Tuesday afternoon.",
        "He was unable to say what bus he rides to the public library on Tuesdays.",
    ),
    (
        "She has started leaving handwritten notes to herself taped across the refrigerator door and mirrors.",
        "She has started leaving hand written notes to herself taped across the fridge door and mirrors.",
        "Reminder slips now cover her fridge and bathroom mirror, written in her own hand.",
    ),
    (
        "Neighbours reported that he walked to the post office in slippers during the snowstorm on Sunday.",
        "Neighbors reported that he walked to the post office in his slippers during the snowstorm on Sunday.",
        "On Sunday, people next door saw him heading to the mail office in house shoes through heavy snow.",
    ),
    (
        "During the visit she asked the same question about her appointment time at least four separate times.",
        "During today's visit she asked the same question about her appointment time at least four times.",
        "She repeatedly wanted to know when her appointment was, asking roughly four times in one visit.",
    ),
    (
        "Her husband now handles the chequebook because two utility payments were sent to the wrong company.",
        "Her husband now handles the checkbook because two utility payments were sent to the wrong company.",
        "After bills went to the wrong firm twice, her spouse took over the family finances.",
    ),
    (
        "He was unable to copy the intersecting pentagons and abandoned the clock drawing after two minutes.",
        "He was unable to copy intersecting pentagons and abandoned the clock drawing after two minutes.",
        "Figure copying failed and he gave up on drawing the clock face within a couple of minutes.",
    ),
    (
        "The family describes new suspicion that the gardener has been taking tools from the locked shed.",
        "The family describes a new suspicion that the gardener has been taking tools from the locked shed.",
        "Relatives say she has lately accused the yard worker of stealing equipment from the shed.",
    ),
    (
        "She got lost driving home from her sister's house and was found by police two towns away.",
        "She got lost driving home from her sisters house and was found by the police two towns away.",
        "Police located her in a distant town after she lost her way returning from a sibling's home.",
    ),
    (
        "His wife notes that he has stopped reading the newspaper because he loses track of each article.",
        "His wife notes he has stopped reading the newspaper because he loses track of each article.",
        "According to his spouse, he gave up the daily paper since he can no longer follow a story.",
    ),
    (
        "The caregiver has installed door alarms after he was found wandering the parking lot at midnight.",
        "The caregiver installed door alarms after he was found wandering in the parking lot at midnight.",
        "Alarms went onto the doors once staff found him roaming outside among the cars late at night.",
    ),
    (
        "She mistook her reflection in the hallway mirror for an intruder and called her son in a panic.",
        "She mistook her reflection in the hall mirror for an intruder and called her son in a panic.",
        "Thinking a stranger was in the corridor, she phoned her son frightened, though it was her own image.",
    ),
    (
        "He no longer recognises the grandchildren in recent photographs but names his siblings from the war years.",
        "He no longer recognizes the grandchildren in recent photographs but names his siblings from the war years.",
        "Old family members from wartime he can name, yet the grandkids in new pictures are strangers to him.",
    ),
    (
        "Medication boxes brought to clinic showed that the evening doses had been skipped for about ten days.",
        "Medication boxes brought to the clinic showed that evening doses had been skipped for about ten days.",
        "Pill organisers revealed roughly a week and a half of missed night-time tablets.",
    ),
    (
        "The daughter is worried because her mother gave a large cash gift to a stranger on the telephone.",
        "The daughter is worried because her mother gave a large cash gift to a stranger over the telephone.",
        "A phone caller she did not know received a big sum of money from her, alarming her child.",
    ),
    (
        "Speech is fluent but she substitutes the word thing for most nouns when describing her morning.",
        "Speech is fluent but she substitutes the word thing for most of the nouns when describing her morning.",
        "While talking about her day she keeps saying stuff in place of the names of objects.",
    ),
    (
        "He put the television remote in the freezer and later accused his wife of hiding it from him.",
        "He put the TV remote in the freezer and later accused his wife of hiding it from him.",
        "After storing the remote control among frozen food, he blamed his spouse for concealing it.",
    ),
    (
        "She repeated three words immediately but recalled none of them after a five minute delay.",
        "She repeated the three words immediately but recalled none of them after a five-minute delay.",
        "Immediate registration was intact though delayed recall of the word list was zero.",
    ),
    (
        "The home health aide reports that he now needs prompting to shower and change his clothes daily.",
        "The home health aide reports he now needs prompting to shower and to change his clothes daily.",
        "His aide must remind him each day to bathe and put on fresh clothing.",
    ),
    (
        "Over the summer she stopped attending the quilting circle she had organised for twenty years.",
        "Over the summer she stopped attending the quilting circle she had organized for twenty years.",
        "The sewing group she ran for two decades no longer sees her since the warm months.",
    ),
]
EXTRA_REFERENCE = [
    "Retired schoolteacher who still volunteers at the church food pantry on alternate Thursdays.",
    "Lives alone in a two storey house with the bedroom upstairs and a steep flight of stairs.",
    "Daughter visits twice a week and manages the grocery delivery account on her behalf.",
    "He reports sleeping in the recliner most nights because the bed feels too far from the bathroom.",
    "Hearing aids were lost at the beach in July and have not been replaced since then.",
    "She enjoys crossword puzzles but says the clues have become harder than they used to be.",
    "The patient's son flew in from another state to attend this appointment with his father.",
    "No falls reported since the grab bars were installed in the bathroom last spring.",
]


def reference_records() -> list[dict[str, str]]:
    return [{"text": s[0]} for s in SENTENCES] + [{"text": t} for t in EXTRA_REFERENCE]


def write_jsonl(path: Path, records: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def plant(run_dir: Path, kind: int, rate: float, seed: int = 0) -> set[str]:
    """Insert sentence variant ``kind`` (0 verbatim, 1 edited, 2 paraphrase) into ``rate`` of the accepted
    notes, one per note, after a random sentence of the note; returns the planted note ids."""
    from dualalign_core.run.view import RunView

    with RunView(run_dir) as view:
        accepted = {n.id for n in view.accepted}
    db = sqlite3.connect(run_dir / "run.sqlite")
    try:
        rows = [r for r in db.execute("SELECT id, data FROM notes ORDER BY id") if r[0] in accepted]
        rng = random.Random(seed)
        chosen = rng.sample(rows, max(1, int(round(len(rows) * rate))))
        from dualalign_core.text.segment import segment

        for i, (nid, data) in enumerate(chosen):
            doc = json.loads(data)
            text = doc["text"]
            ends = [s.end for s in segment(text)][:-1] or [len(text)]  # after a whole sentence, as a writer would
            at = ends[rng.randrange(len(ends))]
            doc["text"] = f"{text[:at]} {SENTENCES[i % len(SENTENCES)][kind]}{text[at:]}"
            db.execute("UPDATE notes SET data = ? WHERE id = ?", (json.dumps(doc), nid))
        db.commit()
        return {nid for nid, _ in chosen}
    finally:
        db.close()
