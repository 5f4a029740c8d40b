"""The embedded AWS emulator: apply each tenant's synthesized Terraform JSON to moto on 127.0.0.1.

- :mod:`.server` starts and stops moto (``ThreadedMotoServer``) on loopback, default port
  4599, and makes boto3 clients pointed at it (:class:`~.server.AwsSession`).
- :mod:`.graph` checks a ``cdk.tf.json`` (read with :mod:`core.terraform`) for what the
  emulator supports, orders resources and reports every problem of a document at once;
  :func:`core.terraform.expressions.resolve` substitutes references.
- :mod:`.state` is the per-tenant state file, rewritten atomically after every resource.
- :mod:`.plan` classifies create / update / replace / delete / no-op with the one diff and
  replacement table of :mod:`core.terraform` and renders the plan.
- :mod:`.apply` applies a document (resumable; ``TENANTML_EMULATOR_FAIL_AT`` injects failures)
  and destroys what a state lists.
- :mod:`.resources` is the table of resource handlers, one small module per AWS family.
- :mod:`.commands` holds the plain functions the CLI calls (plan / apply / destroy tenants).

This is an emulator target, not Terraform: no HCL, no variables or locals, and only the
expression functions the stacks use.
"""
