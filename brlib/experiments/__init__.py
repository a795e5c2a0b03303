"""Experiments, what the notebooks call: the `tiny` and `paper` profiles and their cached builds (profiles), ablation
arms trained, scored and tabulated beside the paper (ablation), atomic stamped tables and figures (report) and
provenance (runinfo).
"""
