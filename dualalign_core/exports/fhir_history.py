"""FHIR resources for a patient's history: an Encounter per note (its author's role, never a name), a
MedicationStatement per medication course, an Observation per score and vital.

Times are years before diagnosis, dated back from the anchor exactly like the notes
(:func:`dated`). Codes come from the pack's history table (``scores[].code``,
``vitals[].code``); a measurement the pack gives no code is described by text only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

from dualalign_core.disease import DiseasePack
from dualalign_core.history.timeline import Clinician, Measurement, Medication, Timeline

SYSTEM = "urn:dualalign"
EXT = "urn:dualalign:fhir:extension:"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CATEGORY = {"vital": ("vital-signs", "Vital Signs"), "score": ("survey", "Survey")}


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    return {"system": system, "code": code, **({"display": display} if display else {})}


def dated(anchor: date, years: float) -> datetime:
    """The moment ``years`` before the anchor (midnight UTC, 365.25-day years): every date a Bundle carries."""
    return datetime.combine(anchor, datetime.min.time(), tzinfo=timezone.utc) - timedelta(days=round(years * 365.25))


def _day(anchor: date, years: float) -> str:
    return dated(anchor, years).date().isoformat()


def _stamp(anchor: date, years: float) -> str:
    return dated(anchor, years).isoformat().replace("+00:00", "Z")


def measurement_codes(disease: DiseasePack | None) -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, measurement id) -> the pack's coding for it (``vital`` from ``vitals``, ``score`` from ``scores``)."""
    history = (disease.history if disease else None) or {}
    out = {}
    for kind, key in (("vital", "vitals"), ("score", "scores")):
        for item in history.get(key, ()):
            if item.get("code"):
                out[(kind, item["id"])] = dict(item["code"])
    return out


def indication_titles(disease: DiseasePack | None) -> dict[str, str]:
    """Risk factor or problem id -> its title in the pack."""
    if disease is None:
        return {}
    titles = {f["id"]: f.get("title", f["id"]) for f in disease.risk_factors.get("factors", ())}
    titles.update({p["id"]: p.get("title", p["id"]) for p in (disease.history or {}).get("problems", ())})
    return titles


def encounter(
    rid: str,
    note_id: str,
    note_type: tuple[str, str],
    years: float,
    clinician: Clinician | None,
    subject: dict[str, Any],
    meta: dict[str, Any],
    anchor: date,
) -> dict[str, Any]:
    """The visit a note documents: ambulatory, on the note's date, attended by its author's role."""
    day = _day(anchor, years)
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": rid,
        "meta": meta,
        "identifier": [{"system": f"{SYSTEM}:note", "value": note_id}],
        "status": "finished",
        "class": coding(ACT_CODE, "AMB", "ambulatory"),
        "type": [{"coding": [coding(f"{SYSTEM}:note-type", note_type[0], note_type[1])], "text": note_type[1]}],
        "subject": subject,
        "period": {"start": day, "end": day},
    }
    if clinician is not None:
        resource["participant"] = [
            {
                "extension": [{"url": f"{EXT}clinician", "valueString": clinician.id}],
                "type": [
                    {"coding": [coding(PARTICIPATION, "ATND", "attender")]},
                    {"text": clinician.role},
                ],
            }
        ]
    return resource


def medication_statement(
    rid: str,
    persona_id: str,
    m: Medication,
    indication: str,
    subject: dict[str, Any],
    meta: dict[str, Any],
    anchor: date,
) -> dict[str, Any]:
    """One course: ``active`` or ``stopped`` (with its reason), the period it ran, its indication, each dose."""
    period = {"start": _day(anchor, m.start), **({"end": _day(anchor, m.stop)} if m.stop is not None else {})}
    ends = [d.years_before_diagnosis for d in m.doses[1:]] + [m.stop]
    dosage = []
    for d, end in zip(m.doses, ends, strict=True):
        bounds = {"start": _day(anchor, d.years_before_diagnosis)}
        if end is not None:
            bounds["end"] = _day(anchor, end)
        dosage.append({"text": d.dose, "timing": {"repeat": {"boundsPeriod": bounds}}})
    resource: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "id": rid,
        "meta": meta,
        "identifier": [{"system": f"{SYSTEM}:medication", "value": f"{persona_id}/{m.id}"}],
        "status": "stopped" if m.stop is not None else "active",
        "medicationCodeableConcept": {"coding": [coding(f"{SYSTEM}:drug", m.drug, m.drug)], "text": m.drug},
        "subject": subject,
        "effectivePeriod": period,
        "reasonCode": [{"coding": [coding(f"{SYSTEM}:indication", m.indication, indication)], "text": indication}],
        "dosage": dosage,
        "extension": [{"url": f"{EXT}drug-class", "valueString": m.drug_class}],
    }
    if m.stop is not None and m.stop_reason:
        resource["statusReason"] = [{"text": m.stop_reason}]
    return resource


def observation(
    rid: str,
    m: Measurement,
    code: Mapping[str, Any] | None,
    encounter_ref: str | None,
    subject: dict[str, Any],
    meta: dict[str, Any],
    anchor: date,
) -> dict[str, Any]:
    """A score or vital at its date, coded with the pack's code when it gives one, else described by text."""
    cat = CATEGORY.get(m.kind, (m.kind, m.kind))
    concept: dict[str, Any] = {"text": m.title}
    if code:
        concept = {"coding": [coding(code["system"], code["code"], code.get("display"))], "text": m.title}
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": rid,
        "meta": meta,
        "status": "final",
        "category": [{"coding": [coding(OBSERVATION_CATEGORY, *cat)]}],
        "code": concept,
        "subject": subject,
        "effectiveDateTime": _stamp(anchor, m.years_before_diagnosis),
        "valueQuantity": {"value": m.value, **({"unit": m.unit} if m.unit else {})},
    }
    if encounter_ref:
        resource["encounter"] = {"reference": encounter_ref}
    if m.maximum is not None:
        resource["extension"] = [{"url": f"{EXT}scale-maximum", "valueDecimal": m.maximum}]
    return resource


def history_resources(
    timeline: Timeline,
    disease: DiseasePack | None,
    encounters: Mapping[str, str],
    subject: dict[str, Any],
    meta: dict[str, Any],
    anchor: date,
    rid: Any,
) -> list[dict[str, Any]]:
    """MedicationStatements (timeline order), then Observations: those taken on their own or at a note that
    is exported (``encounters``: plan id -> Encounter reference)."""
    titles, codes = indication_titles(disease), measurement_codes(disease)
    pid = timeline.persona_id
    out = [
        medication_statement(
            rid("MedicationStatement", f"{pid}/{m.id}"),
            pid,
            m,
            titles.get(m.indication, m.indication),
            subject,
            meta,
            anchor,
        )
        for m in timeline.medications
    ]
    for i, m in enumerate(timeline.measurements):
        if m.note_id is not None and m.note_id not in encounters:
            continue  # taken at a note that was not accepted: the visit is not in the export
        ref = encounters.get(m.note_id) if m.note_id else None
        out.append(
            observation(rid("Observation", f"{pid}/{i}"), m, codes.get((m.kind, m.id)), ref, subject, meta, anchor)
        )
    return out


__all__ = [
    "EXT",
    "SYSTEM",
    "coding",
    "dated",
    "encounter",
    "history_resources",
    "indication_titles",
    "measurement_codes",
    "medication_statement",
    "observation",
]
