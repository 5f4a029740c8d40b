"""Pull-request previews: synthesize a base ref and the working tree, diff them, check policy, estimate cost.

* :mod:`tenantml.preview.synth`: the two synths (base in a temporary git worktree, with its own code);
* :mod:`tenantml.preview.diff`: create / update / replace / delete, with the diff and the replacement
  table of :mod:`core.terraform` (the ones the emulator's plan uses);
* :mod:`tenantml.preview.cost` and ``prices.json``: the monthly estimate;
* :mod:`tenantml.preview.report` and :mod:`tenantml.preview.render`: Markdown, JSON and terminal output;
* :mod:`tenantml.cli.preview`: ``tenantml check`` and ``tenantml preview`` (``register(app)``).

The policy rules themselves live in :mod:`infra.policy`.
"""
