"""The ``classifier`` annotator: a model directory written by ``dualalign train`` labels sentences.

A team pays an LLM to label a small cohort, trains on it, and labels the large cohort locally. Notes in flight
(``concurrency``) queue their sentences; one prediction call at a time takes everything queued, in batches of
``batch_size``, in a worker thread, so the event loop keeps feeding it while the model runs.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from dualalign_core.api import Annotation, Annotator, BadInput, Label, Note, Sentence

if TYPE_CHECKING:  # numpy is imported when the annotator labels, not when plugins are listed
    import numpy as np

_LOAD_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _load(model_dir: str) -> tuple[Any, dict[str, Any]]:
    """The trained classifier and its ``dualalign-model.json`` meta, once per process and directory."""
    from dualalign_core.api import load_model

    with _LOAD_LOCK:
        return load_model(model_dir)


class ClassifierAnnotator(Annotator):
    """Labels sentences with a trained sentence classifier (any trainer's model directory)."""

    name = "classifier"
    concurrency: ClassVar[int] = 64  # notes in flight; their sentences share prediction batches
    options_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["model_dir"],
        "properties": {
            "model_dir": {"type": "string", "description": "model directory written by `dualalign train`"},
            "batch_size": {"type": "integer", "minimum": 1, "default": 64},
        },
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.model_dir = Path(self.options["model_dir"]).expanduser()
        if not (self.model_dir / "dualalign-model.json").is_file():
            raise ValueError(
                f"model_dir {str(self.model_dir)!r} is not a model directory from `dualalign train` "
                "(no dualalign-model.json)"
            )
        self.batch_size = int(self.options["batch_size"])
        self._queue: list[tuple[list[str], asyncio.Future[np.ndarray]]] = []
        self._lock: asyncio.Lock | None = None
        self._load_lock: asyncio.Lock | None = None
        self._loaded: tuple[Any, dict[str, Any]] | None = None
        self.batches = 0  # prediction calls made (each covering one or more notes)

    @property
    def model(self) -> str | None:
        return str(self.model_dir)

    def preflight(self) -> None:
        """Cheap checks before any work (``validate`` runs them too): the model's metadata and its files."""
        from dualalign_core.api import check_trained_model

        check_trained_model(self.model_dir)

    async def open(self, ctx: Any) -> None:
        """Before the first note: a model whose labels are not the pack's is refused, then the model loads;
        either failure is bad input (exit 2), not a failure of every note."""
        from dualalign_core.api import check_trained_model

        meta = check_trained_model(self.model_dir)
        disease = getattr(ctx, "disease", None)
        if disease is not None:
            self._check(meta, meta.get("negative_label", meta["labels"][0]), disease)
        try:
            await self._ensure_loaded()
        except (OSError, ValueError, KeyError, RuntimeError, ImportError) as exc:
            raise BadInput(f"cannot load the model: {exc}", file=str(self.model_dir)) from None

    async def _ensure_loaded(self) -> tuple[Any, dict[str, Any]]:
        """One load; the notes in flight wait for it, then queue together."""
        if self._loaded is None:
            self._load_lock = self._load_lock or asyncio.Lock()
            async with self._load_lock:
                if self._loaded is None:
                    self._loaded = await asyncio.to_thread(_load, str(self.model_dir.resolve()))
        return self._loaded

    async def annotate(self, note: Note, sentences: Sequence[Sentence], ctx: Any) -> Annotation:
        classifier, meta = await self._ensure_loaded()
        negative = meta.get("negative_label", meta["labels"][0])
        disease = getattr(ctx, "disease", None)
        if disease is not None:
            self._check(meta, negative, disease)
        if not sentences:
            return Annotation(())
        import numpy as np

        probs = await self._predict(classifier, [s.text for s in sentences])
        labels = tuple(meta["labels"])
        out = []
        for s, p in zip(sentences, probs, strict=True):
            lab = labels[int(np.argmax(p))]
            out.append(
                Label(
                    sentence_id=s.id,
                    note_id=note.id,
                    label=lab,
                    binary=lab != negative,
                    annotator=self.name or "classifier",
                    confidence=float(np.max(p)),
                )
            )
        return Annotation(tuple(out))

    def _check(self, meta: dict[str, Any], negative: str, disease: Any) -> None:
        if negative != disease.negative_label:
            raise BadInput(
                f"the model's negative label {negative!r} is not the {disease.name} pack's "
                f"({disease.negative_label!r})",
                file=str(self.model_dir),
                field="negative_label",
            )
        if meta["task"] == "multiclass":
            unknown = set(meta["labels"]) - set(disease.all_labels)
            if unknown:
                raise BadInput(
                    f"the model's labels {sorted(unknown)} are not labels of the {disease.name} pack",
                    file=str(self.model_dir),
                    field="labels",
                )

    async def _predict(self, classifier: Any, texts: list[str]) -> np.ndarray:
        """Queue ``texts``; the first caller to find no prediction running drains the queue."""
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._queue.append((texts, future))
        self._lock = self._lock or asyncio.Lock()
        await asyncio.sleep(0)  # the other notes in flight queue theirs first
        if not self._lock.locked():
            async with self._lock:
                while self._queue:
                    items, self._queue = self._queue, []
                    flat = [t for ts, _ in items for t in ts]
                    try:
                        probs = await asyncio.to_thread(self._probs, classifier, flat)
                    except BaseException as exc:  # every waiting note gets the error
                        for _, f in items:
                            f.set_exception(exc)
                        continue
                    start = 0
                    for ts, f in items:
                        f.set_result(probs[start : start + len(ts)])
                        start += len(ts)
        return await future

    def _probs(self, classifier: Any, texts: list[str]) -> np.ndarray:
        import numpy as np

        self.batches += 1
        if hasattr(classifier, "logits"):
            logits = classifier.logits(texts, batch_size=self.batch_size)
            e = np.exp(logits - logits.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        index = {lb: i for i, lb in enumerate(classifier.labels)}  # a classifier without logits: one-hot
        out = np.zeros((len(texts), len(index)), dtype=np.float32)
        for i, lab in enumerate(classifier.predict(texts)):
            out[i, index[lab]] = 1.0
        return out
