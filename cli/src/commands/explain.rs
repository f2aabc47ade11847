//! `cairn explain`: why an op is or is not effective, with the rule, its witnesses and the
//! concurrent ops that defeated it.

use crate::context::Context;
use crate::Failure;
use cairn::{DenialReason, OpHash};
use serde_json::{json, Value as Json};
use std::path::Path;

pub fn explain(cx: &Context, dir: &Path, op: &str) -> Result<(), Failure> {
    let replica = cx.replica(dir)?;
    let hash: OpHash = op.parse()?;
    let explanation = replica.explain(&hash)?.ok_or_else(|| format!("this replica does not hold op {hash}"))?;
    let allowed: Vec<Json> = explanation
        .allowed_by
        .iter()
        .map(|allowance| {
            json!({
                "change": allowance.change,
                "collection": allowance.collection,
                "rule": allowance.rule,
                "text": allowance.text,
                "witnesses": allowance.witnesses.iter().map(|witness| json!({
                    "collection": witness.collection.as_str(),
                    "row": witness.row.to_string(),
                    "version": witness.version.to_string(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let failed_rules: Vec<Json> = match explanation.denial.as_ref().map(|denial| &denial.reason) {
        Some(DenialReason::RulesFailed(rules)) => rules
            .iter()
            .map(|failed| json!({ "rule": failed.rule, "text": failed.text, "clause": failed.clause }))
            .collect(),
        _ => Vec::new(),
    };
    let rule = match &explanation.denial {
        Some(_) => failed_rules.first().and_then(|failed| failed["text"].as_str()).map(str::to_owned),
        None => allowed.first().and_then(|allowed| allowed["text"].as_str()).map(str::to_owned),
    };
    let value = json!({
        "op": hash.to_string(),
        "author": explanation.author.to_string(),
        "effective": explanation.effective,
        "equivocated": explanation.equivocated,
        "rule": rule,
        "allowed_by": allowed,
        "denial": explanation.denial.as_ref().map(|denial| json!({
            "change": denial.change,
            "collection": denial.collection,
            "action": denial.action,
            "reason": denial.reason.to_string(),
            "failed_rules": failed_rules,
        })),
        "defeated_by": explanation.defeated_by.iter().map(|(op, _)| op.to_string()).collect::<Vec<_>>(),
        "defeated_by_authors": explanation.defeated_by.iter().map(|(_, author)| author.to_string()).collect::<Vec<_>>(),
    });
    cx.print(value, explanation.to_string())?;
    Ok(())
}
