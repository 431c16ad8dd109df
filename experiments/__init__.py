"""The lab: experiments that made or measured the shipped models (zoo queues, the paper's reproduction,
the Table I ablation, probes), with their records. Not part of the installed package."""
