"""The pack-driven note grammar: labels match what it wrote, fallback, schema errors, determinism."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from dualalign_core.annotate.from_plan import PlanAnnotator, labels_for
from dualalign_core.annotate.lexicon import LexiconAnnotator
from dualalign_core.builtin.template_generator import TemplateGenerator
from dualalign_core.context import RunContext
from dualalign_core.disease import DiseasePack
from dualalign_core.errors import BadInput
from dualalign_core.grammar import FALLBACK, NoteGrammar, bank_for
from dualalign_core.grammar.label_recovery import grammar_agreement
from dualalign_core.records import Note, Sentence, Usage
from dualalign_core.sampling.personas import PrevalencePersonaSource
from dualalign_core.sampling.trajectory import StageScheduleSampler
from dualalign_core.text.segment import segment

ROOT = Path(__file__).resolve().parents[1]
AD = ROOT / "plugins" / "dualalign-alzheimers" / "dualalign_alzheimers" / "data"
TOY = ROOT / "tests" / "data" / "toy_pack"


@pytest.fixture(scope="module")
def ad() -> DiseasePack:
    return DiseasePack.from_directory(AD)


def plans_of(pack: DiseasePack, n: int = 2, seed: int = 3):
    ctx = RunContext(run_id="t", seed=seed, disease=pack)
    for persona in PrevalencePersonaSource().sample(pack, n, seed, ctx):
        for plan in StageScheduleSampler().plan(persona, pack, seed, ctx)[-4:]:
            yield plan, persona


def sentences_of(text: str) -> list[Sentence]:
    return [
        Sentence(id=f"s{i}", note_id="n", index=i, start=s.start, end=s.end, text=s.text, section=s.section)
        for i, s in enumerate(segment(text))
    ]


def test_labels_match_what_the_grammar_wrote(ad: DiseasePack) -> None:
    grammar = NoteGrammar(ad)
    assert not grammar.bank.fallback
    kinds: Counter[str] = Counter()
    for plan, persona in plans_of(ad):
        note = grammar.compose(plan, persona, seed=plan.index)
        symptoms = [w for w in note.sentences if w.kind.startswith("symptom")]
        # one symptom sentence per required term, labelled with the plan's category
        assert [(w.term_id, w.label) for w in symptoms] and sorted((w.term_id, w.label) for w in symptoms) == sorted(
            (t.term_id, t.label) for t in plan.required_terms
        )
        for span, w in zip(note.spans, note.sentences, strict=True):
            assert note.text[span.start : span.end] == w.text and span.label == w.label
            if not w.kind.startswith("symptom"):
                assert w.label == ad.negative_label
        # segmented sentences get the label of the sentence they came from
        sents = sentences_of(note.text)
        got = Counter(lab for lab, _ in labels_for(sents, note.spans, ad) if lab != ad.negative_label)
        assert got == Counter(t.label for t in plan.required_terms)
        kinds.update(w.kind.split(":")[0] for w in note.sentences)
    assert kinds["negative"] > 0 and kinds["filler"] > kinds["negative"]
    assert "{" not in "".join(w.text for w in note.sentences)


def test_third_party_voices_carry_the_third_party_label(ad: DiseasePack) -> None:
    grammar = NoteGrammar(ad)
    assert ad.third_party_label == "notice_by_others"
    assert set(grammar._voices_for("notice_by_others")) == set(grammar.bank.third_party_voices)
    assert not set(grammar._voices_for("cognitive_impairment")) & set(grammar.bank.third_party_voices)
    assert set(grammar.bank.third_party_voices) <= set(grammar._voices_for("requiring_assistance"))


def test_same_seed_same_note_and_labels(ad: DiseasePack) -> None:
    plan, persona = next(plans_of(ad))
    a, b = NoteGrammar(ad).compose(plan, persona, 7), NoteGrammar(ad).compose(plan, persona, 7)
    assert a.text == b.text and a.spans == b.spans
    assert NoteGrammar(ad).compose(plan, persona, 8).text != a.text


def test_pack_without_phrase_banks_falls_back() -> None:
    toy = DiseasePack.from_directory(TOY)
    assert toy.grammar is None and bank_for(toy) is FALLBACK
    for plan, persona in plans_of(toy, n=1):
        note = NoteGrammar(toy).compose(plan, persona, 1)
        assert sorted(w.label for w in note.sentences if w.kind.startswith("symptom")) == sorted(
            t.label for t in plan.required_terms
        )
        variants = {e["id"]: e.get("variants", []) for e in toy.lexicon["terms"]}
        for t in plan.required_terms:  # the term, or one of its lexicon variants
            assert any(v.lower() in note.text.lower() for v in [t.term, *variants.get(t.term_id, [])]), t


def test_plan_annotator_uses_the_generation(ad: DiseasePack) -> None:
    plan, persona = next(plans_of(ad))
    ctx = RunContext(run_id="t", seed=1, disease=ad)
    gen = asyncio.run(TemplateGenerator().generate(plan, persona, 5, ctx))
    note = Note(
        id="n",
        plan_id=plan.id,
        persona_id=persona.id,
        text=gen.text,
        usage=Usage(),
        provenance=ctx.provenance(TemplateGenerator, 5),
    )
    sents = sentences_of(gen.text)
    ann = asyncio.run(PlanAnnotator().annotate_generation(note, sents, gen, ctx))
    assert Counter(lb.label for lb in ann.labels if lb.binary) == Counter(t.label for t in plan.required_terms)
    with pytest.raises(BadInput, match="plan annotator"):
        asyncio.run(PlanAnnotator().annotate(note, sents, ctx))


def test_lexicon_annotator_agrees_with_the_grammar(ad: DiseasePack) -> None:
    q = grammar_agreement(ad, LexiconAnnotator(), patients=1)
    assert q.n > 200 and q.binary.f1 > 0.75 and q.accuracy > 0.8


def test_lexicon_matches_realisation_cues(ad: DiseasePack) -> None:
    ann = LexiconAnnotator()
    assert ann.label_text("Her daughter pays her bills online now.", ad).label == "requiring_assistance"
    assert ann.label_text("He denies that his daughter pays his bills.", ad).label == ad.negative_label
    assert (
        LexiconAnnotator(use_cues=False).label_text("Her daughter pays her bills online now.", ad).label
        == ad.negative_label
    )


def _broken_pack(tmp_path: Path, edit) -> Path:
    pack = tmp_path / "pack"
    shutil.copytree(AD, pack)
    doc = json.loads((pack / "grammar.json").read_text())
    edit(doc)
    (pack / "grammar.json").write_text(json.dumps(doc))
    return pack


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d["voices"]["patient"].__setitem__(0, 5), "voices.patient[0]"),
        (lambda d: d["realisations"]["forgetfulness"].append({"txt": "x"}), "realisations.forgetfulness[5]"),
        (lambda d: d["realisations"].__setitem__("no_such_term", ["{he} x"]), "realisations.no_such_term"),
        (lambda d: d["voices"]["patient"].append("{Pt} says {colour}."), "voices.patient[10]"),
        (lambda d: d["voices"]["patient"].append("{Pt} says nothing."), "voices.patient[10]"),
        (lambda d: d["hard_negatives"]["negated"].__setitem__("section", "X"), "hard_negatives.negated.section"),
    ],
)
def test_malformed_phrase_bank_names_file_and_field(tmp_path: Path, edit, field: str) -> None:
    pack = _broken_pack(tmp_path, edit)
    with pytest.raises(BadInput) as exc:
        DiseasePack.from_directory(pack)
    assert exc.value.file and exc.value.file.endswith("grammar.json")
    assert exc.value.field == field, str(exc.value)


def test_grammar_options_reach_the_notes_through_the_cli(tmp_path):
    """``[generator] options`` of the template generator change what a `dualalign run` writes: more filler and
    hard negatives per mention give more negative-label sentences around the same planned mentions."""
    from typer.testing import CliRunner

    from dualalign_core.cli import app
    from dualalign_core.run.store import RunStore

    example = (Path(__file__).resolve().parents[1] / "examples" / "alzheimers-template.toml").read_text()

    def negatives(options: str) -> tuple[int, int]:
        cfg = tmp_path / f"c{abs(hash(options))}.toml"
        cfg.write_text(
            example.replace(
                '[generator]\nname = "template"', f'[generator]\nname = "template"\noptions = {{ {options} }}'
            )
        )
        out = tmp_path / f"run{abs(hash(options))}"
        res = CliRunner().invoke(app, ["run", str(cfg), "--patients", "1", "--out", str(out), "--quiet"])
        assert res.exit_code == 0, res.output
        with RunStore(out) as store:
            labels = [lab.label for lab in store.iter_records("labels")]
        return sum(label == "none" for label in labels), len(labels)

    few, n_few = negatives("filler_ratio = 0.0, negative_ratio = 0.0")
    # 2.5 fillers a mention: a 25-mention note stays under length_form's 1000 words with its timeline lines
    many, n_many = negatives("filler_ratio = 2.5, negative_ratio = 2.0")
    assert n_many - many == n_few - few  # the planned mentions are the same ...
    assert many / n_many > few / n_few + 0.2  # ... with far more negative-label sentences around them


def test_a_pack_without_a_grammar_writes_notes_the_default_filters_pass(tmp_path):
    """Plain phrasing (no grammar.json): every SOAP section, one vitals line, an opening that reads, and no
    rejection by the core's default filters, through the CLI."""
    import json

    from support import TOY_PACK, dualalign

    cfg = tmp_path / "toy.toml"
    cfg.write_text(
        f'[run]\nseed = 3\npatients = 8\nmax_notes_per_patient = 4\n[disease]\npath = "{TOY_PACK.as_posix()}"\n'
        '[generator]\nname = "template"\n'
    )
    assert dualalign("run", str(cfg), "--out", str(tmp_path / "run"), "-q").returncode == 0
    assert dualalign("export", str(tmp_path / "run"), "--format", "jsonl", "--out", str(tmp_path / "x")).returncode == 0
    notes = [json.loads(line) for line in (tmp_path / "x" / "notes.jsonl").read_text().splitlines()]
    rejections = (tmp_path / "x" / "rejections.jsonl").read_text().splitlines()
    assert len(notes) == 32 and {n["status"] for n in notes} == {"accepted"} and rejections == []
    for note in notes:
        text = note["text"]
        assert all(f"\n{s}: " in "\n" + text for s in "SOAP"), text
        assert text.count("BP ") == 1 and "seen for" not in text, text
