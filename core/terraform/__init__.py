"""One model of synthesized Terraform JSON, shared by every reader.

- :mod:`.document`: a ``cdk.tf.json`` as resources, data sources, outputs, providers and
  locals keyed by address, each block's arguments apart from its meta-arguments.
- :mod:`.expressions`: ``${...}`` templates, the references inside them, their resolution.
- :mod:`.diff`: the one diff of configurations and its actions (create, update, replace, ...).
- :mod:`.replacement`: the one table of arguments whose change replaces a resource.

The emulator (plan, apply, state), the preview, the policy engine and the schema check read
documents through this package; it imports nothing of tenantml but the error hierarchy.
"""
