"""The data audit of a folder: duplicates (exact and near) and images likely in the wrong
class folder, both from one pass of the offline pretrained backbone over every image.

Why here (training/, not data/): the features come from EfficientNet-Lite0, through the
feature cache (training/features.py), at AUDIT_IMAGE_SIZE, where the near-duplicate
threshold was measured (benchmarks/bench_audit.py). The near copies found are remembered by
file fingerprint (`duplicates.remember_pairs`), so a training run on the folder afterwards
keeps them on one side of its split without running the backbone first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gpu_assistant.data.duplicates import DuplicateReport, find_duplicates, remember_pairs
from gpu_assistant.data.mislabels import (
    LikelyMislabel,
    likely_mislabels,
    mislabels_json,
    out_of_sample_probabilities,
)
from gpu_assistant.data.scan import ScanResult, scan_folder
from gpu_assistant.jobs import CancelToken, Report, UserError, ignore

AUDIT_IMAGE_SIZE = 224
AUDIT_BATCH = 32
MISLABELS_SHOWN = 50  # the Results page and the CLI list at most this many


def audit_features(scan: ScanResult, *, report: Report, cancel: CancelToken) -> np.ndarray:
    """[N, 1280] pooled ImageNet features of every record, decoded as training decodes, from
    the feature cache where the file is unchanged (a pretrained run at AUDIT_IMAGE_SIZE
    shares it)."""
    import tensorflow as tf

    from gpu_assistant.data.pipeline import image_batches
    from gpu_assistant.training.efficientnet_lite import (
        MODEL_NAME,
        feature_extractor,
        fold_batch_norm,
    )
    from gpu_assistant.training.features import FeatureSource, features_for, weights_identity

    backbone = fold_batch_norm(feature_extractor(AUDIT_IMAGE_SIZE))  # inference only: faster

    @tf.function(reduce_retracing=True)
    def extract(images: Any) -> Any:
        return backbone(tf.cast(images, tf.float32), training=False)

    source = FeatureSource(
        MODEL_NAME, AUDIT_IMAGE_SIZE, weights_identity(None, pretrained=True), "float32"
    )
    features, _stats = features_for(
        scan.records,
        scan.root,
        source,
        extract,
        lambda records: image_batches(records, AUDIT_IMAGE_SIZE, AUDIT_BATCH),
        report=report,
        cancel=cancel,
    )
    return features


@dataclass
class AuditResult:
    scan: ScanResult
    duplicates: DuplicateReport
    mislabels: list[LikelyMislabel]
    mislabels_note: str = ""  # why no mislabels were looked for, when none were

    def to_json(self) -> dict[str, Any]:
        scan = self.scan
        return {
            "root": str(scan.root),
            "classes": scan.class_names,
            "images": scan.total,
            "duplicates": self.duplicates.to_json(scan.records, scan.root),
            "duplicates_summary": self.duplicates.summary(scan.records, scan.class_names),
            "mislabels": mislabels_json(self.mislabels, scan.root, scan.class_names),
            "mislabels_note": self.mislabels_note,
        }


def find_mislabels(scan: ScanResult, features: np.ndarray) -> tuple[list[LikelyMislabel], str]:
    """Likely mislabels of the folder, or (nothing, the reason) when a class is too small."""
    if len(scan.class_names) < 2:
        return [], "One class: no other folder an image could belong to."
    labels = np.array([r.label for r in scan.records])
    try:
        probabilities = out_of_sample_probabilities(features, labels)
    except UserError as error:
        return [], error.message
    return likely_mislabels(scan.records, probabilities, limit=MISLABELS_SHOWN), ""


def audit_folder(
    data_dir: str | Path,
    *,
    near: bool = True,
    report: Report = ignore,
    cancel: CancelToken | None = None,
) -> AuditResult:
    """Scan `data_dir`, group its duplicates and (with `near`: features) near copies, and
    find likely mislabels; the near copies are remembered for training's split."""
    cancel = cancel or CancelToken()
    scan = scan_folder(data_dir, report=report, cancel=cancel)
    if not near:
        duplicates = find_duplicates(scan.records, report=report, cancel=cancel)
        return AuditResult(scan, duplicates, [], "Only identical files were checked (--exact).")
    features = audit_features(scan, report=report, cancel=cancel)
    duplicates = find_duplicates(scan.records, features, report=report, cancel=cancel)
    remember_pairs(scan.records, scan.root, duplicates.pairs)
    mislabels, note = find_mislabels(scan, features)
    return AuditResult(scan, duplicates, mislabels, note)
