"""Evaluation: inference by SPEC §4's protocol, confusion matrices, metrics, CRF,
the report.

Import from the modules themselves (`tfdeeplab.evaluation.confusion`,
`.inference`, `.evaluator`, `.report`, ...): this face imports nothing, because
`tfdeeplab.evaluation.crf_pool` runs in the CRF's worker processes, which must
not load TensorFlow.
"""
