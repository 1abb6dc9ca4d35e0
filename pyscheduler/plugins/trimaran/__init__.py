"""scheduler-plugins' Trimaran load-aware scoring (pkg/trimaran): TargetLoadPacking,
LoadVariationRiskBalancing, LowRiskOverCommitment, and what they share (args, the pod's
effective requests and limits, the per-row load estimate). Formulas: docs/LOAD_AWARE.md."""
