"""Render preview and check reports as Markdown (the PR comment), JSON, or text for a terminal.

The Markdown starts with the hidden marker :data:`COMMENT_MARKER`, which the preview workflow
uses to find and update its one comment. A report longer than GitHub's comment limit is
rendered again without attribute-level details, then cut with a note.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from core.terraform.diff import ABSENT, Action, AttributeChange, ResourceChange
from infra.policy import RULES, Finding, StackPolicyResult, SuppressionEntry
from tenantml.preview.cost import StackCost
from tenantml.preview.diff import TenantStatus
from tenantml.preview.report import CheckReport, PreviewReport, TenantPreview

COMMENT_MARKER = "<!-- tenantml-preview -->"
#: GitHub rejects comments over 65,536 characters; leave room for the workflow's own text
MAX_COMMENT_CHARS = 60_000
VALUE_LIMIT = 100
ADDRESS_LIMIT = 5

ACTION_ORDER = {Action.DELETE: 0, Action.REPLACE: 1, Action.UPDATE: 2, Action.CREATE: 3, Action.NOOP: 4}
ACTION_LABEL = {
    Action.DELETE: "destroy",
    Action.REPLACE: "replace",
    Action.UPDATE: "update",
    Action.CREATE: "create",
    Action.NOOP: "no-op",
}
ACTION_SYMBOL = {
    Action.DELETE: "-",
    Action.REPLACE: "-/+",
    Action.UPDATE: "~",
    Action.CREATE: "+",
    Action.NOOP: " ",
}
ACTION_STYLE = {
    Action.DELETE: "red",
    Action.REPLACE: "magenta",
    Action.UPDATE: "yellow",
    Action.CREATE: "green",
    Action.NOOP: "dim",
}


# --- shared formatting ----------------------------------------------------------------------


def money(value: float) -> str:
    return f"${value:,.2f}"


def signed_money(value: float) -> str:
    rounded = round(value, 2)
    if rounded == 0:
        return "$0.00"
    return f"{'+' if rounded > 0 else '-'}${abs(rounded):,.2f}"


def show(value: Any, limit: int = VALUE_LIMIT) -> str:
    if value is ABSENT:
        return "(none)"
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _stack_money(cost: StackCost | None, monthly: float) -> str:
    if cost is None:
        return "—"
    return money(monthly) if cost.priced else f"no price for {cost.region}"


def cost_summary(t: TenantPreview) -> str:
    before = _stack_money(t.cost_before, t.monthly_before)
    after = _stack_money(t.cost_after, t.monthly_after)
    if any(c is not None and not c.priced for c in (t.cost_before, t.cost_after)):
        return f"{before} → {after}"
    return f"{before} → {after} ({signed_money(t.monthly_after - t.monthly_before)})"


def policy_summary(result: StackPolicyResult | None) -> str:
    if result is None:
        return "—"
    parts = []
    if result.errors:
        parts.append(f"{len(result.errors)} error{'s' if len(result.errors) != 1 else ''}")
    if result.warnings:
        parts.append(f"{len(result.warnings)} warning{'s' if len(result.warnings) != 1 else ''}")
    text = ", ".join(parts) if parts else "pass"
    if not result.errors and parts:
        text = f"pass, {text}"
    if result.suppressed:
        text += f" ({len(result.suppressed)} suppressed)"
    return text


def sorted_changes(changes: Iterable[ResourceChange]) -> list[ResourceChange]:
    return sorted(changes, key=lambda c: (ACTION_ORDER[c.action], c.address))


def type_counts(changes: Iterable[ResourceChange]) -> list[tuple[str, int]]:
    return sorted(Counter(c.type for c in changes).items())


def grouped_findings(findings: Sequence[Finding]) -> list[tuple[Finding, list[str]]]:
    """Findings with the same rule and message, with all their addresses (in order)."""
    groups: dict[tuple[str, str], tuple[Finding, list[str]]] = {}
    for finding in findings:
        key = (finding.rule_id, finding.message)
        if key not in groups:
            groups[key] = (finding, [])
        groups[key][1].append(finding.address)
    return list(groups.values())


def grouped_suppressions(findings: Sequence[Finding]) -> list[tuple[SuppressionEntry, list[str]]]:
    """Suppressed findings by the suppression that accepted them, with their addresses."""
    groups: dict[SuppressionEntry, list[str]] = {}
    for finding in findings:
        assert finding.suppressed_by is not None
        groups.setdefault(finding.suppressed_by, []).append(finding.address)
    return list(groups.items())


def _addresses(addresses: Sequence[str], fmt: Callable[[str], str] = str) -> str:
    shown = ", ".join(fmt(a) for a in addresses[:ADDRESS_LIMIT])
    if len(addresses) > ADDRESS_LIMIT:
        shown += f" and {len(addresses) - ADDRESS_LIMIT} more"
    return shown


def change_notes(change: ResourceChange) -> list[str]:
    notes = []
    if change.replaced_because:
        notes.append("because " + ", ".join(f"`{a}`" for a in change.replaced_because) + " changes")
    if change.data_loss and change.action in (Action.DELETE, Action.REPLACE):
        notes.append("**holds data**")
    if change.renamed_from:
        notes.append(
            f"same arguments as destroyed `{change.renamed_from}`: a renamed construct id?"
            " a `moved` block would keep the resource"
        )
    if change.action is Action.UPDATE and not change.known_type:
        notes.append("type not in the replacement table: shown as an update, check the provider docs")
    return notes


# --- Markdown -------------------------------------------------------------------------------


def code(text: str) -> str:
    if "`" in text:
        return f"`` {text} ``"
    return f"`{text}`"


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def md_attribute(change: AttributeChange) -> str:
    line = f"  - {code(change.display_path)}: "
    if change.known_after_apply:
        line += "known after apply (refers to " + ", ".join(code(a) for a in change.known_after_apply) + ")"
    else:
        before = "(none)" if change.before is ABSENT else code(show(change.before))
        after = "(none)" if change.after is ABSENT else code(show(change.after))
        line += f"{before} → {after}"
    if change.forces_replacement:
        line += " — **forces replacement**"
    return line


def md_resource(change: ResourceChange, details: bool) -> list[str]:
    notes = change_notes(change)
    line = f"- **{ACTION_LABEL[change.action]}** {code(change.address)}"
    if notes:
        line += " — " + "; ".join(notes)
    lines = [line]
    if details and change.action in (Action.UPDATE, Action.REPLACE):
        lines += [md_attribute(a) for a in change.changes]
    return lines


def md_policy(result: StackPolicyResult) -> list[str]:
    lines = [f"**Policy:** {policy_summary(result)} ({result.evaluated} checks of {len(RULES)} rules)."]
    if result.active:
        lines += ["", "| Rule | Severity | Resources | Finding |", "| --- | --- | --- | --- |"]
        for finding, addresses in grouped_findings(result.active):
            shown = _addresses(addresses, code)
            lines.append(
                f"| {code(finding.rule_id)} {cell(finding.title)} | {finding.severity.value} | {cell(shown)} | "
                f"{cell(finding.message)} |"
            )
    if result.suppressed:
        lines += [
            "",
            "Suppressed findings (accepted on purpose):",
            "",
            "| Rule | Resource | Reason | Suppressed in |",
            "| --- | --- | --- | --- |",
        ]
        for entry, addresses in grouped_suppressions(result.suppressed):
            lines.append(
                f"| {code(entry.rule_id)} | {cell(_addresses(addresses, code))} | {cell(entry.reason)} | "
                f"{entry.source} |"
            )
    if result.unused_suppressions:
        lines += [
            "",
            "Unused suppressions (they match no finding; remove them?): "
            + ", ".join(
                f"{code(s.rule_id)} on {code(s.address)} ({s.source})" for s in result.unused_suppressions
            ),
        ]
    return lines


def md_tenant(t: TenantPreview, details: bool) -> list[str]:
    lines = [f"### {code(t.tenant)} ({t.status.value})", ""]
    diff = t.diff
    if t.status in (TenantStatus.NEW, TenantStatus.REMOVED):
        verb = "create" if t.status is TenantStatus.NEW else "destroy"
        lines.append(f"{len(diff.changes)} resources to {verb}:")
        lines += ["", "| Resource type | Count |", "| --- | ---: |"]
        lines += [f"| {code(rtype)} | {count} |" for rtype, count in type_counts(diff.changes)]
        lines.append("")
    elif diff.changes or diff.settings:
        counts = [
            f"{diff.count(a)} to {ACTION_LABEL[a]}"
            for a in ACTION_ORDER
            if a is not Action.NOOP and diff.count(a)
        ]
        lines += [
            ", ".join(counts) + f"; {diff.unchanged} unchanged."
            if counts
            else f"{diff.unchanged} unchanged.",
            "",
        ]
        for change in sorted_changes(diff.changes):
            lines += md_resource(change, details)
        if diff.settings:
            lines.append("- **stack settings** (provider and backend)")
            lines += [md_attribute(s) for s in diff.settings]
        lines.append("")
    lines.append(f"**Estimated monthly cost:** {cost_summary(t)}")
    if t.cost_changes and t.status is TenantStatus.CHANGED:
        lines += ["", "| Resource | Before | After | Change | Basis |", "| --- | ---: | ---: | ---: | --- |"]
        for c in t.cost_changes:
            lines.append(
                f"| {code(c.address)} | {money(c.before)} | {money(c.after)} | {signed_money(c.delta)} | "
                f"{cell(c.basis)} |"
            )
    lines.append("")
    if t.policy is not None:
        lines += md_policy(t.policy)
        lines.append("")
    return lines


#: at most this many unchanged tenants are named in the collapsed list; more are only counted
UNCHANGED_NAMED = 50


def _risk_first(t: TenantPreview) -> tuple[int, str]:
    """Tenants that lose resources (destroyed, replaced, removed) first, then changed, then the rest."""
    d = t.diff
    if t.status is TenantStatus.REMOVED or d.count(Action.DELETE) or d.count(Action.REPLACE):
        rank = 0
    elif t.status is not TenantStatus.UNCHANGED:
        rank = 1
    else:
        rank = 2
    return rank, t.tenant


def _markdown(report: PreviewReport, details: bool, details_url: str | None = None) -> str:
    total = len(report.tenants) + report.not_synthesized
    counts = {s: report.count(s) for s in TenantStatus}
    counts[TenantStatus.UNCHANGED] += report.not_synthesized
    statuses = [f"{n} {s.value}" for s, n in counts.items() if n]
    actions = [
        f"{sum(t.diff.count(a) for t in report.tenants)} to {ACTION_LABEL[a]}"
        for a in ACTION_ORDER
        if a is not Action.NOOP
    ]
    lines = [
        COMMENT_MARKER,
        "## tenantml preview",
        "",
        f"Base {code(report.base)} → working tree: {total} tenant(s), {', '.join(statuses) or 'none'}.",
        "",
        f"**Resources:** {', '.join(actions)}.",
        "",
    ]
    if report.not_synthesized:
        lines += [
            (
                f"{report.not_synthesized} tenant(s) were not synthesized: nothing their stacks are built "
                "from changed (their spec, the platform settings, the code and the locked libraries)."
            ),
            "",
        ]
    if details_url:
        lines += [f"Full report: {details_url}", ""]
    shown = sorted((t for t in report.tenants if t.has_details), key=_risk_first)
    quiet = sorted(t.tenant for t in report.tenants if not t.has_details)
    if shown:
        lines += [
            "| Tenant | Status | Create | Update | Replace | Destroy | Policy | Monthly cost (estimate) |",
            "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: |",
        ]
        for t in shown:
            d = t.diff
            lines.append(
                f"| {code(t.tenant)} | {t.status.value} | {d.count(Action.CREATE)} | {d.count(Action.UPDATE)} | "
                f"{d.count(Action.REPLACE)} | {d.count(Action.DELETE)} | {policy_summary(t.policy)} | "
                f"{cost_summary(t)} |"
            )
    if quiet:
        named = ", ".join(code(name) for name in quiet[:UNCHANGED_NAMED])
        more = f" and {len(quiet) - UNCHANGED_NAMED} more" if len(quiet) > UNCHANGED_NAMED else ""
        lines += [
            f"<details><summary>{len(quiet)} synthesized tenant(s) unchanged, policy clean</summary>",
            "",
            named + more,
            "",
            "</details>",
        ]
    lines.append("")
    warnings, state = report.data_warnings, report.state_warnings
    if warnings or state:
        lines += ["> [!CAUTION]"]
        if warnings:
            lines.append(
                f"> **{len(warnings)} data-bearing resource(s) would be destroyed or replaced.** "
                "What they hold is lost unless it is copied first:"
            )
            lines.append(">")
            lines += [
                f"> - {code(w.tenant)}: **{ACTION_LABEL[w.action]}** {code(w.address)}: {w.loses}"
                for w in warnings
            ]
        if state:
            if warnings:
                lines.append(">")
            lines.append(
                "> **Terraform state would move.** Run `terraform init -migrate-state` before applying, "
                "or apply starts from an empty state and tries to create every resource again:"
            )
            lines.append(">")
            lines += [f"> - {code(tenant)}: {code(path)}" for tenant, path in state]
        lines.append("")
    if report.policy_failed:
        lines += [
            "> [!WARNING]",
            "> **Policy checks fail.** See the tenants below; fix the resources or add a suppression with a reason.",
            "",
        ]
    for t in shown:
        lines += md_tenant(t, details)
    notes = sorted(
        {
            f"{t.tenant}: {n}"
            for t in report.tenants
            for c in (t.cost_after, t.cost_before)
            if c
            for n in c.notes
        }
    )
    lines += ["<details><summary>How the cost estimate is made</summary>", ""]
    lines += [f"- {a}" for a in [*report.assumptions, *notes]]
    lines += ["", "</details>", "", "_Generated by `tenantml preview`. Costs are estimates, not a bill._", ""]
    return "\n".join(lines)


def render_markdown(
    report: PreviewReport, max_chars: int = MAX_COMMENT_CHARS, details_url: str | None = None
) -> str:
    """The PR comment, at most ``max_chars`` long: without attribute-level details when the full
    report does not fit, then cut; ``details_url`` (where the full report is, e.g. the workflow
    run's artifact) is linked at the top and wherever something was left out."""
    text = _markdown(report, details=True)
    if len(text) <= max_chars:
        return text
    where = (
        f"the full report is at {details_url}"
        if details_url
        else "run `tenantml preview` locally for all of it"
    )
    text = _markdown(report, details=False, details_url=details_url)
    note = (
        f"\n\n_Attribute-level details are left out: the full report is too long for one comment; {where}._\n"
    )
    if len(text) + len(note) <= max_chars:
        return text + note
    cut = text[: max_chars - 300].rsplit("\n", 1)[0]
    return cut + f"\n\n_The report is cut here: it is too long for one comment; {where}._\n"


def render_full_markdown(report: PreviewReport) -> str:
    """The whole report, however long (the preview workflow attaches it as an artifact)."""
    return _markdown(report, details=True)


def render_check_markdown(report: CheckReport) -> str:
    lines = ["## tenantml check", "", "| Tenant | Policy | Checks |", "| --- | --- | ---: |"]
    lines += [f"| {code(r.tenant)} | {policy_summary(r)} | {r.evaluated} |" for r in report.tenants]
    lines.append("")
    for result in report.tenants:
        if result.findings or result.suppressions:
            lines += [f"### {code(result.tenant)}", ""] + md_policy(result) + [""]
    return "\n".join(lines)


# --- JSON -----------------------------------------------------------------------------------


def _attribute_json(change: AttributeChange) -> dict[str, Any]:
    data: dict[str, Any] = {"path": change.path, "forces_replacement": change.forces_replacement}
    if change.json_path:
        data["json_path"] = change.json_path
    if change.before is not ABSENT:
        data["before"] = change.before
    if change.after is not ABSENT:
        data["after"] = change.after
    if change.known_after_apply:
        data["known_after_apply"] = list(change.known_after_apply)
    return data


def _finding_json(finding: Finding) -> dict[str, Any]:
    data: dict[str, Any] = {
        "rule_id": finding.rule_id,
        "severity": finding.severity.value,
        "title": finding.title,
        "address": finding.address,
        "message": finding.message,
    }
    if finding.suppressed_by is not None:
        s = finding.suppressed_by
        data["suppressed_by"] = {"reason": s.reason, "source": s.source, "address": s.address}
    return data


def policy_json(result: StackPolicyResult) -> dict[str, Any]:
    return {
        "tenant": result.tenant,
        "passed": result.passed,
        "checks": result.evaluated,
        "errors": len(result.errors),
        "warnings": len(result.warnings),
        "findings": [_finding_json(f) for f in result.findings],
        "unused_suppressions": [
            {"rule_id": s.rule_id, "address": s.address, "reason": s.reason, "source": s.source}
            for s in result.unused_suppressions
        ],
    }


def preview_json(report: PreviewReport) -> dict[str, Any]:
    tenants = []
    for t in report.tenants:
        d = t.diff
        tenants.append(
            {
                "tenant": t.tenant,
                "status": t.status.value,
                "counts": {ACTION_LABEL[a]: d.count(a) for a in ACTION_ORDER if a is not Action.NOOP}
                | {"no-op": d.unchanged},
                "changes": [
                    {
                        "address": c.address,
                        "type": c.type,
                        "action": ACTION_LABEL[c.action],
                        "data_bearing": bool(c.data_loss),
                        "replaced_because": c.replaced_because,
                        "renamed_from": c.renamed_from or None,
                        "attributes": [_attribute_json(a) for a in c.changes],
                    }
                    for c in sorted_changes(d.changes)
                ],
                "settings": [_attribute_json(s) for s in d.settings],
                "policy": policy_json(t.policy) if t.policy is not None else None,
                "cost": {
                    # None when the stack does not exist on that side or its region has no prices
                    "monthly_before": round(t.monthly_before, 2)
                    if t.cost_before and t.cost_before.priced
                    else None,
                    "monthly_after": round(t.monthly_after, 2)
                    if t.cost_after and t.cost_after.priced
                    else None,
                    "region": (t.cost_after or t.cost_before).region
                    if (t.cost_after or t.cost_before)
                    else None,
                    "monthly_delta": round(t.monthly_after - t.monthly_before, 2),
                    "changes": [
                        {
                            "address": c.address,
                            "before": round(c.before, 2),
                            "after": round(c.after, 2),
                            "delta": round(c.delta, 2),
                            "basis": c.basis,
                        }
                        for c in t.cost_changes
                    ],
                    "notes": sorted({n for c in (t.cost_before, t.cost_after) if c for n in c.notes}),
                },
            }
        )
    return {
        "base": report.base,
        "not_synthesized": report.not_synthesized,
        "policy_failed": report.policy_failed,
        "data_warnings": [
            {"tenant": w.tenant, "address": w.address, "action": ACTION_LABEL[w.action], "loses": w.loses}
            for w in report.data_warnings
        ],
        "state_warnings": [{"tenant": t, "path": p} for t, p in report.state_warnings],
        "tenants": tenants,
        "cost_assumptions": report.assumptions,
        "price_table": report.price_table,
    }


def render_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def check_json(report: CheckReport) -> dict[str, Any]:
    return {"passed": not report.failed, "tenants": [policy_json(r) for r in report.tenants]}


# --- text (rich) ----------------------------------------------------------------------------


def _text_attribute(change: AttributeChange) -> Text:
    text = Text("      ")
    text.append(change.display_path, style="bold")
    text.append(": ")
    if change.known_after_apply:
        text.append(f"known after apply (refers to {', '.join(change.known_after_apply)})", style="italic")
    else:
        text.append(show(change.before), style="red")
        text.append(" -> ")
        text.append(show(change.after), style="green")
    if change.forces_replacement:
        text.append("  # forces replacement", style="magenta")
    return text


def _text_policy(result: StackPolicyResult) -> list[Any]:
    out: list[Any] = [
        Text(
            f"  policy: {policy_summary(result)} ({result.evaluated} checks of {len(RULES)} rules)",
            style="green" if result.passed else "bold red",
        )
    ]
    if result.active:
        table = Table(show_edge=False, pad_edge=False, box=None, padding=(0, 2))
        for column in ("rule", "severity", "resources", "finding"):
            table.add_column(column, overflow="fold")
        for finding, addresses in grouped_findings(result.active):
            shown = _addresses(addresses)
            style = "red" if finding.severity.value == "error" else "yellow"
            table.add_row(Text(finding.rule_id, style=style), finding.severity.value, shown, finding.message)
        out.append(table)
    for entry, addresses in grouped_suppressions(result.suppressed):
        out.append(
            Text(
                f"    suppressed {entry.rule_id} on {_addresses(addresses)} ({entry.source}): {entry.reason}",
                style="dim",
            )
        )
    for entry in result.unused_suppressions:
        out.append(
            Text(
                f"    unused suppression {entry.rule_id} on {entry.address} ({entry.source})", style="yellow"
            )
        )
    return out


def print_preview(report: PreviewReport, console: Console) -> None:
    console.print(Text(f"tenantml preview: base {report.base} -> working tree", style="bold"))
    table = Table(title=None)
    for column, justify in (
        ("tenant", "left"),
        ("status", "left"),
        ("create", "right"),
        ("update", "right"),
        ("replace", "right"),
        ("destroy", "right"),
        ("policy", "left"),
        ("cost/month", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for t in report.tenants:
        d = t.diff
        table.add_row(
            t.tenant,
            t.status.value,
            str(d.count(Action.CREATE)),
            str(d.count(Action.UPDATE)),
            str(d.count(Action.REPLACE)),
            str(d.count(Action.DELETE)),
            Text(policy_summary(t.policy), style="red" if t.policy and not t.policy.passed else ""),
            signed_money(t.monthly_after - t.monthly_before),
        )
    console.print(table)
    warnings = report.data_warnings
    if warnings or report.state_warnings:
        lines = [Text(f"{w.tenant}: {ACTION_LABEL[w.action]} {w.address}: {w.loses}") for w in warnings]
        lines += [
            Text(f"{tenant}: Terraform state moves ({path}); run terraform init -migrate-state first")
            for tenant, path in report.state_warnings
        ]
        console.print(
            Panel(
                Group(*lines),
                title="DATA LOSS: destroyed or replaced data-bearing resources",
                border_style="bold red",
            )
        )
    for t in report.tenants:
        if not t.has_details:
            continue
        console.print(Text(f"\n{t.tenant} ({t.status.value})", style="bold underline"))
        if t.status in (TenantStatus.NEW, TenantStatus.REMOVED):
            verb = "create" if t.status is TenantStatus.NEW else "destroy"
            kinds = ", ".join(f"{rtype} x{count}" for rtype, count in type_counts(t.diff.changes))
            console.print(Text(f"  {len(t.diff.changes)} resources to {verb}: {kinds}"), soft_wrap=True)
        else:
            for change in sorted_changes(t.diff.changes):
                line = Text(f"  {ACTION_SYMBOL[change.action]:>3} ", style=ACTION_STYLE[change.action])
                line.append(change.address, style="bold")
                notes = [n.replace("**", "").replace("`", "") for n in change_notes(change)]
                if notes:
                    line.append("  (" + "; ".join(notes) + ")", style="dim")
                console.print(line, soft_wrap=True)
                if change.action in (Action.UPDATE, Action.REPLACE):
                    for attribute in change.changes:
                        console.print(_text_attribute(attribute), soft_wrap=True)
            if t.diff.settings:
                console.print(Text("    ~ stack settings (provider and backend)", style="yellow"))
                for attribute in t.diff.settings:
                    console.print(_text_attribute(attribute), soft_wrap=True)
        console.print(Text(f"  estimated monthly cost: {cost_summary(t)}"))
        if t.status is TenantStatus.CHANGED:
            for c in t.cost_changes:
                console.print(
                    Text(
                        f"    {c.address}: {money(c.before)} -> {money(c.after)} ({signed_money(c.delta)}); "
                        f"{c.basis}",
                        style="dim",
                    ),
                    soft_wrap=True,
                )
        if t.policy is not None:
            for item in _text_policy(t.policy):
                console.print(item)
    console.print(Text("\ncost estimate: " + "; ".join(report.assumptions), style="dim"), soft_wrap=True)


def print_check(report: CheckReport, console: Console) -> None:
    for result in report.tenants:
        console.print(Text(result.tenant, style="bold"))
        for item in _text_policy(result):
            console.print(item)
