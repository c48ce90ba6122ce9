"""The task vocabulary every layer shares: Hugging Face pipeline tags, and the TF Hub task ids
that map onto them. Core: it imports nothing of ptmhub, so the store, the hubs and the catalogs
can all use it."""

from __future__ import annotations

__all__ = ["KNOWN_TASKS", "TASK_TO_PIPELINE", "pipeline_task"]

#: Hugging Face pipeline tags (the task vocabulary records use); ``--task`` also accepts TF Hub's
#: task ids and any task a stored model has.
KNOWN_TASKS = frozenset({
    "text-classification", "token-classification", "table-question-answering", "question-answering",
    "zero-shot-classification", "translation", "summarization", "feature-extraction", "text-generation",
    "text2text-generation", "fill-mask", "sentence-similarity", "text-ranking", "text-to-speech",
    "text-to-audio", "automatic-speech-recognition", "audio-to-audio", "audio-classification",
    "voice-activity-detection", "depth-estimation", "image-classification", "object-detection",
    "image-segmentation", "text-to-image", "image-to-text", "image-to-image", "image-to-video",
    "unconditional-image-generation", "video-classification", "reinforcement-learning", "robotics",
    "tabular-classification", "tabular-regression", "tabular-to-text", "table-to-text",
    "multiple-choice", "text-retrieval", "time-series-forecasting", "text-to-video",
    "image-text-to-text", "visual-question-answering", "document-question-answering",
    "zero-shot-image-classification", "graph-ml", "mask-generation", "zero-shot-object-detection",
    "text-to-3d", "image-to-3d", "image-feature-extraction", "video-text-to-text", "keypoint-detection",
    "visual-document-retrieval", "any-to-any", "video-to-video", "audio-text-to-text", "other",
})

#: TF Hub task ids with an exact Hugging Face pipeline-tag equivalent. ``record.task`` takes the
#: pipeline tag so that one ``--task`` finds models on every hub; the TF Hub ids stay in
#: ``extra["metadata"]["task"]`` and in ``tags``. Ids without an equivalent are kept as they are.
TASK_TO_PIPELINE = {
    "image-classification": "image-classification",
    "image-classifier": "image-classification",
    "image-classification-logits": "image-classification",
    "image-feature-vector": "image-feature-extraction",
    "image-object-detection": "object-detection",
    "image-segmentation": "image-segmentation",
    "image-depth-estimation": "depth-estimation",
    "image-pose-detection": "keypoint-detection",
    "text-embedding": "feature-extraction",
    "text-classification": "text-classification",
    "text-generation": "text-generation",
    "text-question-answering": "question-answering",
    "audio-stt": "automatic-speech-recognition",
    "audio-speech-synthesis": "text-to-speech",
    "audio-event-classification": "audio-classification",
    "audio-command-detection": "audio-classification",
    "video-classification": "video-classification",
}


def pipeline_task(task: str) -> str:
    """The pipeline tag for a task name from any hub (a TF Hub id or already a tag)."""
    return TASK_TO_PIPELINE.get(task, task)
