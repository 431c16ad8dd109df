"""The networks: the paper's multi-scale denoiser (``denoiser``), the learned peers (``peers``), the frozen
high-level heads (``heads``) and where the shipped models live and which serves a noise level (``shipped``)."""
