"""Training code for learned perception components (not imported by agents or envs).

* ``embodied.training.csr``: CSR's MoCo-v2 trainer, pair sampler, trajectory dataset format and
  retrieval evaluation.
* ``embodied.training.csr_data``: trajectory generators for it (rendered ObjectNav houses, synthetic
  frames for tests).

Modules here may import envs (data generation needs a simulator); ``embodied.perception`` and
``embodied.agents`` must not.
"""
