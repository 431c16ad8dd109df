"""What users run: the ``semdenoise`` command (``cli``), its web page (``webapp``, ``uploads``) and batch
denoising on Apache Beam (``beam``), thin over the rest of the package."""
